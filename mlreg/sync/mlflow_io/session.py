"""MLflow's session for mlreg: bounded retries, quiet logging, and MLflow's errors as one-line MlregErrors."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import MlregError
from ..uri import Target, driver_hint, scrub

# Bounded retries so an unreachable or hung server (or the S3 behind it) fails within 30 s, not MLflow's default
# ~4 minutes: two tries of 10 s, a 1 s pause, then the diagnosis probes (5 s at most). The user's own settings win.
ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
_QUIET_LOGGERS = ("mlflow", "alembic", "urllib3", "sqlalchemy", "azure", "botocore")


@contextmanager
def session(target: Target, preflight: bool = True) -> Iterator[None]:
    """Bounded retries, MLflow's logging and warnings silenced, and MLflow errors as one-line MlregErrors.
    preflight=False: the caller has already asked the server's database (diagnose.preflight)."""
    from .diagnose import preflight as ask_database

    down = ask_database(target.uri, target.shown) if preflight else None  # a database that is down: said at once
    if down:
        raise MlregError(scrub(down, target.uri))
    import mlflow  # noqa: F401  (its import configures its loggers; quiet them after that)

    saved_env = {k: os.environ.get(k) for k in ENV_DEFAULTS}
    for k, v in ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    disabled = logging.root.manager.disable
    _bound_s3_client()
    logging.disable(logging.WARNING)  # also loggers MLflow/alembic configure themselves (database set-up INFO lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except MlregError:
        raise
    except ModuleNotFoundError as e:
        raise MlregError(driver_hint(target, e.name or str(e))) from None
    except Exception as e:
        if not _is_backend_error(e):
            raise
        raise to_error(e, target) from None
    finally:
        restore_env(saved_env)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.disable(disabled)


def restore_env(saved: dict[str, str | None]) -> None:
    """Put environment variables back as they were (unset where they were unset)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _bound_s3_client() -> None:
    """Direct S3 access (a server with --no-serve-artifacts) goes through boto3 in this process: give the clients
    MLflow makes short timeouts and two attempts (botocore's defaults wait minutes on a hung store). MLflow's own
    client config is merged over this default, and the user's AWS_MAX_ATTEMPTS wins."""
    try:
        import boto3
        import botocore.session
        from botocore.config import Config
    except ImportError:
        return
    if boto3.DEFAULT_SESSION is not None:  # a session someone set up: theirs
        return
    retries = None if os.environ.get("AWS_MAX_ATTEMPTS") else {"total_max_attempts": 2, "mode": "standard"}
    core = botocore.session.get_session()
    core.set_default_client_config(Config(connect_timeout=5, read_timeout=10, retries=retries))
    boto3.setup_default_session(botocore_session=core)


def _is_backend_error(e: Exception) -> bool:
    import requests
    from mlflow.exceptions import MlflowException

    kinds: tuple[type, ...] = (MlflowException, requests.RequestException, OSError)
    try:
        from boto3.exceptions import Boto3Error  # S3UploadFailedError: an S3 ClientError, re-raised by upload_file
        from botocore.exceptions import BotoCoreError, ClientError

        kinds += (BotoCoreError, ClientError, Boto3Error)
    except ImportError:
        pass
    return isinstance(e, kinds)


def to_error(e: Exception, target: Target) -> MlregError:
    """A one-line message naming the (masked) server and which part failed: the server itself, its database,
    its artifact store (S3 directly too), or the credentials."""
    from . import diagnose

    text = scrub(" ".join(str(e).split()), target.uri)
    s3 = diagnose.s3_problem(e)
    if s3:
        return MlregError(f"MLflow at {target.shown}: {scrub(s3, target.uri)}; then rerun `mlreg sync`")
    if target.uri.lower().startswith(("http://", "https://")):
        found = diagnose.explain(target.uri, target.shown, text, getattr(e, "error_code", None))
        if found:
            return MlregError(scrub(found, target.uri))
    elif diagnose.is_network_failure(text):
        return MlregError(
            f"cannot reach MLflow at {target.shown} ({diagnose.network_reason(text)}); check the "
            "tracking URI, then rerun `mlreg sync` (it picks up where it stopped)"
        )
    if "filesystem tracking backend" in text:
        return MlregError(
            f"MLflow at {target.shown}: MLflow's file store is in maintenance mode and lacks features "
            "sync needs; use a database instead, e.g. --tracking-uri sqlite:///mlflow.db (MLflow's "
            "`mlflow migrate-filestore` moves existing data)"
        )
    return MlregError(f"MLflow at {target.shown}: {_first_sentences(text)}")


def _first_sentences(text: str, limit: int = 300) -> str:
    """The message cut at a sentence end within `limit` characters (whole text when short)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0] + " ..."
