"""Which part failed when MLflow did: the server, its database, its artifact store, or the credentials.

A failed request alone rarely says which: a 503 can be the database behind a healthy server, a 500 on an
upload its artifact store, a timeout a hung S3 behind it. When sync's work fails, two short probes (the
server's /health, then one database read) tell them apart; S3 errors raised in this process (direct
artifact access) are named from botocore's own exception. Every probe is bounded (PROBE_TIMEOUT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE_TIMEOUT = 5.0
_NET = (
    r"Connection refused|Max retries exceeded|Failed to establish|timed out|Name or service not known|"
    r"Connection aborted|RemoteDisconnected|ConnectionError|ConnectTimeout|ReadTimeout"
)
_ARTIFACT_PATH = re.compile(r"/mlflow-artifacts/|/artifacts/(?:log|upload)|get-artifact")
_S3_REFUSED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "Forbidden",
    "403",
}


@dataclass
class Probe:
    """What the server said to one probe: HTTP status (None: no answer) and its text."""

    status: int | None
    text: str


def is_network_failure(text: str) -> bool:
    return re.search(_NET, text) is not None


def network_reason(text: str) -> str:
    reason = re.search(
        r"\[Errno -?\d+\][^'\")\]]*|Read timed out|timed out|Connection aborted|RemoteDisconnected", text
    )
    return reason.group(0).strip() if reason else "no answer"


def s3_problem(e: BaseException) -> str | None:
    """A one-line account of an S3 error raised in this process (direct artifact access), else None."""
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - boto3 comes with S3 support
        return None
    e = _botocore_cause(e, bx)
    if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return (
            "S3 credentials missing: this server lets clients write artifacts to S3 themselves (direct mode, "
            "`--no-serve-artifacts`), so sync needs them too; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE), and MLFLOW_S3_ENDPOINT_URL for a non-AWS store"
        )
    if isinstance(e, bx.ClientError):
        err = e.response.get("Error", {})
        code, msg = str(err.get("Code", "")), err.get("Message") or str(e)
        if code in _S3_REFUSED:
            return f"S3 refused the credentials ({code}: {msg}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        return f"the S3 artifact store failed ({code}: {msg})"
    if isinstance(
        e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.ConnectionClosedError)
    ):
        return f"cannot reach the S3 artifact store ({' '.join(str(e).split())}); check MLFLOW_S3_ENDPOINT_URL"
    if isinstance(e, bx.BotoCoreError):
        return f"the S3 artifact store failed ({' '.join(str(e).split())})"
    return None


def _botocore_cause(e: BaseException, bx) -> BaseException:
    """The botocore error behind `e`: boto3's upload_file re-raises S3's ClientError as an S3UploadFailedError
    (the ClientError, with S3's code, is its context)."""
    seen: BaseException | None = e
    while seen is not None and not isinstance(seen, (bx.ClientError, bx.BotoCoreError)):
        seen = seen.__cause__ or seen.__context__
    return seen if seen is not None else e


def probe(uri: str, endpoint: str, params: dict | None = None) -> Probe:
    """One GET to the server, no retries, bounded; auth as MLflow's own client sends it."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        resp = http_request(
            get_default_host_creds(uri),
            endpoint,
            "GET",
            max_retries=0,
            backoff_factor=0,
            backoff_jitter=0,
            timeout=PROBE_TIMEOUT,
            raise_on_status=False,
            params=params,
        )
    except Exception as e:  # noqa: BLE001 - any failure to get an answer is "no answer"
        return Probe(None, network_reason(" ".join(str(e).split())))
    return Probe(resp.status_code, _server_text(resp))


def _server_text(resp) -> str:
    """The server's own message: `message` of MLflow's JSON error, else the body's text, else the reason."""
    try:
        doc = resp.json()
        if isinstance(doc, dict) and doc.get("message"):
            return " ".join(str(doc["message"]).split())
    except ValueError:
        pass
    body = re.sub(r"<[^>]+>", " ", resp.text or "")
    body = " ".join(body.split())
    return f"HTTP {resp.status_code} {body[:200] or resp.reason}".strip()


def explain(uri: str, shown: str, text: str, error_code: str | None) -> str | None:
    """Which part of an http(s) MLflow failed, probing the server; None when the probes find nothing wrong."""
    if error_code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or re.search(
        r"\b40[13]\b.*(Unauthorized|Forbidden)", text
    ):
        return (
            f"MLflow at {shown} refused the credentials ({_cut(text)}); set MLFLOW_TRACKING_USERNAME / "
            "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN"
        )
    health = probe(uri, "/health")
    if health.status is None:
        return (
            f"cannot reach MLflow at {shown} ({health.text}); check the tracking URI and that the server is "
            "running, then rerun `mlreg sync` (it picks up where it stopped)"
        )
    if health.status in (401, 403):
        return (
            f"MLflow at {shown} refused the credentials (HTTP {health.status}); set MLFLOW_TRACKING_USERNAME / "
            "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN"
        )
    db = probe(uri, "/api/2.0/mlflow/experiments/get", {"experiment_id": "0"})
    if db.status is None or db.status >= 500:
        said = f"no answer within {PROBE_TIMEOUT:g} s" if db.status is None else db.text
        return (
            f"MLflow at {shown} is up, but its database is failing: {_cut(said)}; fix the server's backend "
            "store, then rerun `mlreg sync` (it picks up where it stopped)"
        )
    if _ARTIFACT_PATH.search(text):
        said = (
            f"an artifact upload got no answer ({network_reason(text)})"
            if is_network_failure(text) and "500 error" not in text
            else f"an artifact request failed: {_cut(text)}"
        )
        return (
            f"MLflow at {shown} is up, but its artifact store is failing ({said}); check the server's artifact "
            "store (endpoint, bucket, credentials) and its log, then rerun `mlreg sync`"
        )
    if is_network_failure(text):
        return (
            f"MLflow at {shown} is up, but a request got no answer ({network_reason(text)}); rerun `mlreg sync` "
            "(it picks up where it stopped)"
        )
    return None


def _cut(text: str, limit: int = 300) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0] + " ..."
