"""What MLflow should hold, computed from the registry alone (no MLflow, two git calls)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..core.records import Artifact, Model, Settings, StageChange, Version
from ..objects.uploads import stored_folder

# mlreg's bookkeeping in MLflow: one tag on each version and run it makes, and on each registered model also the
# registry id (searched by) and the aliases it set. On a run and a registered model it is a JSON object (what the
# object mirrors, its digest, the tag keys sync manages on it); on a model version, whose page shows it among the
# user's tags, a short text (see version_marker).
SYNC = "mlreg.sync"
REGISTRY = "mlreg.registry"  # the registry id (mlreg.yaml registry_id, else the root commit) on registered models
ALIASES = "mlreg.aliases"
SUPERSEDED = "mlreg.superseded"  # on a run synced from another record and replaced (--force): its old SYNC tag
# what older syncs wrote instead (read, then replaced by SYNC): never a conflict, always removed
DIGEST = "mlreg.digest"
COMMIT = "mlreg.commit"
TAG_MODEL = "mlreg.model"
TAG_VERSION = "mlreg.version"
LEGACY = (DIGEST, COMMIT, TAG_MODEL, TAG_VERSION)
EXTERNAL_FILE = "mlreg_external.json"
LINKED = ("base_model_run_id", "base_model_path")  # version tags that need the base's MLflow run id
# version tags sync derives from the record: managed by name on every version sync made (and on versions that
# carry no list of managed keys: made by an older sync, or imported); any other tag there that git lacks is
# deleted only when the version's SYNC tag lists it
DERIVED = re.compile(
    r"^(stage|version_type|model_type|enhancement_type|enhancement_timestamp|previous_timesteps|"
    r"total_timesteps|last_promoted_at|promotion_reason|promotion_\d{8}_\d{4}(_\d+)?|"
    r"demotion_reason|demotion_timestamp|base_model_run_id|base_model_path|created_by)$"
)
SHORT = 12  # hex digits of a record's digest in a model version's SYNC tag
_SHORT_MARK = re.compile(rf"^([0-9a-f]{{{SHORT}}})(?: (.+))?$", re.DOTALL)


@dataclass
class WantRun:
    """The MLflow run that mirrors one version."""

    experiment: str
    name: str
    start_ms: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]  # the record's tags (sync's own go into SYNC)
    files: list[tuple[Path, str]]  # (local file, artifact path)
    external: list[dict[str, Any]]  # artifacts kept outside git: listed in mlreg_external.json
    end_ms: int = 0  # when training ended: start + duration when recorded, else the registration time
    sizes: dict[str, int] = field(default_factory=dict)  # artifact path -> recorded size
    system_tags: dict[str, str] = field(default_factory=dict)  # mlflow.* tags, set at creation only
    stored: list[tuple[str, str]] = field(default_factory=list)  # (object store URI, artifact path): not copied
    expect: dict[str, tuple[int, str]] = field(default_factory=dict)  # artifact path -> recorded (size, sha256)
    files_digest: str = ""  # short fingerprint of params and artifacts: what a run cannot change once made
    digest: str = ""
    model: str = ""
    number: int = 0
    registry: str = ""  # the registry id ("" before the first commit)

    def marker(self, tags: Iterable[str]) -> str:
        """The SYNC tag of the run, once its tags are `tags`."""
        return marker(
            digest=self.digest,
            files=self.files_digest,
            model=self.model,
            registry=self.registry,
            tags=sorted(tags),
            version=self.number,
        )


@dataclass
class WantVersion:
    """One model version as MLflow should show it."""

    model: str
    number: int
    description: str
    tags: dict[str, str]  # every version tag except LINKED (resolved against MLflow when planning) and SYNC
    run: WantRun
    mlflow_run_id: str | None = None  # the training's own run, used when it exists on the server
    subpath: str = ""  # where the MLmodel file sits inside the run's artifacts ("" = root)
    base: tuple[str, int] | None = None
    base_subpath: str = ""
    source: str = ""  # a store-backed version: its folder in the object store (+ subpath); "" = the run's files
    digest: str = ""
    commit: str = ""  # the last commit that touched the version's folder (not diffed on its own)

    def marker(self, tags: Iterable[str]) -> str:
        """The SYNC tag of the model version, once its tags are `tags` (see version_marker)."""
        return version_marker(self.digest, tags)

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.number}"


@dataclass
class WantModel:
    """A registered model as MLflow should show it."""

    name: str
    description: str
    tags: dict[str, str]  # model.yaml tags (+ REGISTRY)
    aliases: dict[str, int]
    versions: dict[int, WantVersion] = field(default_factory=dict)
    digest: str = ""

    def marker(self, tags: Iterable[str]) -> str:
        """The SYNC tag of the registered model, once its tags are `tags` (REGISTRY is not counted: sync's own)."""
        return marker(digest=self.digest, tags=sorted(k for k in tags if k != REGISTRY))


def marker(**fields: Any) -> str:
    """A SYNC tag's value: compact JSON with sorted keys (so it compares as text and is searched with LIKE)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_marker(tags: dict[str, str]) -> dict[str, Any] | None:
    """The SYNC tag of an object, parsed; None when it has none (or one that is not mlreg's JSON)."""
    try:
        doc = json.loads(tags.get(SYNC) or "null")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def version_marker(digest: str, tags: Iterable[str]) -> str:
    """A model version's SYNC tag, kept short because MLflow's version page shows it among the user's tags: the
    first SHORT hex digits of the record's digest, then the keys of the other tags sync set (the record's own tags),
    comma-separated (MLflow's tag keys hold no comma): `3f2a91c0de12` or `3f2a91c0de12 owner,dataset`. The tags
    sync derives from the record (DERIVED) are not listed: they are sync's by name."""
    own = sorted(k for k in tags if not DERIVED.match(k) and k != SYNC)
    return digest[:SHORT] + (" " + ",".join(own) if own else "")


def read_version_marker(tags: dict[str, str]) -> dict[str, Any] | None:
    """A model version's SYNC tag, parsed: {"digest": short digest, "tags": listed keys, "short": True}, or an
    earlier sync's JSON object (digest, commit, every managed key); None when it has none."""
    found = _SHORT_MARK.match(tags.get(SYNC) or "")
    if found is None:
        return read_marker(tags)
    listed = found.group(2)
    return {"digest": found.group(1), "tags": listed.split(",") if listed else [], "short": True}


def same_digest(have: str | None, want: str) -> bool:
    """`have` (a full digest, or its first SHORT digits from a version's SYNC tag) is `want`'s."""
    return bool(have) and len(have or "") >= SHORT and want.startswith(have or "-")


def canonical_digest(doc: Any) -> str:
    """sha256 of the canonical JSON of `doc` (sorted keys, no spaces)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def want_model(
    model: Model,
    views: list,
    settings: Settings,
    commits: dict[str, str],
    head: str,
    bases: dict[tuple[str, int], Version],
    registry_id: str = "",
    repo_url: str = "",
) -> WantModel:
    """The registered model, its aliases and every version of one model (`views`: api.VersionView)."""
    tags = dict(model.tags)
    if registry_id:
        tags[REGISTRY] = registry_id
    want = WantModel(
        model.name,
        model.description,
        tags,
        desired_aliases(model, [v.record for v in views], settings),
        digest=canonical_digest({"description": model.description, "tags": model.tags}),
    )
    for view in views:
        r = view.record
        commit = commits.get(f"registry/{r.name}/v{r.version}", head)
        wv = want_version(r, view.version_type, settings, commit, bases, view.folder)
        wv.run.registry = registry_id
        wv.run.system_tags = system_tags(r, commit, repo_url)
        want.versions[r.version] = wv
    return want


def system_tags(r: Version, commit: str, repo_url: str) -> dict[str, str]:
    """MLflow's own run tags, so its run page shows who, which commit and the description. Set when the run is
    made, never diffed afterwards (the commit moves with every promotion; the run does not change)."""
    tags = {"mlflow.user": r.created_by, "mlflow.source.type": "JOB", "mlflow.source.name": "mlreg sync"}
    if commit and commit != "uncommitted":
        tags["mlflow.source.git.commit"] = commit
    if repo_url:
        tags["mlflow.source.git.repoURL"] = repo_url
    if r.description:
        tags["mlflow.note.content"] = r.description
    return {k: v for k, v in tags.items() if v}


def desired_aliases(model: Model, records: list[Version], settings: Settings) -> dict[str, int]:
    """model.yaml aliases plus alias-mirrored stages (the highest version in the stage; model.yaml wins)."""
    out = dict(model.aliases)
    for stage, alias in settings.alias_stages().items():
        holders = [v.version for v in records if v.stage == stage]
        if holders and alias not in out:
            out[alias] = max(holders)
    return dict(sorted(out.items()))


def want_version(
    r: Version, version_type: str, settings: Settings, commit: str, bases: dict[tuple[str, int], Version], folder: Path
) -> WantVersion:
    """Run + model version for one record; `bases` holds the records its lineage names."""
    lin = r.lineage
    # who registered it, for MLflow's versions list: its "Created by" column shows user_id, which no client can set
    tags = ({"created_by": r.created_by} if r.created_by else {}) | dict(r.tags)
    tags |= {"stage": r.stage, "version_type": version_type, "model_type": lin.model_type}
    extra = {
        "enhancement_type": lin.enhancement_type,
        "enhancement_timestamp": lin.enhancement_timestamp,
        "previous_timesteps": lin.previous_timesteps,
        "total_timesteps": lin.total_timesteps,
    }
    tags |= {k: str(v) for k, v in extra.items() if v not in (None, "")}
    tags |= promotion_tags(r.stage_history)
    base = (lin.base.model, lin.base.version) if lin.base else None
    placed = readable_external(r)
    subpath, stored = mlmodel_dir(r.artifacts + [a for _, a in placed]), stored_folder(r)
    return WantVersion(
        model=r.name,
        number=r.version,
        description=r.description,
        tags=tags,
        run=want_run(r, settings, folder, placed),
        mlflow_run_id=r.run.mlflow_run_id or None,
        subpath=subpath,
        base=base,
        base_subpath=model_path(bases[base].artifacts) if base in bases else "",
        source=(stored + (f"/{subpath}" if subpath else "")) if stored else "",
        digest=canonical_digest(r.to_dict() | {"version_type": version_type}),
        commit=commit,
    )


def readable_external(r: Version) -> list[tuple[Path, Artifact]]:
    """--external files readable on this machine with their recorded size, each with the path it gets in the run:
    its path under the training folder (params.output_dir), else its file name. Sync uploads them so that the
    MLflow version is loadable; files it cannot read stay listed in mlreg_external.json."""
    out, root = [], r.params.get("output_dir")
    for a in r.artifacts:
        local = _local_file(a.uri) if a.path is None and a.uri else None
        if local is None or not plain_file(local, a.size):
            continue
        rel = local.relative_to(root).as_posix() if root and local.is_relative_to(root) else local.name
        out.append((local, Artifact(sha256=a.sha256, size=a.size, path=rel, uri=a.uri)))
    return out


_PSEUDO = ("/proc/", "/sys/", "/dev/")  # kernel files: stat says regular, the bytes are the process's own state


def plain_file(local: Path, size: int) -> bool:
    """A regular file (not a FIFO, device or kernel file) of `size` bytes: the cheap part of what sync checks
    before reading a file for upload (the sha256 is checked as it is read)."""
    import stat

    try:
        real = local.resolve()
        st = os.stat(real)
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size and not str(real).startswith(_PSEUDO)


def _local_file(uri: str) -> Path | None:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    return Path(uri) if "://" not in uri and Path(uri).is_absolute() else None


def want_run(
    r: Version, settings: Settings, folder: Path, placed: list[tuple[Path, Artifact]] | None = None
) -> WantRun:
    """The run: experiment, name, params, metrics, human tags and the files of the version folder (and the
    readable --external files, `placed`)."""
    experiment = r.run.experiment or settings.experiment.replace("{model}", r.name)
    name = r.run.name or f"{r.name}-v{r.version}"
    start = _millis(r.run.training_timestamp) or _millis(r.created_at) or 0
    end = _end_ms(r, start)
    files = [(folder / a.path, a.path) for a in r.artifacts if a.path is not None and a.uri is None]
    files += [(local, a.path) for local, a in placed or [] if a.path is not None]  # placed: path always set
    uploaded = {a.uri for _, a in placed or []}
    external = [a.to_dict() for a in r.artifacts if a.path is None and a.uri not in uploaded]
    stored = [(a.uri, a.path) for a in r.artifacts if a.path is not None and a.uri is not None]
    content = {
        "experiment": experiment,
        "name": name,
        "start": start,
        "params": r.params,
        "metrics": r.metrics,
        "tags": r.tags,
        "artifacts": [a.to_dict() for a in r.artifacts],
    }
    sizes = {a.path: a.size for a in r.artifacts if a.path is not None and a.uri is None}
    sizes |= {a.path: a.size for _, a in placed or [] if a.path is not None}
    expect = {a.path: (a.size, a.sha256) for a in [*r.artifacts, *(a for _, a in placed or [])] if a.path is not None}
    return WantRun(
        experiment,
        name,
        start,
        dict(r.params),
        dict(r.metrics),
        dict(r.tags),
        files,
        external,
        end,
        sizes=sizes,
        stored=stored,
        expect=expect,
        digest=canonical_digest(content),
        model=r.name,
        number=r.version,
        files_digest=canonical_digest({"params": r.params, "artifacts": content["artifacts"]})[:16],
    )


_DURATION_KEYS = ("duration_seconds", "training_duration_seconds", "duration_s", "training_seconds")
_END_KEYS = ("end_time", "training_end_timestamp", "training_end_time", "finished_at")


def _end_ms(r: Version, start: int) -> int:
    """End of training: start + a recorded duration (param or metric, seconds), else a recorded end time, else the
    registration time; never before the start."""
    for key in _DURATION_KEYS:
        raw = r.metrics.get(key, r.params.get(key))
        try:
            if raw is not None and float(raw) >= 0:
                return start + int(float(raw) * 1000)
        except (TypeError, ValueError):
            pass
    for key in _END_KEYS:
        end = (
            _millis(str(r.params.get(key) or r.tags.get(key) or "")) if (r.params.get(key) or r.tags.get(key)) else None
        )
        if end is not None and end >= start:
            return end
    created = _millis(r.created_at) or start
    return max(created, start)


def promotion_tags(history: list[StageChange]) -> dict[str, str]:
    """`promotion_<YYYYMMDD_HHMM>` per promotion, the last promotion's time and reason, the last demotion's (unless
    a promotion came after it)."""
    out: dict[str, str] = {}
    promotions = [c for c in history if c.action in ("promote", "rollback")]
    for c in promotions:
        key = f"promotion_{stamp(c.at)}"
        key = next(k for i in range(1, len(promotions) + 2) if (k := key + (f"_{i}" if i > 1 else "")) not in out)
        out[key] = f"{c.from_ or 'none'} -> {c.to}"
    if promotions:
        out["last_promoted_at"] = stamp(promotions[-1].at)
        if promotions[-1].reason:
            out["promotion_reason"] = promotions[-1].reason
    at = {id(c): i for i, c in enumerate(history)}
    demotions = [c for c in history if c.action == "demote"]
    if demotions and promotions and at[id(promotions[-1])] > at[id(demotions[-1])]:
        demotions = []  # promoted again since: the old demotion no longer describes the version
    if demotions:
        out["demotion_timestamp"] = demotions[-1].at
        if demotions[-1].reason:
            out["demotion_reason"] = demotions[-1].reason
    return out


def stamp(iso: str) -> str:
    """`2025-06-10T14:18:05Z` -> `20250610_1418`."""
    digits = iso.replace("-", "").replace(":", "")
    return f"{digits[:8]}_{digits[9:13]}"


def mlmodel_dir(artifacts: list[Artifact]) -> str:
    """The folder (inside the version) holding an MLflow `MLmodel` file, shallowest first; "" for none/root."""
    found = sorted(
        (PurePosixPath(a.path) for a in artifacts if a.path and PurePosixPath(a.path).name == "MLmodel"),
        key=lambda p: (len(p.parts), str(p)),
    )
    return "" if not found or str(found[0].parent) == "." else str(found[0].parent)


def model_path(artifacts: list[Artifact]) -> str:
    """The path inside a run that is `the model`: the MLmodel folder, else a `model*` file, else the largest."""
    folder = mlmodel_dir(artifacts)
    if folder or any(a.path == "MLmodel" for a in artifacts):
        return folder
    files = [(a.size, a.path) for a in artifacts if a.path and a.path != "run_metadata.json"]
    named = [f for f in files if PurePosixPath(f[1]).name.lower().startswith("model")]
    pool = named or files
    return max(pool)[1] if pool else ""  # the largest (size, path)


def linked_tags(base_run_id: str, base_subpath: str) -> dict[str, str]:
    """base_model_run_id and base_model_path (`runs:/<id>/<path>`)."""
    return {"base_model_run_id": base_run_id, "base_model_path": f"runs:/{base_run_id}/{base_subpath}"}


def _millis(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)
