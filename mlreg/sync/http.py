"""How mlreg talks to a tracking server without MLflow's client: the server's base URL without its credentials,
and the Authorization header and TLS context MLflow's client would use, from the same places (the light read
path, light_rest.py, and the database check before a sync, mlflow_io/diagnose.py)."""

from __future__ import annotations

import base64
import os
import ssl
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

_TRUE = ("true", "1")


def base_url(uri: str) -> tuple[str, SplitResult]:
    """The server's URL without user:password (and without a trailing slash), and the URI's parts."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/"), parts


def auth_header(parts: SplitResult) -> dict[str, str]:
    """The Authorization header MLflow's client ends up sending: requests puts a ~/.netrc entry for the host, else
    user:password of the URL, over MLflow's own (MLFLOW_TRACKING_USERNAME / PASSWORD or ~/.mlflow/credentials,
    else MLFLOW_TRACKING_TOKEN)."""
    found = _netrc(parts.hostname or "")
    if found is None and parts.username is not None:
        found = (unquote(parts.username), unquote(parts.password or ""))
    if found is None:
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        file_user, file_password = _credentials_file()
        user, password = user or file_user, password or file_password
        if user and password:
            found = (user, password)
        elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
            return {"Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"}
    if found is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode()}


def _netrc(host: str) -> tuple[str, str] | None:
    """requests' netrc look-up: $NETRC, else ~/.netrc or ~/_netrc; an unreadable file is no entry."""
    import netrc

    names = [os.environ["NETRC"]] if os.environ.get("NETRC") else ["~/.netrc", "~/_netrc"]
    for name in names:
        path = os.path.expanduser(name)
        if not os.path.exists(path):
            continue
        try:
            entry = netrc.netrc(path).authenticators(host)
        except (netrc.NetrcParseError, OSError):
            return None
        if entry:
            return (entry[0] or entry[1] or "", entry[2] or "")
        return None
    return None


def _credentials_file() -> tuple[str | None, str | None]:
    path = os.path.expanduser("~/.mlflow/credentials")
    if not os.path.exists(path):
        return None, None
    import configparser

    config = configparser.ConfigParser()
    config.read(path)
    if "mlflow" not in config:
        return None, None
    return config["mlflow"].get("mlflow_tracking_username"), config["mlflow"].get("mlflow_tracking_password")


def tls_context() -> ssl.SSLContext | None:
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").strip().lower() in _TRUE:
        return ssl._create_unverified_context()  # the user asked MLflow for exactly this
    cafile = (
        os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
        or os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
    )
    return ssl.create_default_context(cafile=cafile) if cafile else None
