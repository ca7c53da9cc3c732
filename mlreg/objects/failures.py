"""Store failures as one-line errors: what botocore or the OS raised, named by object, with what to check.

Credentials are masked: the endpoint's user info, keys and tokens from the environment, and any in a URI.
"""

from __future__ import annotations

import os
import re
from typing import Protocol

from ..errors import MlregError
from ..masking import mask


class ObjectStore(Protocol):
    """What an error message needs of a store: where it is, and an object's path inside it."""

    def where(self) -> str: ...

    def path(self, uri: str) -> str: ...


class StoreErrors:
    """Turns what botocore/the OS raise into one-line MlregErrors naming the object and what to check."""

    def __init__(self, store: ObjectStore, uri: str, action: str):
        self.store, self.uri, self.action = store, uri, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, e, tb) -> None:  # never swallows: re-raises translated, or lets it through
        if e is None or isinstance(e, (MlregError, KeyboardInterrupt)) or not isinstance(e, Exception):
            return
        raise translate(e, self.store, self.uri, self.action) from None


def translate(e: Exception, store: ObjectStore, uri: str, action: str) -> MlregError:
    """A user-facing message for a storage failure, credentials masked (the endpoint's, and any in a URI)."""
    text = mask(str(_explain(e, store, uri, action)))
    for var in (
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        for secret in _secrets(var):
            text = text.replace(secret, "***")
    return MlregError(text)


def _secrets(var: str) -> list[str]:
    """The secret parts of an environment variable: a key or token as it is, or the user info of an endpoint."""
    from urllib.parse import unquote

    value = os.environ.get(var) or ""
    if "://" not in value:
        return [value] if len(value) >= 3 else []
    userinfo = value.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
    parts = {userinfo, *userinfo.split(":", 1), unquote(userinfo)}
    return sorted((p for p in parts if len(p) >= 3), key=len, reverse=True)


def _explain(e: Exception, store: ObjectStore, uri: str, action: str) -> MlregError:
    text = " ".join(str(e).split()) or type(e).__name__
    name = type(e).__name__
    where = store.where()
    if name == "NoCredentialsError" or "Unable to locate credentials" in text:
        return MlregError(
            f"cannot {action} {uri}: no S3 credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment"
        )
    if re.search(
        r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|ExpiredToken|\(403\)", text
    ) or isinstance(e, PermissionError):
        return MlregError(
            f"cannot {action} {uri}: access denied by {where} ({_short(text)}); check "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE and the bucket policy"
        )
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        bucket = store.path(uri).split("/")[0]
        return MlregError(
            f"bucket {bucket!r} does not exist at {where}; create it, or fix artifacts.store in mlreg.yaml (or --store)"
        )
    if re.search(
        r"Could not connect|Connect timeout|ConnectTimeout|EndpointConnectionError|Connection refused|"
        r"timed out|Name or service not known|ConnectionError|ReadTimeout",
        text + name,
    ):
        return MlregError(
            f"cannot reach the object store at {where} to {action} {uri}; check AWS_ENDPOINT_URL "
            "(or MLFLOW_S3_ENDPOINT_URL) and the network, then rerun"
        )
    if isinstance(e, FileNotFoundError) or re.search(r"NoSuchKey|\(404\)|Not Found", text):
        return MlregError(f"{uri}: not found in the store")
    return MlregError(f"cannot {action} {uri}: {_short(text)}")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
