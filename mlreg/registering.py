"""New versions: `register` (a training output folder) and `import dir` (a folder-per-version layout), each
one commit. Each function takes the Workspace first, so `Registry` (api.py) offers it as a method."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import gitops, lifecycle, reads, runmeta, txn
from .errors import MlregError
from .records import Artifact, Base, Model, StageChange, Version
from .store import MODEL_FILE, REGISTRY_DIR, check_name, version_dirname
from .views import Outcome
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
    from .scan import refuse_unportable

    check_name(name)
    folder = Path(from_dir)
    _refuse_registry_source(ws, folder)
    out = runmeta.read_training_dir(folder, follow_symlinks)
    if not external:
        refuse_unportable([p.relative_to(folder).as_posix() for p in out.files], str(folder))
    if enhancement_type and not base:
        raise MlregError("--enhancement-type needs --base NAME@REF")
    with ws.writing(commit, branch):
        gitops.clean_stale_temp(ws.store.model_dir(name))
        _refuse_broken_model(ws, name, check_clean=commit and branch is None)
        nums = ws.version_numbers(name)  # the commit's (a missing or sparse folder cannot hide one)
        number = (nums[-1] if nums else 0) + 1
        _refuse_reuse(ws, name, number)
        now, by = ws.stamp()
        record = Version(
            name=name, version=number, created_at=now, created_by=by, stage=ws.settings.initial,
            description=description if description is not None else out.description,
            run=out.run, params=out.params | (params or {}), metrics=out.metrics | (metrics or {}),
            tags=out.tags | (tags or {}), lineage=out.lineage,
            stage_history=[StageChange(to=ws.settings.initial, at=now, by=by, action="register",
                                       reason="registered")],
        )
        if experiment:
            record.run.experiment = experiment
        files: dict[str, gitops.Content] = {}
        if base:
            _enhance(ws, record, base, enhancement_type or "continued", now, files)
        vdir = f"{REGISTRY_DIR}/{name}/{version_dirname(number)}"
        named = [(p.relative_to(folder).as_posix(), p) for p in out.files]
        target = None if external else _store_for(ws, store, named, allow_large)
        steps = [_upload_step(ws, record, out.files, folder, target, progress)] if target else []
        for path in out.files if not target else []:
            art = runmeta.artifact_for(path, folder, external)
            record.artifacts.append(art)
            if not external:
                files[f"{vdir}/{art.path}"] = path
        if external and (main := runmeta.main_model_file(out.files)):
            record.params.setdefault("external_model_path", str(main.resolve()))
        rel, data = ws.store.version_file(record)
        files[rel] = data
        ws.byte_exact(files)
        if not ws.has_file(f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"):
            files.update([ws.store.model_file(Model(name=name))])
        change = gitops.ChangeSet("register", name, number, f"register {name} v{number}", files, [vdir],
                                  body=_register_body(record))
        done = ws.apply(change, commit, branch, steps)
    done.record, done.notes = record, out.notes
    return done


def _upload_step(ws: Workspace, record: Version, files: list[Path], folder: Path, store: str,
                 progress: Callable[[int, int], None] | None) -> Callable[[txn.Transaction], None]:
    """The transaction's prepare step that puts the version's files in the store (after the write's checks,
    before the commit point: killed meanwhile, nothing is committed and a rerun reuses what landed) and records
    their URIs, digests and sizes in metadata.json."""
    from .uploads import upload_version, version_uri

    def upload(t: txn.Transaction) -> None:
        record.artifacts = upload_version(files, folder, version_uri(store, record.name, record.version, ws.root),
                                          progress)
        rel, data = ws.store.version_file(record)
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
    if ws.root.is_relative_to(src) or src.is_relative_to(ws.store.registry_dir.resolve()):
        raise MlregError(f"{folder}: --from-dir must be a training output folder, not the repository, "
                         "a folder holding it, or a folder of registry/")


def _refuse_broken_model(ws: Workspace, name: str, check_clean: bool) -> None:
    """register adds to a model only when every file of it reads and validates, its folder holds nothing
    uncommitted (a version folder left by --no-commit would be skipped over) and its name does not collide
    with another model's on a case-insensitive file system."""
    gitops.refuse_escape(ws.root, [f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"])
    if not ws.store.has_model(name):
        clash = [m for m in ws.store.model_names() if m.lower() == name.lower()]
        if clash:
            raise MlregError(f"model name {name!r} collides with the existing model {clash[0]!r}: they differ only "
                             "in letter case, and Windows and macOS checkouts cannot hold both")
        return
    try:
        ws.store.model(name)
        ws.store.versions(name)
    except MlregError as e:
        problems = str(e).splitlines()
        raise MlregError("\n".join(problems) + f"\nregister refuses to add to model {name!r} while a file of it "
                         "is malformed; fix it first (`mlreg validate` lists every problem)") from None
    if check_clean:
        dirty = gitops.Git(ws.root).dirty([f"{REGISTRY_DIR}/{name}"])
        if dirty:
            shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
            raise MlregError(f"{shown}: uncommitted in model {name!r}'s folder (left by --no-commit or by hand); "
                             "commit or remove it first, so version numbers stay contiguous in git")


def _store_for(ws: Workspace, store: str | None, files: list[tuple[str, Path]], allow_large: bool) -> str | None:
    """The object store new files go to; without one, files (name, path) over git_max_file_mb are refused."""
    from .objstore import normalize
    from .uploads import too_large

    target = store or ws.settings.store
    if target:
        return normalize(target)
    limit = ws.settings.git_max_file_mb
    big = [] if allow_large else too_large(files, limit)
    if big:
        listed = ", ".join(f"{rel} ({size / 1048576:.1f} MB)" for rel, size in big[:5])
        raise MlregError(f"{listed}: larger than artifacts.git_max_file_mb ({limit:g} MB) and no object store is "
                         "configured; set artifacts.store in mlreg.yaml (s3://BUCKET/PREFIX or file:///FOLDER) "
                         "or pass --store URI, or --allow-large to commit the file(s) to git anyway")
    return None


def _refuse_reuse(ws: Workspace, name: str, number: int) -> None:
    """Version numbers are never reused: a number whose folder was deleted in git stays taken (in a shallow
    clone that cannot be proven: refused)."""
    gitops.refuse_shallow(ws.root)
    gone = gitops.deleted_versions(ws.root, name, ws.snapshot_commit)
    if number in gone:
        sha = gone[number][:10]
        raise MlregError(f"registry/{name}/v{number} existed and was deleted in commit {sha}; version numbers are "
                         f"never reused: restore it with `git checkout {sha}^ -- registry/{name}/v{number}`")


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
        m = ws.store.model(base.name)
        if record.name not in m.derived_models:
            m.derived_models.append(record.name)
            files.update([ws.store.model_file(m)])


def import_dir(ws: Workspace, path: Path | str, model: str | None = None, *, dry_run: bool = False,
               commit: bool = True, branch: str | None = None, store: str | None = None, allow_large: bool = False,
               progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Import a folder-per-version layout (folders with a metadata.json each) as new versions, one commit.

    Like register: with an object store (`store`, else artifacts.store) the files go there (a prepare step of the
    transaction) and git keeps only metadata.json; without one, files over git_max_file_mb are refused unless
    `allow_large`."""
    from .importers import folder as importer
    from .scan import refuse_unportable

    root = Path(path).resolve()
    legacy = importer.scan(root, check_name(model) if model else None)
    with ws.writing(commit, branch, dry_run):
        notes = importer.renames(legacy)
        before = len(legacy)
        legacy = importer.not_yet_imported(legacy, _legacy_digests(ws, {v.model for v in legacy}))
        if before > len(legacy):
            notes.append(f"{before - len(legacy)} version(s) skipped: already imported (same legacy metadata.json)")
        if not legacy:
            return Outcome("import", "", None, [], notes=notes)
        now, by = ws.stamp()
        files: dict[str, gitops.Content] = {}
        folders, records, uploads = [], [], []
        parts = [importer.version_parts(old, root) for old in legacy]
        for _params, _artifacts, copies in parts:  # the one name rule for artifact paths, as register
            refuse_unportable(list(copies), str(root))
        target = _store_for(ws, store, [(src.relative_to(root).as_posix(), src) for _, _, copies in parts
                                        for src in copies.values()], allow_large)
        if not dry_run:
            gitops.refuse_shallow(ws.root)
        next_number = {m: (ws.version_numbers(m) or [0])[-1] + 1 for m in {v.model for v in legacy}}
        for old, (params, artifacts, copies) in zip(legacy, parts, strict=True):
            number = next_number[old.model]
            next_number[old.model] += 1
            record = Version(
                name=old.model, version=number, created_at=now, created_by=by, stage=ws.settings.initial,
                description=f"Imported from {params['imported_from']} ({old.label})", run=old.run,
                params=params, metrics=old.metrics, lineage=old.lineage, notes=old.notes, artifacts=artifacts,
                stage_history=[StageChange(to=ws.settings.initial, at=now, by=by, action="import",
                                           reason=f"imported from {params['imported_from']}")],
            )
            vdir = f"{REGISTRY_DIR}/{old.model}/{version_dirname(number)}"
            if target:
                uploads.extend(_stored_artifacts(record, copies, _namespace(ws, target)))
            else:
                files.update({f"{vdir}/{rel}": src for rel, src in copies.items()})
            files.update([ws.store.version_file(record)])
            folders.append(vdir)
            records.append(record)
        for name in sorted(next_number):
            if not ws.has_file(f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"):
                files.update([ws.store.model_file(Model(name=name))])
        ws.byte_exact(files)
        models = sorted(next_number)
        subject = f"import {len(records)} version(s) of {', '.join(models)} from {root.name}"
        body = "\n".join(f"{r.name} v{r.version} <- {r.params['imported_from']}" for r in records)
        change = gitops.ChangeSet("import", models[0] if len(models) == 1 else "", None, subject, files,
                                  folders, body=body)
        if dry_run:
            return Outcome("import", change.model, None, sorted(files), records=records, notes=notes)
        steps = [_import_upload_step(uploads, progress)] if uploads else []
        done = ws.apply(change, commit, branch, steps)
    done.records, done.notes = records, notes
    return done


def _stored_artifacts(record: Version, copies: dict[str, Path], store: str) -> list[tuple[Path, Artifact]]:
    """Point the record's artifacts (hashed already) at their objects; (source file, artifact) to upload."""
    from .uploads import object_uri, version_uri

    base = version_uri(store, record.name, record.version)
    for a in record.artifacts:
        a.uri = object_uri(base, a.path or "")
    return [(copies[a.path or ""], a) for a in record.artifacts]


def _namespace(ws: Workspace, store: str) -> str:
    from .uploads import registry_store

    return registry_store(ws.root, store) or store


def _import_upload_step(pending: list[tuple[Path, Artifact]],
                        progress: Callable[[int, int], None] | None) -> Callable[[txn.Transaction], None]:
    """The prepare step of a store-backed import: every file to its object, checked against its record."""
    from .uploads import upload_files

    def upload(t: txn.Transaction) -> None:
        done = upload_files([(src, a.uri or "") for src, a in pending], progress)
        for (src, a), up in zip(pending, done, strict=True):
            if (up.sha256, up.size) != (a.sha256, a.size):
                raise MlregError(f"{src}: changed while it was being imported (sha256 {up.sha256[:12]}..., size "
                                 f"{up.size}; recorded {a.sha256[:12]}..., {a.size}); nothing was committed: rerun")

    return upload


def _legacy_digests(ws: Workspace, models: set[str]) -> set[tuple[str, str]]:
    """(model, sha256 of the legacy metadata.json) of every version imported before."""
    from .importers.folder import LEGACY_METADATA

    return {(v.name, a.sha256) for m in models if ws.store.has_model(m)
            for v in ws.store.versions(m, validate=False) for a in v.artifacts if a.path == LEGACY_METADATA}
