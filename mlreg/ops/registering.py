"""New versions: `register` (a training output folder), one commit; `target_store` is shared with `import dir`
(importers/from_folder.py). Each function takes the Workspace first, so `Registry` (api.py) offers it as a method."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core import lifecycle, runmeta
from ..core.files import MODEL_FILE, REGISTRY_DIR, check_name, version_dirname
from ..core.records import Base, Model, StageChange, Version
from ..core.views import Outcome
from ..errors import MlregError
from ..storage import gitops, txn
from . import reads
from .workspace import Workspace


def register(
    ws: Workspace,
    name: str,
    from_dir: Path | str,
    *,
    external: bool = False,
    params: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    experiment: str | None = None,
    base: str | None = None,
    enhancement_type: str | None = None,
    follow_symlinks: bool = False,
    commit: bool = True,
    branch: str | None = None,
    store: str | None = None,
    allow_large: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """A new version from a training output folder, committed as one commit.

    With an object store (`store`, else mlreg.yaml's artifacts.store) the files go there, uploaded and checked
    before the commit; git keeps only metadata.json. `progress(bytes, total)` reports the upload.
    """
    from ..core.scan import refuse_unportable

    check_name(name)
    folder = Path(from_dir)
    _refuse_registry_source(ws, folder)
    out = runmeta.read_training_dir(folder, follow_symlinks)
    if not external:
        refuse_unportable([p.relative_to(folder).as_posix() for p in out.files], str(folder))
    if enhancement_type and not base:
        raise MlregError("--enhancement-type needs --base NAME@REF")
    with ws.writing(commit, branch):
        gitops.clean_stale_temp(ws.files.model_dir(name))
        _refuse_broken_model(ws, name, check_clean=commit and branch is None)
        nums = ws.version_numbers(name)  # the commit's (a missing or sparse folder cannot hide one)
        number = (nums[-1] if nums else 0) + 1
        _refuse_reuse(ws, name, number)
        now, by = ws.stamp()
        record = Version(
            name=name,
            version=number,
            created_at=now,
            created_by=by,
            stage=ws.settings.initial,
            description=description if description is not None else out.description,
            run=out.run,
            params=out.params | (params or {}),
            metrics=out.metrics | (metrics or {}),
            tags=out.tags | (tags or {}),
            lineage=out.lineage,
            stage_history=[StageChange(to=ws.settings.initial, at=now, by=by, action="register", reason="registered")],
        )
        if experiment:
            record.run.experiment = experiment
        files: dict[str, gitops.Content] = {}
        if base:
            _enhance(ws, record, base, enhancement_type or "continued", now, files)
        vdir = f"{REGISTRY_DIR}/{name}/{version_dirname(number)}"
        named = [(p.relative_to(folder).as_posix(), p) for p in out.files]
        target = None if external else target_store(ws, store, named, allow_large)
        steps = [_upload_step(ws, record, out.files, folder, target, progress)] if target else []
        for path in out.files if not target else []:
            art = runmeta.artifact_for(path, folder, external)
            record.artifacts.append(art)
            if not external:
                files[f"{vdir}/{art.path}"] = path
        if external and (main := runmeta.main_model_file(out.files)):
            record.params.setdefault("external_model_path", str(main.resolve()))
        rel, data = ws.files.version_file(record)
        files[rel] = data
        ws.byte_exact(files)
        if not ws.has_file(f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"):
            files.update([ws.files.model_file(Model(name=name))])
        change = gitops.WriteSet(
            "register", name, number, f"register {name} v{number}", files, [vdir], body=_register_body(record)
        )
        done = ws.apply(change, commit, branch, steps)
    done.record, done.notes = record, out.notes
    return done


def _upload_step(
    ws: Workspace,
    record: Version,
    files: list[Path],
    folder: Path,
    store: str,
    progress: Callable[[int, int], None] | None,
) -> Callable[[txn.Transaction], None]:
    """The transaction's prepare step that puts the version's files in the store (after the write's checks,
    before the commit point: killed meanwhile, nothing is committed and a rerun reuses what landed) and records
    their URIs, digests and sizes in metadata.json."""
    from ..objects.uploads import upload_version, version_uri

    def upload(t: txn.Transaction) -> None:
        record.artifacts = upload_version(
            files, folder, version_uri(store, record.name, record.version, ws.root), progress
        )
        rel, data = ws.files.version_file(record)
        t.change.files[rel] = data

    return upload


def _register_body(v: Version) -> str:
    lines = [v.description] if v.description else []
    if v.metrics:
        lines.append("Metrics: " + ", ".join(f"{k}={v.metrics[k]:g}" for k in sorted(v.metrics)))
    if v.lineage.base:
        lines.append(f"Enhances {v.lineage.base.model} v{v.lineage.base.version} ({v.lineage.enhancement_type}).")
    return "\n".join(lines)


def _refuse_registry_source(ws: Workspace, folder: Path) -> None:
    src = folder.resolve()
    if ws.root.is_relative_to(src) or src.is_relative_to(ws.files.registry_dir.resolve()):
        raise MlregError(
            f"{folder}: --from-dir must be a training output folder, not the repository, "
            "a folder holding it, or a folder of registry/"
        )


def _refuse_broken_model(ws: Workspace, name: str, check_clean: bool) -> None:
    """register adds to a model only when every file of it reads and validates, its folder holds nothing
    uncommitted (a version folder left by --no-commit would be skipped over) and its name does not collide
    with another model's on a case-insensitive file system."""
    gitops.refuse_escape(ws.root, [f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"])
    if not ws.files.has_model(name):
        clash = [m for m in ws.files.model_names() if m.lower() == name.lower()]
        if clash:
            raise MlregError(
                f"model name {name!r} collides with the existing model {clash[0]!r}: they differ only "
                "in letter case, and Windows and macOS checkouts cannot hold both"
            )
        return
    try:
        ws.files.model(name)
        ws.files.versions(name)
    except MlregError as e:
        problems = str(e).splitlines()
        raise MlregError(
            "\n".join(problems) + f"\nregister refuses to add to model {name!r} while a file of it "
            "is malformed; fix it first (`mlreg validate` lists every problem)"
        ) from None
    if check_clean:
        dirty = gitops.Git(ws.root).dirty([f"{REGISTRY_DIR}/{name}"])
        if dirty:
            shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
            raise MlregError(
                f"{shown}: uncommitted in model {name!r}'s folder (left by --no-commit or by hand); "
                "commit or remove it first, so version numbers stay contiguous in git"
            )


def target_store(ws: Workspace, store: str | None, files: list[tuple[str, Path]], allow_large: bool) -> str | None:
    """The object store new files go to; without one, files (name, path) over git_max_file_mb are refused."""
    from ..objects.stores import normalize
    from ..objects.uploads import too_large

    target = store or ws.settings.store
    if target:
        return normalize(target)
    limit = ws.settings.git_max_file_mb
    big = [] if allow_large else too_large(files, limit)
    if big:
        listed = ", ".join(f"{rel} ({size / 1048576:.1f} MB)" for rel, size in big[:5])
        raise MlregError(
            f"{listed}: larger than artifacts.git_max_file_mb ({limit:g} MB) and no object store is "
            "configured; set artifacts.store in mlreg.yaml (s3://BUCKET/PREFIX or file:///FOLDER) "
            "or pass --store URI, or --allow-large to commit the file(s) to git anyway"
        )
    return None


def _refuse_reuse(ws: Workspace, name: str, number: int) -> None:
    """Version numbers are never reused: a number whose folder was deleted in git stays taken (in a shallow
    clone that cannot be proven: refused)."""
    gitops.refuse_shallow(ws.root)
    gone = gitops.deleted_versions(ws.root, name, ws.snapshot_commit)
    if number in gone:
        sha = gone[number][:10]
        raise MlregError(
            f"registry/{name}/v{number} existed and was deleted in commit {sha}; version numbers are "
            f"never reused: restore it with `git checkout {sha}^ -- registry/{name}/v{number}`"
        )


def _enhance(ws: Workspace, record: Version, base_ref: str, etype: str, now: str, files: dict) -> None:
    base_name, ref = lifecycle.split_ref(base_ref)
    base = reads.get(ws, base_name, ref or "latest").record
    record.lineage.model_type = etype
    record.lineage.enhancement_type = etype
    record.lineage.base = Base(model=base.name, version=base.version)
    record.lineage.enhancement_timestamp = now
    if record.lineage.previous_timesteps is None and base.lineage.total_timesteps is not None:
        record.lineage.previous_timesteps = base.lineage.total_timesteps
    record.metrics |= lifecycle.improvements(record.metrics, base.metrics)
    if base.name != record.name:  # let reads of the base model find the versions that make it `old`
        m = ws.files.model(base.name)
        if record.name not in m.derived_models:
            m.derived_models.append(record.name)
            files.update([ws.files.model_file(m)])
