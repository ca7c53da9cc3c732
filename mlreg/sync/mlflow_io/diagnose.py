"""Which part failed when MLflow did: the server, its database, its artifact store, or the credentials.

A failed request alone rarely says which: a 503 can be the database behind a healthy server, a 500 on an
upload its artifact store, a timeout a hung S3 behind it. Before sync asks a server anything, one bounded
read (`preflight`) catches a database that is down; when sync's work fails, short probes (the server's
/health, one database read, a listing through the artifact proxy) tell the parts apart; S3 errors raised in
this process (direct artifact access) are named from botocore's own exception. Every probe is bounded.
Database errors are named (`PostgreSQL at host:port/dbname: reason`) from the server's words, never with a
password.
"""

from __future__ import annotations

import http.client
import json
import os
import re
from dataclasses import dataclass

from ...masking import mask

PROBE_TIMEOUT = 5.0
PREFLIGHT_TIMEOUT = 6.0  # a one-row read; MLFLOW_HTTP_REQUEST_TIMEOUT, when the user sets it, wins
ONE_ROW = ("/api/2.0/mlflow/experiments/get", {"experiment_id": "0"})  # the default experiment: one database read
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"  # the artifact proxy's listing (`?path=`)
_NET = (
    r"Connection refused|Max retries exceeded|Failed to establish|timed out|Name or service not known|"
    r"Connection aborted|RemoteDisconnected|ConnectionError|ConnectTimeout|ReadTimeout"
)
_ARTIFACT_PATH = re.compile(r"/mlflow-artifacts/|/artifacts/(?:log|upload)|get-artifact")
_ARTIFACT_FILE = re.compile(r"/mlflow-artifacts/artifacts/([\w./-]+)")
_NO_BUCKET = re.compile(r"NoSuchBucket|bucket does not exist|bucket \S+ does not exist", re.IGNORECASE)
_REFUSED = re.compile(
    r"AccessDenied|Access Denied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|Unable to locate credentials|"
    r"\bForbidden\b"
)
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
    """What the server said to one probe: HTTP status (None: no answer), its text, and whether the text is
    MLflow's own JSON error (not a proxy's page or a bare 500)."""

    status: int | None
    text: str
    mlflow: bool = False


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
        if code == "NoSuchBucket":
            bucket = err.get("BucketName") or "the bucket"
            return (
                f"the S3 artifact store has no bucket {bucket} (NoSuchBucket: {msg}); create it (MLflow does "
                "not create buckets) or fix the server's --default-artifact-root"
            )
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
    if resp.status_code < 400:
        return Probe(resp.status_code, "")
    return _answer(resp.status_code, resp.text or "", resp.reason or "")


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
        return unreachable(shown, health.text)
    if health.status in (401, 403):
        return (
            f"MLflow at {shown} refused the credentials (HTTP {health.status}); set MLFLOW_TRACKING_USERNAME / "
            "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN"
        )
    db = probe(uri, *ONE_ROW)
    if db.status is None:
        return store_silent(shown, PROBE_TIMEOUT)
    if db.status >= 500:
        return server_error(shown, db)
    if _ARTIFACT_PATH.search(text):
        return artifact_failing(uri, shown, text)
    if is_network_failure(text):
        return (
            f"MLflow at {shown} is up, but a request got no answer ({network_reason(text)}); rerun `mlreg sync` "
            "(it picks up where it stopped)"
        )
    return None


def unreachable(shown: str, reason: str) -> str:
    """Nothing answers. Refused: maybe a server that is not listening yet, still retrying its database."""
    starting = (
        " (a server whose database is down when it starts retries for about 100 s, then exits: see its log)"
        if "refused" in reason
        else ""
    )
    return (
        f"cannot reach MLflow at {shown} ({reason}); check the tracking URI and that the server is "
        f"running{starting}, then rerun `mlreg sync` (it picks up where it stopped)"
    )


def store_silent(shown: str, waited: float) -> str:
    """A server that answers /health but not a one-row read: its worker is waiting for the database. MLflow
    retries a database it cannot reach for about 100 s, holding a lock every other request then waits on, so
    the server stays silent for up to a minute after the database is back (a restart ends that)."""
    return (
        f"MLflow at {shown} is up, but the server's backend store (database) is not answering: a one-row read "
        f"got no answer within {waited:g} s while /health answers; check that the database the server's "
        "MLFLOW_BACKEND_STORE_URI (or --backend-store-uri) names is running and reachable from the server (see "
        "the server's log; MLflow retries it for up to 100 s: restart the server once the database is back), "
        "then rerun `mlreg sync` (it picks up where it stopped)"
    )


def database_failing(shown: str, said: str) -> str:
    """The server answered with a server error: named after the database when its text names one."""
    found = database_named(said)
    detail = found or _cut(said)
    return (
        f"MLflow at {shown} is up, but its database is failing ({detail}); check that the database the "
        "server's backend store URI names is running and reachable from the server, then rerun `mlreg sync` "
        "(it picks up where it stopped)"
    )


# A database driver's error as SQLAlchemy words it: "(psycopg2.OperationalError) connection to server at ..."
_DRIVER = re.compile(r"\((psycopg2?|pg8000|asyncpg|pymysql|MySQLdb|mysql\.connector|pyodbc|pymssql|sqlite3)[\w.]*\)")
_ENGINES = {"psycopg": "PostgreSQL", "pg8000": "PostgreSQL", "asyncpg": "PostgreSQL", "pymysql": "MySQL"}
_ENGINES |= {"MySQLdb": "MySQL", "mysql": "MySQL", "pyodbc": "SQL Server", "pymssql": "SQL Server"}
_ENGINES |= {"sqlite3": "SQLite", "postgres": "PostgreSQL", "mssql": "SQL Server", "sqlite": "SQLite"}
_DB_URI = re.compile(r"\b(postgresql|postgres|mysql|mssql|sqlite)(?:\+\w+)?://[^\s'\"),]+")
_WHERE = (
    re.compile(r'connection to server at "([^"]+)"(?: \([^)]*\))?, port (\d+)'),  # libpq: host, port
    re.compile(r'connection to server on socket "([^"]+)"'),
    re.compile(r'could not translate host name "([^"]+)"'),
    re.compile(r"Can't connect to MySQL server on '([^']+)'"),
)
_DBNAME = re.compile(r"""database "([^"]+)" does not exist|Unknown database '([^']+)'""")
_REASONS = re.compile(
    r"Connection refused|Connection timed out|timeout expired|No route to host|Name or service not known|"
    r"could not translate host name \"[^\"]+\" to address(?:: [\w ]+)?|No such file or directory|"
    r"password authentication failed for user \"[^\"]+\"|database \"[^\"]+\" does not exist|"
    r"role \"[^\"]+\" does not exist|no pg_hba\.conf entry[^.]*|server closed the connection unexpectedly|"
    r"terminating connection due to administrator command|the database system is (?:shutting down|starting up|"
    r"in recovery mode)|too many clients already|Access denied for user '[^']*'@'[^']*'|Unknown database '[^']+'|"
    r"Lost connection to MySQL server[\w ]*|database is locked|unable to open database file"
)


def database_named(text: str) -> str | None:
    """`PostgreSQL at host:port/dbname: reason`, as much of it as a database error's text names (the server's
    message, or ours); None when `text` is no database error. Never a password: URIs are masked and shown as
    host:port/dbname only."""
    driver, uri = _DRIVER.search(text), _DB_URI.search(text)
    if not driver and not uri:
        return None
    key = (driver.group(1) if driver else uri.group(1) if uri else "").rstrip("2")
    engine = next((name for prefix, name in _ENGINES.items() if key.startswith(prefix)), "the database")
    where = _location(text, uri.group(0) if uri else None)
    reason = _REASONS.search(text)
    said = reason.group(0) if reason else _after_driver(text, driver)
    at = f"{engine} at {where}" if where else engine
    return f"{at}: {said}" if said else at


def _location(text: str, uri: str | None) -> str:
    """host:port/dbname from a database URI in the text (credentials dropped), else from the driver's words."""
    from urllib.parse import urlsplit

    if uri:
        try:
            parts = urlsplit(mask(uri))
            host, port, name = parts.hostname or "", f":{parts.port}" if parts.port else "", parts.path.strip("/")
        except ValueError:
            return ""
        return f"{host}{port}/{name}" if host and name else f"{host}{port}"
    where = ""
    for pattern in _WHERE:
        found = pattern.search(text)
        if found:
            where = ":".join(g for g in found.groups() if g)
            break
    named = _DBNAME.search(text)
    if named and where:
        where += "/" + (named.group(1) or named.group(2))
    return where


def _after_driver(text: str, driver: re.Match | None) -> str:
    """The driver's own message (its first sentence) when no known reason is in it."""
    rest = text[driver.end() :] if driver else text
    rest = re.split(r"\s\(Background on this error|\s\[SQL:", rest, maxsplit=1)[0].strip()
    return _cut(rest, 160)


def artifact_failing(uri: str, shown: str, text: str) -> str:
    """An artifact request failed with the server up and its database fine. A timeout is a hung store; a quick
    failure (a bare HTTP 500, the connection dropped mid-upload) hides the store's own error in the server's log,
    so ask the artifact proxy to list the failed file's folder: it answers with the store's words (a missing
    bucket, refused credentials)."""
    advice = "check the server's artifact store (endpoint, bucket, credentials) and its log"
    if is_network_failure(text) and re.search(r"timed out|Timeout", text):
        said = f"an artifact upload got no answer ({network_reason(text)})"
    else:
        failed = f"an artifact request failed ({network_reason(text) if is_network_failure(text) else _cut(text)})"
        folder = _ARTIFACT_FILE.search(text)
        listing = probe(uri, ARTIFACTS, {"path": folder.group(1).rpartition("/")[0] if folder else ""})
        if listing.status is None:
            said = f"{failed}, and a listing of the store got no answer ({listing.text})"
        elif listing.status < 400:
            said = f"{failed}, though the server can list the store"
            advice = "the store may refuse writes (credentials, permissions, quota): see the server's log"
        else:  # the store's own words, which the failed upload only left in the server's log
            said = f"an artifact upload failed, and the server, asked to list the store, says: {_cut(listing.text)}"
            if _NO_BUCKET.search(listing.text):
                advice = (
                    "create that bucket (MLflow does not create buckets) or point the server's "
                    "--artifacts-destination at one that exists"
                )
            elif _REFUSED.search(listing.text):
                advice = (
                    "check the S3 credentials in the server's environment (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY, or its role) and the bucket's policy"
                )
    return f"MLflow at {shown} is up, but its artifact store is failing ({said}); {advice}, then rerun `mlreg sync`"


def preflight(uri: str, shown: str) -> str | None:
    """Before anything else asks an http(s) server: one bounded one-row read (plain urllib: no MLflow import).
    A worker that has not reached its database yet retries it for about 100 s on every request, which sync's own
    requests (10 s, tried twice) would wait out before any diagnosis; this says which part is down at once: the
    database by name when the server's error names it. None: go on (also when the answer is inconclusive, e.g.
    a TLS or connection error, which MLflow's own client then reports with its settings)."""
    if not uri.lower().startswith(("http://", "https://")):
        return None
    try:
        waited = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or PREFLIGHT_TIMEOUT)
    except ValueError:
        waited = PREFLIGHT_TIMEOUT
    answer = plain_get(uri, *ONE_ROW, timeout=waited)
    if answer.status is None:
        if re.search(r"Connection refused|Name or service not known|nodename nor servname", answer.text):
            return unreachable(shown, answer.text)
        if answer.text != "timed out":
            return None
        health = plain_get(uri, "/health", None, timeout=3.0)
        return (
            unreachable(shown, f"no answer within {waited:g} s")
            if health.status is None
            else store_silent(shown, waited)
        )
    if answer.status >= 500:
        return server_error(shown, answer)
    return None


def server_error(shown: str, answer: Probe) -> str:
    """A server error on a one-row read: MLflow's own (JSON) error or a database's words are the database
    failing; anything else came from in front of MLflow (a proxy's 502) or its web layer."""
    if answer.mlflow or database_named(answer.text):
        return database_failing(shown, answer.text)
    return (
        f"MLflow at {shown} answers a one-row read with {_cut(answer.text)}; check the server (and any proxy in "
        "front of it) and its log, then rerun `mlreg sync`"
    )


def plain_get(uri: str, endpoint: str, params: dict | None, timeout: float) -> Probe:
    """One GET with urllib, bounded, credentials and TLS as MLflow's client takes them (sync/http.py); no answer:
    status None, text 'timed out' or why."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from ..http import auth_header, base_url, tls_context

    base, parts = base_url(uri)
    url = base + endpoint + (f"?{urlencode(params)}" if params else "")
    headers = {"Accept": "application/json", **auth_header(parts)}
    context = tls_context() if parts.scheme.lower() == "https" else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout, context=context):
            return Probe(200, "")
    except urllib.error.HTTPError as e:
        with e:
            body = e.read(64 * 1024).decode("utf-8", "replace")
        return _answer(e.code, body, e.reason)
    except TimeoutError:
        return Probe(None, "timed out")
    except urllib.error.URLError as e:
        timed_out = isinstance(e.reason, TimeoutError)
        return Probe(None, "timed out" if timed_out else " ".join(str(e.reason).split()))
    except (OSError, ValueError, http.client.HTTPException) as e:
        return Probe(None, " ".join(str(e).split()) or type(e).__name__)


def _answer(status: int, body: str, reason: str) -> Probe:
    """An error answer's message: MLflow's JSON error (`message`) or the body's text."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("error_code"):
        return Probe(status, " ".join(str(doc.get("message") or doc["error_code"]).split()), mlflow=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    return Probe(status, f"HTTP {status} {text[:200] or reason}".strip())


def _cut(text: str, limit: int = 300) -> str:
    text = _hide(text)
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0] + " ..."


def _hide(text: str) -> str:
    """Credentials masked: in URIs (masking.mask) and in a libpq connection string's `password=...`."""
    return re.sub(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\S+)", r"\1=***", mask(text))
