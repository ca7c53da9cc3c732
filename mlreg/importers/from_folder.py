"""`mlreg import dir`: a folder-per-version layout (folder.py reads it) brought into git as new versions, one
commit, through the same write path as `register` (uploads to the object store as a prepare step)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.files import MODEL_FILE, REGISTRY_DIR, check_name, version_dirname
from ..core.records import Artifact, Model, StageChange, Version
from ..core.views import Outcome
from ..errors import MlregError
from ..ops.registering import target_store
from ..ops.workspace import Workspace
from ..storage import gitops, txn
from . import folder as importer


def import_dir(
    ws: Workspace,
    path: Path | str,
    model: str | None = None,
    *,
    dry_run: bool = False,
    commit: bool = True,
    branch: str | None = None,
    store: str | None = None,
    allow_large: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Import a folder-per-version layout (folders with a metadata.json each) as new versions, one commit.

    Like register: with an object store (`store`, else artifacts.store) the files go there (a prepare step of the
    transaction) and git keeps only metadata.json; without one, files over git_max_file_mb are refused unless
    `allow_large`."""
    from ..core.scan import refuse_unportable

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
        target = target_store(
            ws,
            store,
            [(src.relative_to(root).as_posix(), src) for _, _, copies in parts for src in copies.values()],
            allow_large,
        )
        if not dry_run:
            gitops.refuse_shallow(ws.root)
        next_number = {m: (ws.version_numbers(m) or [0])[-1] + 1 for m in {v.model for v in legacy}}
        for old, (params, artifacts, copies) in zip(legacy, parts, strict=True):
            number = next_number[old.model]
            next_number[old.model] += 1
            record = Version(
                name=old.model,
                version=number,
                created_at=now,
                created_by=by,
                stage=ws.settings.initial,
                description=f"Imported from {params['imported_from']} ({old.label})",
                run=old.run,
                params=params,
                metrics=old.metrics,
                lineage=old.lineage,
                notes=old.notes,
                artifacts=artifacts,
                stage_history=[
                    StageChange(
                        to=ws.settings.initial,
                        at=now,
                        by=by,
                        action="import",
                        reason=f"imported from {params['imported_from']}",
                    )
                ],
            )
            vdir = f"{REGISTRY_DIR}/{old.model}/{version_dirname(number)}"
            if target:
                uploads.extend(_stored_artifacts(record, copies, _namespace(ws, target)))
            else:
                files.update({f"{vdir}/{rel}": src for rel, src in copies.items()})
            files.update([ws.files.version_file(record)])
            folders.append(vdir)
            records.append(record)
        for name in sorted(next_number):
            if not ws.has_file(f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"):
                files.update([ws.files.model_file(Model(name=name))])
        ws.byte_exact(files)
        models = sorted(next_number)
        subject = f"import {len(records)} version(s) of {', '.join(models)} from {root.name}"
        body = "\n".join(f"{r.name} v{r.version} <- {r.params['imported_from']}" for r in records)
        change = gitops.WriteSet(
            "import", models[0] if len(models) == 1 else "", None, subject, files, folders, body=body
        )
        if dry_run:
            return Outcome("import", change.model, None, sorted(files), records=records, notes=notes)
        steps = [_import_upload_step(uploads, progress)] if uploads else []
        done = ws.apply(change, commit, branch, steps)
    done.records, done.notes = records, notes
    return done


def _stored_artifacts(record: Version, copies: dict[str, Path], store: str) -> list[tuple[Path, Artifact]]:
    """Point the record's artifacts (hashed already) at their objects; (source file, artifact) to upload."""
    from ..objects.uploads import object_uri, version_uri

    base = version_uri(store, record.name, record.version)
    for a in record.artifacts:
        a.uri = object_uri(base, a.path or "")
    return [(copies[a.path or ""], a) for a in record.artifacts]


def _namespace(ws: Workspace, store: str) -> str:
    from ..objects.uploads import registry_store

    return registry_store(ws.root, store) or store


def _import_upload_step(
    pending: list[tuple[Path, Artifact]], progress: Callable[[int, int], None] | None
) -> Callable[[txn.Transaction], None]:
    """The prepare step of a store-backed import: every file to its object, checked against its record."""
    from ..objects.uploads import upload_files

    def upload(t: txn.Transaction) -> None:
        done = upload_files([(src, a.uri or "") for src, a in pending], progress)
        for (src, a), up in zip(pending, done, strict=True):
            if (up.sha256, up.size) != (a.sha256, a.size):
                raise MlregError(
                    f"{src}: changed while it was being imported (sha256 {up.sha256[:12]}..., size "
                    f"{up.size}; recorded {a.sha256[:12]}..., {a.size}); nothing was committed: rerun"
                )

    return upload


def _legacy_digests(ws: Workspace, models: set[str]) -> set[tuple[str, str]]:
    """(model, sha256 of the legacy metadata.json) of every version imported before."""
    return {
        (v.name, a.sha256)
        for m in models
        if ws.files.has_model(m)
        for v in ws.files.versions(m, validate=False)
        for a in v.artifacts
        if a.path == importer.LEGACY_METADATA
    }
