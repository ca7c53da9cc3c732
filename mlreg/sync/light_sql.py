"""sync's bulk reads straight from an MLflow sqlite database (read-only), without importing MLflow.

MLflow's client takes seconds to import; `sync --check` of a small registry needs a few milliseconds of SQL. This
source answers collect.Source's questions as MLflow's SQLAlchemy stores do (the same rows, the same filters:
live model versions only, case-sensitive LIKE, NaN metrics), for a database whose schema revision it was checked
against (VERIFIED) and that the installed MLflow would open as it is (its newest revision, nothing outside the
default workspace, the default experiment there). Anything else raises Unanswerable: MLflow's client answers.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from .actual import HaveModel, HaveRun, HaveVersion
from .collect import Unanswerable, chunks
from .desired import REGISTRY, SYNC

# alembic revisions of MLflow's schema whose tables (registered_models, model_versions, their tags and aliases,
# experiments, runs, tags, params, latest_metrics) this reader was checked against, with the MLflow that has it
VERIFIED = {"dc11669786a5": "MLflow 3.17"}
DEFAULT_WORKSPACE = "default"
_STAGE_DELETED = "Deleted_Internal"  # a deleted model version's stage: MLflow's searches skip it
_TEMP_ARTIFACT = ".artifact.uploading."  # MLflow's local artifact store hides files being uploaded
_PER_QUERY = 500  # values per `IN (...)` (sqlite allows 999 and more)


class SqliteSource:
    """collect.Source over one MLflow sqlite database, read in one read-only transaction (a consistent view)."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise Unanswerable(f"{path}: no database")
        uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=20, isolation_level=None, check_same_thread=False)
            self.db.execute("BEGIN")
            self._check_schema()
        except sqlite3.Error as e:
            raise Unanswerable(f"{path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def _check_schema(self) -> None:
        """Raise Unanswerable unless MLflow would open this database as it is and its tables are the ones VERIFIED."""
        if os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower() in ("true", "1"):
            raise Unanswerable("MLflow workspaces are enabled")
        rows = self._all("SELECT version_num FROM alembic_version")
        revision = rows[0][0] if len(rows) == 1 else None
        if revision not in VERIFIED:
            raise Unanswerable(f"schema revision {revision!r} not verified")
        if installed_head() != revision:  # MLflow would refuse it (out of date), or is older than it
            raise Unanswerable(f"schema revision {revision!r} is not the installed MLflow's")
        for table in ("experiments", "registered_models", "webhooks"):  # MLflow refuses these outside its workspace
            if self._all(
                f"SELECT 1 FROM {table} WHERE workspace IS NOT NULL AND workspace != ? LIMIT 1", DEFAULT_WORKSPACE
            ):
                raise Unanswerable(f"{table} outside the default workspace")
        if not self._all("SELECT 1 FROM experiments WHERE experiment_id = 0"):
            raise Unanswerable("no default experiment (MLflow would create it)")

    def _all(self, sql: str, *args) -> list[tuple]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise Unanswerable(str(e)) from None

    def _in(self, sql: str, values: list[str], *args) -> list[tuple]:
        """`sql` with `{}` standing for `IN (?, ...)` over `values`, in chunks."""
        out: list[tuple] = []
        for chunk in chunks(sorted(set(values)), _PER_QUERY):
            out += self._all(sql.format("IN (" + ", ".join("?" * len(chunk)) + ")"), *args, *chunk)
        return out

    # -- registered models and versions ------------------------------------------------------------
    def models_named(self, names: list[str]) -> list[HaveModel]:
        models = {
            name: HaveModel(name, desc or "")
            for name, desc in self._in("SELECT name, description FROM registered_models WHERE name {}", names)
        }
        for name, key, value in self._in("SELECT name, key, value FROM registered_model_tags WHERE name {}", names):
            if name in models:
                models[name].tags[key] = value
        for name, alias, version in self._in(
            "SELECT name, alias, version FROM registered_model_aliases WHERE name {}", names
        ):
            if name in models:
                models[name].aliases[alias] = int(version)
        return list(models.values())

    def registry_models(self, registry_id: str) -> list[HaveModel]:
        rows = self._all("SELECT name FROM registered_model_tags WHERE key = ? AND value = ?", REGISTRY, registry_id)
        found = self.models_named([name for (name,) in rows])
        return [HaveModel(m.name, m.description, m.tags) for m in found]

    def versions_of(self, names: list[str]) -> list[tuple[str, HaveVersion]]:
        rows = self._in(
            "SELECT name, version, run_id, source, description FROM model_versions "
            "WHERE current_stage != ? AND name {}",
            names,
            _STAGE_DELETED,
        )
        found = {(n, int(v)): HaveVersion(int(v), run or None, src or "", desc or "") for n, v, run, src, desc in rows}
        for name, version, key, value in self._in(
            "SELECT name, version, key, value FROM model_version_tags WHERE name {}", names
        ):
            if (name, int(version)) in found:
                found[(name, int(version))].tags[key] = value
        return [(name, hv) for (name, _), hv in found.items()]

    # -- experiments and runs ----------------------------------------------------------------------
    def experiment_ids(self) -> list[str]:
        return [str(eid) for (eid,) in self._all("SELECT experiment_id FROM experiments")]

    def sync_runs(self, experiment_ids: list[str], pattern: str) -> list[HaveRun]:
        """Runs whose SYNC tag matches the LIKE `pattern` as MLflow's sqlite store matches it (case-sensitive)."""
        like = like_regex(pattern)
        rows = self._all("SELECT run_uuid, value FROM tags WHERE key = ?", SYNC)
        return self._runs([run for run, value in rows if value is not None and like.match(value)], experiment_ids)

    def legacy_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str) -> list[HaveRun]:
        raise Unanswerable("runs an older sync made")  # rare, and their sync rewrites them: MLflow's client reads

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list[HaveRun]:
        return self._runs(run_ids, experiment_ids)

    def get_run(self, run_id: str) -> HaveRun | None:
        found = self._runs([run_id], None)
        return found[0] if found else None

    def _runs(self, run_ids: list[str], experiment_ids: list[str] | None) -> list[HaveRun]:
        """The runs `run_ids` (in `experiment_ids` when given) with their params, latest metrics and tags."""
        runs = {
            run: HaveRun(run, str(exp), status, stage == "deleted", uri)
            for run, exp, status, stage, uri in self._in(
                "SELECT run_uuid, experiment_id, status, lifecycle_stage, artifact_uri FROM runs WHERE run_uuid {}",
                run_ids,
            )
            if experiment_ids is None or str(exp) in experiment_ids
        }
        ids = list(runs)
        for run, key, value in self._in("SELECT run_uuid, key, value FROM params WHERE run_uuid {}", ids):
            runs[run].params[key] = value
        for run, key, value, nan in self._in(
            "SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid {}", ids
        ):
            runs[run].metrics[key] = float("nan") if nan else float(value)
        for run, key, value in self._in("SELECT run_uuid, key, value FROM tags WHERE run_uuid {}", ids):
            runs[run].tags[key] = value
        return list(runs.values())

    # -- artifacts ---------------------------------------------------------------------------------
    def list_files(self, runs: list[HaveRun]) -> None:
        """Each run's files in a local artifact folder, as MLflow's local artifact store lists them."""
        for run in runs:
            run.files = list_local(local_folder(run.artifact_uri))


def local_folder(uri: str | None) -> Path:
    """The folder of a local artifact URI (file:///..., or an absolute path); Unanswerable for any other."""
    if uri and uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise Unanswerable(f"artifact location {uri}")
        path = unquote(parsed.path)
    elif uri and "://" not in uri and uri.startswith("/"):
        path = uri
    else:
        raise Unanswerable(f"artifact location {uri!r} is not a local folder")
    return Path(path)


def list_local(root: Path) -> dict[str, int | None]:
    """artifact path -> size of every file under `root` (none when it is not a folder), as MLflow lists them:
    folders followed (symlinks too), files being uploaded left out."""
    files: dict[str, int | None] = {}
    folders = [""]
    try:
        while folders:
            rel = folders.pop()
            here = os.path.join(root, rel) if rel else str(root)
            if not os.path.isdir(here):
                continue
            for name in os.listdir(here):
                if name.startswith(_TEMP_ARTIFACT):
                    continue
                path, sub = os.path.join(here, name), f"{rel}/{name}" if rel else name
                if os.path.isdir(path):
                    folders.append(sub)
                else:
                    files[sub] = os.path.getsize(path)
    except OSError as e:
        raise Unanswerable(f"{root}: {e}") from None  # MLflow's client reports it
    return files


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE `pattern` (`%` any run, `_` any one character, no escape character) as a case-sensitive regex."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


@functools.cache
def installed_head() -> str | None:
    """The newest schema revision of the installed MLflow, read from its migration scripts without importing it
    (None when they cannot be read, or there is not exactly one head)."""
    from importlib.util import find_spec

    head = None
    try:
        spec = find_spec("mlflow")
        if spec is None:
            raise ImportError("mlflow")
        folder = Path(next(iter(spec.submodule_search_locations or []))) / "store" / "db_migrations" / "versions"
        revisions, parents = set(), set()
        for script in folder.glob("*.py"):
            text = script.read_text(encoding="utf-8")
            found = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", text, re.MULTILINE)
            down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.MULTILINE)
            if found:
                revisions.add(found.group(1))
            if down:
                parents |= set(re.findall(r"['\"](\w+)['\"]", down.group(1)))
        heads = revisions - parents
        head = heads.pop() if len(heads) == 1 else None
    except (OSError, StopIteration, TypeError, ValueError, AttributeError, ImportError):
        head = None
    return head
