"""Credentials are never shown: `mask` hides them in any text that holds URIs (one function, used by every message
and output that names an endpoint, a store or a tracking server), `credentials_in` says what a URI carries."""

from __future__ import annotations

import re

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_SECRET_WORDS = r"password|passwd|pwd|token|secret|key|sig|signature|credential|auth"
_SECRET_QUERY = re.compile(rf"(?i)([?&;][^=&;\s#]*(?:{_SECRET_WORDS})[^=&;\s#]*=)[^&;\s#'\"]*")


def mask(text: str) -> str:
    """Hide credentials in a URI (or any text holding URIs): `https://bob:pw@h` -> `https://***@h`, and the value
    of every query parameter that names a secret (`?token=`, `X-Amz-Signature=`, `X-Amz-Credential=`).

    Each URI is split by urllib's parser, the one MLflow, botocore and requests use to find the credentials, so the
    user info is everything up to the last '@' of the network location (a password may contain '@')."""
    return _SECRET_QUERY.sub(r"\1***", _URI.sub(lambda m: _mask_userinfo(m.group(0)), str(text)))


def credentials_in(uri: str) -> str | None:
    """What secret a URI carries ('a user name or password', 'a secret in its query string'), None when none."""
    text = str(uri)
    if _SECRET_QUERY.search(text):
        return "a secret in its query string"
    if "://" in text and "@" in _netloc(text):
        return "a user name or password"
    return None


def _netloc(uri: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(uri).netloc
    except ValueError:  # e.g. an unbalanced '[' in the host
        return uri.split("://", 1)[1].split("/", 1)[0]


def _mask_userinfo(uri: str) -> str:
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(uri).netloc
    except ValueError:  # e.g. an unbalanced '[' in the host: hide the whole location if it has user info
        netloc = uri.split("://", 1)[1].split("/", 1)[0]
        return uri.replace(netloc, "***", 1) if "@" in netloc else uri
    if "@" not in netloc:
        return uri
    start = uri.index("://") + 3
    return uri[:start] + "***@" + netloc.rpartition("@")[2] + uri[start + len(netloc) :]
