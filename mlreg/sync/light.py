"""The light read path: compare git with MLflow's bookkeeping without importing MLflow (seconds on a small machine).

`sync --check`, `--dry-run` and a sync with nothing to write read MLflow's state through a light source: the
sqlite database of a `sqlite:///` store read directly (light_sql), or a tracking server's REST API read with
urllib (light_rest). Both answer exactly as MLflow's client would (collect.py assembles the answers either way);
whenever one cannot (a schema revision not verified, an answer other than a plain 200, a setting it does not
reproduce), sync asks MLflow's client instead. `MLREG_SYNC_LIGHT=0` turns the light path off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .actual import Actual
from .collect import Source, Unanswerable, read_actual
from .desired import WantModel
from .ops import Item
from .uri import Target

ENV = "MLREG_SYNC_LIGHT"
PROBE_TIMEOUT = 5.0  # the webhook list, as sync's health check asks for it


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in ("0", "false", "no", "off")


@contextmanager
def opened(target: Target) -> Iterator[Source]:
    """A light source for `target`; Unanswerable when there is none (other databases, file stores)."""
    uri = target.uri
    src: Source
    if uri.lower().startswith(("http://", "https://")):
        from .light_rest import RestSource

        src = RestSource(uri)
    elif target.sqlite_path is not None and "?" not in uri:
        from .light_sql import SqliteSource

        src = SqliteSource(target.sqlite_path)
    else:
        raise Unanswerable(f"no light reader for {target.shown}")
    try:
        yield src
    finally:
        src.close()


def read(
    target: Target,
    wants: list[WantModel],
    also: list[str],
    registry_id: str,
    *,
    whole: bool,
    artifacts: bool,
    check: bool,
) -> tuple[Actual, list[Item]] | None:
    """MLflow's state (and, for a check, what MLflow's records alone do not show), read without MLflow; None when
    the light path cannot answer exactly as MLflow's client would."""
    if not enabled():
        return None
    try:
        with opened(target) as src:
            actual = read_actual(src, wants, also, registry_id, whole=whole, artifacts=artifacts)
            items = _server_items(src, target, wants if artifacts else []) if check else []
    except (Unanswerable, KeyError, TypeError, ValueError):  # the last three: an answer not shaped as expected
        return None
    return actual, items


def _server_items(src: Source, target: Target, wants: list[WantModel]) -> list[Item]:
    """MlflowIO.check_server's answer: webhooks the server cannot read (it answers their list with a server error:
    then MLflow's client asks again and words the report), and store objects of store-backed versions that are
    gone (checked through the registry's own stores, no MLflow needed)."""
    if target.uri.lower().startswith(("http://", "https://")):
        from .light_rest import WEBHOOKS, RestSource

        assert isinstance(src, RestSource)
        status = src.status(WEBHOOKS, {"max_results": 1000}, PROBE_TIMEOUT)
        if status is not None and status >= 500:
            raise Unanswerable("the server cannot list its webhooks")
    from .mlflow_io.health import missing_objects  # light: the object stores, not MLflow

    return missing_objects(wants)
