"""Registry: every operation the CLI offers, as plain functions returning dataclasses. Never prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import gitops, lifecycle, runmeta, txn
from .errors import MlregError, NotFound, UsageError
from .records import PRESETS, Base, Model, Settings, StageChange, Version
from .store import MODEL_FILE, REGISTRY_DIR, SETTINGS_FILE, Store, check_name, dumps_yaml, version_dirname

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Outcome:
    """What a mutating operation did."""

    action: str
    model: str
    version: int | None
    paths: list[str]
    commit: str | None = None
    branch: str | None = None
    record: Version | None = None
    demoted: list[int] = field(default_factory=list)
    records: list[Version] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "model": self.model, "version": self.version, "commit": self.commit,
            "branch": self.branch, "paths": self.paths, "demoted": self.demoted,
            "versions": [{"model": r.name, "version": r.version, "from": r.params.get("imported_from")}
                         for r in self.records],
            "notes": self.notes,
        }


@dataclass
class VersionView:
    """A version record plus what is derived from the registry around it."""

    record: Version
    version_type: str
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict() | {"version_type": self.version_type, "path": str(self.folder)}


@dataclass
class ModelView:
    """A registered model with its versions."""

    model: Model
    versions: list[VersionView]

    def to_dict(self) -> dict[str, Any]:
        return self.model.to_dict() | {"versions": [v.to_dict() for v in self.versions]}


@dataclass
class ModelSummary:
    """One row of `list`: a model without reading its versions."""

    name: str
    description: str
    versions: int
    latest: int | None
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ArtifactCheck:
    """One artifact re-hashed by verify."""

    model: str
    version: int
    location: str
    status: str  # ok | mismatch | missing | unreachable
    expected: str
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Registry:
    """A git-native model registry rooted at a repository work tree."""

    def __init__(self, root: Path | str, clock: Clock = utc_now):
        self.root = Path(root).resolve()
        self.store = Store(self.root)
        self.clock = clock
        self._settings: Settings | None = None
        self.recovered: list[str] = txn.recover(self.root)  # an interrupted write, finished or undone

    @classmethod
    def open(cls, path: Path | str | None = None, clock: Clock = utc_now) -> Registry:
        """The registry `path` (default: the current folder) is in: the nearest folder upward holding
        mlreg.yaml within the git work tree, else the work tree's root."""
        from .repo import locate

        return cls(locate(path).root, clock=clock)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.store.settings()
        return self._settings

    # -- reads ------------------------------------------------------------------------------
    def models(self) -> list[ModelSummary]:
        """Every model, from model.yaml and folder names only (cheap)."""
        out = []
        for name in self.store.model_names():
            m, nums = self.store.model(name, validate=False), self.store.version_numbers(name)
            out.append(ModelSummary(name, m.description, len(nums), nums[-1] if nums else None, m.aliases))
        return out

    def versions(self, model: str | None = None, stage: str | None = None) -> list[VersionView]:
        """Every version (of one model, in one stage), ordered by model then version."""
        names = [check_name(model)] if model else self.store.model_names()
        if model and not self.store.has_model(model):
            raise NotFound(f"model {model!r} not found in {REGISTRY_DIR}/")
        if stage is not None and stage not in self.settings.stages:
            raise MlregError(f"unknown stage {stage!r}: expected one of {', '.join(self.settings.stages)}")
        records = [v for n in names for v in self.store.versions(n, validate=False)]
        views = self._views(records, records)
        return [v for v in views if stage is None or v.record.stage == stage]

    def _views(self, records: list[Version], pool: list[Version]) -> list[VersionView]:
        bases = {(c.lineage.base.model, c.lineage.base.version) for c in pool if c.lineage.base}
        return [VersionView(v, "old" if (v.name, v.version) in bases else "latest",
                            self.store.version_dir(v.name, v.version)) for v in records]

    def resolve_number(self, name: str, ref: str) -> int:
        """The version number a ref names in one model."""
        model = self.store.model(check_name(name), validate=False)
        nums = self.store.version_numbers(name)

        def holder(stage: str) -> int | None:
            held = [n for n in nums if self.store.version(name, n, validate=False).stage == stage]
            return lifecycle.sole_holder(name, stage, held)

        return lifecycle.resolve_ref(model, nums, self.store.settings(validate=False), ref, holder)

    def get(self, name: str, ref: str = "latest") -> VersionView:
        """One version by ref, with its derived fields; reads only the models its lineage touches.

        Reads skip the schema check (`validate` does it): the inference hot path never imports jsonschema.
        """
        model = self.store.model(check_name(name), validate=False)
        pool = self._lineage_pool(name, model)  # the model's folder is read once, not once per question
        own = {v.version: v for v in pool if v.name == name}

        def holder(stage: str) -> int | None:
            return lifecycle.sole_holder(name, stage, [n for n, v in own.items() if v.stage == stage])

        n = lifecycle.resolve_ref(model, sorted(own), self.store.settings(validate=False), ref, holder)
        return self._views([own[n]], pool)[0]

    def _lineage_pool(self, name: str, model: Model | None = None) -> list[Version]:
        """Versions that could name a version of `name` as their base: its own and its derived models'."""
        model = model or self.store.model(name, validate=False)
        names = [name, *model.derived_models]
        return [v for n in dict.fromkeys(names) if self.store.has_model(n)
                for v in self.store.versions(n, validate=False)]

    def show(self, name: str) -> ModelView:
        """One model with every version."""
        model = self.store.model(check_name(name), validate=False)
        pool = self._lineage_pool(name, model)
        return ModelView(model, self._views([v for v in pool if v.name == name], pool))

    # -- init ------------------------------------------------------------------------------
    def init(self, preset: str = "default", commit: bool = True, branch: str | None = None) -> Outcome:
        """Write mlreg.yaml, registry/ and the .mlreg/ ignore line."""
        if preset not in PRESETS:
            raise UsageError(f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
        if (self.root / SETTINGS_FILE).exists():
            raise MlregError(f"{SETTINGS_FILE} already exists in {self.root}")
        files: dict[str, gitops.Content] = {
            SETTINGS_FILE: dumps_yaml(_with_registry_id(PRESETS[preset])),
            f"{REGISTRY_DIR}/.gitkeep": b"",
        }
        self._byte_exact(files)
        ignore = self.root / ".gitignore"
        old = ignore.read_text() if ignore.exists() else ""
        if ".mlreg/" not in old.split():
            files[".gitignore"] = (old + ("" if not old or old.endswith("\n") else "\n") + ".mlreg/\n").encode()
        change = gitops.ChangeSet("init", "", None, f"init registry (preset {preset})", files)
        return self._apply(change, commit, branch)

    # -- register ----------------------------------------------------------------------------
    def register(
        self,
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
        self._refuse_registry_source(folder)
        out = runmeta.read_training_dir(folder, follow_symlinks)
        if not external:
            refuse_unportable([p.relative_to(folder).as_posix() for p in out.files], str(folder))
        if enhancement_type and not base:
            raise MlregError("--enhancement-type needs --base NAME@REF")
        with txn.writing(self.root, commit and branch is None):
            gitops.clean_stale_temp(self.store.model_dir(name))
            self._refuse_broken_model(name, check_clean=commit and branch is None)
            nums = self.store.version_numbers(name)
            number = (nums[-1] if nums else 0) + 1
            self._refuse_reuse(name, number)
            now = iso(self.clock())
            by = gitops.Git(self.root).user()
            record = Version(
                name=name, version=number, created_at=now, created_by=by, stage=self.settings.initial,
                description=description if description is not None else out.description,
                run=out.run, params=out.params | (params or {}), metrics=out.metrics | (metrics or {}),
                tags=out.tags | (tags or {}), lineage=out.lineage,
                stage_history=[StageChange(to=self.settings.initial, at=now, by=by, action="register",
                                           reason="registered")],
            )
            if experiment:
                record.run.experiment = experiment
            files: dict[str, gitops.Content] = {}
            if base:
                self._enhance(record, base, enhancement_type or "continued", now, files)
            vdir = f"{REGISTRY_DIR}/{name}/{version_dirname(number)}"
            target = None if external else self._store_for(store, out.files, folder, allow_large)
            if target:  # the bytes go to the object store, checked there, before anything is committed
                from .uploads import upload_version, version_uri

                record.artifacts = upload_version(out.files, folder, version_uri(target, name, number), progress)
            for path in out.files if not target else []:
                art = runmeta.artifact_for(path, folder, external)
                record.artifacts.append(art)
                if not external:
                    files[f"{vdir}/{art.path}"] = path
            if external and (main := runmeta.main_model_file(out.files)):
                record.params.setdefault("external_model_path", str(main.resolve()))
            rel, data = self.store.version_file(record)
            files[rel] = data
            self._byte_exact(files)
            if not (self.store.model_dir(name) / MODEL_FILE).exists():
                files.update([self.store.model_file(Model(name=name))])
            change = gitops.ChangeSet("register", name, number, f"register {name} v{number}", files, [vdir],
                                      body=_register_body(record))
            done = self._apply(change, commit, branch)
        done.record = record
        return done

    def _refuse_broken_model(self, name: str, check_clean: bool) -> None:
        """register adds to a model only when every file of it reads and validates, its folder holds nothing
        uncommitted (a version folder left by --no-commit would be skipped over) and its name does not collide
        with another model's on a case-insensitive file system."""
        gitops.refuse_escape(self.root, [f"{REGISTRY_DIR}/{name}/{MODEL_FILE}"])
        if not self.store.has_model(name):
            clash = [m for m in self.store.model_names() if m.lower() == name.lower()]
            if clash:
                raise MlregError(f"model name {name!r} collides with the existing model {clash[0]!r}: they differ only "
                                 "in letter case, and Windows and macOS checkouts cannot hold both")
            return
        try:
            self.store.model(name)
            self.store.versions(name)
        except MlregError as e:
            problems = str(e).splitlines()
            raise MlregError("\n".join(problems) + f"\nregister refuses to add to model {name!r} while a file of it "
                             "is malformed; fix it first (`mlreg validate` lists every problem)") from None
        if check_clean:
            dirty = gitops.Git(self.root).dirty([f"{REGISTRY_DIR}/{name}"])
            if dirty:
                shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
                raise MlregError(f"{shown}: uncommitted in model {name!r}'s folder (left by --no-commit or by hand); "
                                 "commit or remove it first, so version numbers stay contiguous in git")

    def _byte_exact(self, files: dict[str, gitops.Content]) -> None:
        """Add registry/.gitattributes (artifacts stored without line-ending conversion) when it is missing."""
        if not (self.root / txn.ATTRIBUTES).exists():
            files[txn.ATTRIBUTES] = txn.ATTRIBUTES_TEXT

    def _store_for(self, store: str | None, files: list[Path], folder: Path, allow_large: bool) -> str | None:
        """The object store new files go to; without one, files over git_max_file_mb are refused."""
        from .objstore import normalize
        from .uploads import too_large

        target = store or self.settings.store
        if target:
            return normalize(target)
        limit = self.settings.git_max_file_mb
        big = [] if allow_large else too_large(files, folder, limit)
        if big:
            listed = ", ".join(f"{rel} ({size / 1048576:.1f} MB)" for rel, size in big[:5])
            raise MlregError(f"{listed}: larger than artifacts.git_max_file_mb ({limit:g} MB) and no object store is "
                             "configured; set artifacts.store in mlreg.yaml (s3://BUCKET/PREFIX or file:///FOLDER) "
                             "or pass --store URI, or --allow-large to commit the file(s) to git anyway")
        return None

    def _refuse_reuse(self, name: str, number: int) -> None:
        """Version numbers are never reused: a number whose folder was deleted in git stays taken."""
        gone = gitops.deleted_versions(self.root, name)
        if number in gone:
            sha = gone[number][:10]
            raise MlregError(f"registry/{name}/v{number} existed and was deleted in commit {sha}; version numbers are "
                             f"never reused: restore it with `git checkout {sha}^ -- registry/{name}/v{number}`")

    def _legacy_digests(self, models: set[str]) -> set[tuple[str, str]]:
        """(model, sha256 of the legacy metadata.json) of every version imported before."""
        from .importer import LEGACY_METADATA

        return {(v.name, a.sha256) for m in models if self.store.has_model(m)
                for v in self.store.versions(m, validate=False) for a in v.artifacts if a.path == LEGACY_METADATA}

    def _refuse_registry_source(self, folder: Path) -> None:
        src = folder.resolve()
        if self.root.is_relative_to(src) or src.is_relative_to(self.store.registry_dir.resolve()):
            raise MlregError(f"{folder}: --from-dir must be a training output folder, not the repository, "
                             "a folder holding it, or a folder of registry/")

    def _enhance(self, record: Version, base_ref: str, etype: str, now: str, files: dict) -> None:
        base_name, ref = lifecycle.split_ref(base_ref)
        base = self.get(base_name, ref or "latest").record
        record.lineage.model_type = etype
        record.lineage.enhancement_type = etype
        record.lineage.base = Base(model=base.name, version=base.version)
        record.lineage.enhancement_timestamp = now
        if record.lineage.previous_timesteps is None and base.lineage.total_timesteps is not None:
            record.lineage.previous_timesteps = base.lineage.total_timesteps
        record.metrics |= lifecycle.improvements(record.metrics, base.metrics)
        if base.name != record.name:  # let reads of the base model find the versions that make it `old`
            m = self.store.model(base.name)
            if record.name not in m.derived_models:
                m.derived_models.append(record.name)
                files.update([self.store.model_file(m)])

    # -- import ----------------------------------------------------------------------------
    def import_dir(self, path: Path | str, model: str | None = None, *, dry_run: bool = False,
                   commit: bool = True, branch: str | None = None) -> Outcome:
        """Import a folder-per-version layout (folders with a metadata.json each) as new versions, one commit."""
        from . import importer

        root = Path(path).resolve()
        legacy = importer.scan(root, check_name(model) if model else None)
        with txn.writing(self.root, commit and branch is None and not dry_run):
            notes = importer.renames(legacy)
            before = len(legacy)
            legacy = importer.not_yet_imported(legacy, self._legacy_digests({v.model for v in legacy}))
            if before > len(legacy):
                notes.append(f"{before - len(legacy)} version(s) skipped: already imported (same legacy metadata.json)")
            if not legacy:
                return Outcome("import", "", None, [], notes=notes)
            now, by = iso(self.clock()), gitops.Git(self.root).user()
            files: dict[str, gitops.Content] = {}
            folders, records = [], []
            next_number = {m: (self.store.version_numbers(m) or [0])[-1] + 1 for m in {v.model for v in legacy}}
            for old in legacy:
                number = next_number[old.model]
                next_number[old.model] += 1
                params, artifacts, copies = importer.version_parts(old, root)
                record = Version(
                    name=old.model, version=number, created_at=now, created_by=by, stage=self.settings.initial,
                    description=f"Imported from {params['imported_from']} ({old.label})", run=old.run,
                    params=params, metrics=old.metrics, lineage=old.lineage, notes=old.notes, artifacts=artifacts,
                    stage_history=[StageChange(to=self.settings.initial, at=now, by=by, action="import",
                                               reason=f"imported from {params['imported_from']}")],
                )
                vdir = f"{REGISTRY_DIR}/{old.model}/{version_dirname(number)}"
                files.update({f"{vdir}/{rel}": src for rel, src in copies.items()})
                files.update([self.store.version_file(record)])
                folders.append(vdir)
                records.append(record)
            for name in sorted(next_number):
                if not (self.store.model_dir(name) / MODEL_FILE).exists():
                    files.update([self.store.model_file(Model(name=name))])
            self._byte_exact(files)
            models = sorted(next_number)
            subject = f"import {len(records)} version(s) of {', '.join(models)} from {root.name}"
            body = "\n".join(f"{r.name} v{r.version} <- {r.params['imported_from']}" for r in records)
            change = gitops.ChangeSet("import", models[0] if len(models) == 1 else "", None, subject, files,
                                      folders, body=body)
            if dry_run:
                return Outcome("import", change.model, None, sorted(files), records=records, notes=notes)
            done = self._apply(change, commit, branch)
        done.records, done.notes = records, notes
        return done

    def import_mlflow(self, tracking_uri: str | None = None, models: list[str] | None = None, *,
                      external: bool = False, dry_run: bool = False, commit: bool = True, branch: str | None = None,
                      progress: Callable[[str, int], None] | None = None):
        """Import MLflow's registered models and versions (MLflow's numbers kept) in one commit.

        Reads MLflow only (never writes to it); returns a sync.importing.ImportReport.
        """
        from .sync import importing

        with txn.writing(self.root, commit and branch is None and not dry_run):
            now, by = iso(self.clock()), gitops.Git(self.root).user()
            with importing.prepare(self, tracking_uri, models, external=external, fetch=not dry_run, at=now,
                                   by=by, progress=progress) as prepared:
                change = prepared.change
                if change.files:
                    self._byte_exact(change.files)
                if dry_run or not change.files:
                    done = Outcome("import", change.model, None, sorted(change.files))
                else:
                    done = self._apply(change, commit, branch)
        return prepared.report(done, dry_run)

    # -- lifecycle ---------------------------------------------------------------------------
    def promote(self, name: str, ref: str, stage: str, reason: str | None = None, *,
                commit: bool = True, branch: str | None = None) -> Outcome:
        """Move a version to a stage along an allowed transition; an exclusive stage demotes its holder."""
        s = self.settings
        if stage not in s.stages:
            raise MlregError(f"unknown stage {stage!r}: expected one of {', '.join(s.stages)}")
        if s.require_reason and not (reason or "").strip():
            raise MlregError("--reason is required by mlreg.yaml (lifecycle.require_reason)")
        with txn.writing(self.root, commit and branch is None):
            v = self.store.version(name, self.resolve_number(name, ref))
            if v.stage == stage:
                raise MlregError(f"{name} v{v.version} is already in stage {stage!r}")
            allowed = s.stages[v.stage].to if v.stage in s.stages else []
            if stage not in allowed:
                raise MlregError(
                    f"{name} v{v.version}: {v.stage} -> {stage} is not an allowed transition; "
                    f"from {v.stage} a version may move to: {', '.join(allowed) or 'nowhere'}"
                )
            now, by = iso(self.clock()), gitops.Git(self.root).user()
            files: dict[str, gitops.Content] = {}
            demoted = []
            spec = s.stages[stage]
            if spec.exclusive:
                for other in self.store.versions(name):
                    if other.stage == stage and other.version != v.version:
                        _move(other, spec.demote_to, now, by, "New champion promoted" if stage == "champion"
                              else f"New {stage} promoted", "demote")
                        files.update([self.store.version_file(other)])
                        demoted.append(other.version)
            _move(v, stage, now, by, reason, "promote")
            files.update([self.store.version_file(v)])
            subject = f"promote {name} v{v.version} to {stage}"
            body = f"{reason or ''}" + "".join(f"\nDemoted v{d} to {spec.demote_to}." for d in demoted)
            change = gitops.ChangeSet("promote", name, v.version, subject, files, body=body)
            done = self._apply(change, commit, branch)
        done.record, done.demoted = v, demoted
        return done

    def rollback(self, name: str, to: str | None = None, reason: str | None = None, stage: str | None = None, *,
                 commit: bool = True, branch: str | None = None) -> Outcome:
        """Give an exclusive stage back to a version that held it before; the current holder is demoted (one commit)."""
        from . import rollback

        if self.settings.require_reason and not (reason or "").strip():
            raise MlregError("--reason is required by mlreg.yaml (lifecycle.require_reason)")
        with gitops.lock(self.root):
            number = self.resolve_number(name, to) if to is not None else None
            plan = rollback.plan(self.settings, name, self.store.versions(check_name(name)), stage, number)
            now, by, target, current = iso(self.clock()), gitops.Git(self.root).user(), plan.target, plan.current
            files: dict[str, gitops.Content] = {}
            if current is not None:
                _move(current, plan.demote_to, now, by, f"Rolled back to v{target.version}: {reason}" if reason
                      else f"Rolled back to v{target.version}", "demote")
                files.update([self.store.version_file(current)])
            _move(target, plan.stage, now, by, reason, "rollback")
            files.update([self.store.version_file(target)])
            was = f" (was v{current.version})" if current else ""
            body = (reason or "") + (f"\nDemoted v{current.version} to {plan.demote_to}." if current else "")
            change = gitops.ChangeSet("rollback", name, target.version,
                                      f"rollback {name} {plan.stage} to v{target.version}{was}", files, body=body)
            done = self._apply(change, commit, branch)
        done.record, done.demoted = target, [current.version] if current else []
        return done

    def alias_set(self, name: str, alias: str, ref: str, *, commit: bool = True,
                  branch: str | None = None) -> Outcome:
        """Point an alias at a version (moving it if it pointed elsewhere)."""
        _check_alias(alias, self.settings)
        with txn.writing(self.root, commit and branch is None):
            n = self.resolve_number(name, ref)
            model = self.store.model(name)
            old = model.aliases.get(alias)
            if old == n:
                raise MlregError(f"{name}: alias {alias!r} already points at v{n}")
            model.aliases[alias] = n
            subject = f"alias {name} {alias} -> v{n}" + (f" (was v{old})" if old else "")
            change = gitops.ChangeSet("alias", name, n, subject, dict([self.store.model_file(model)]))
            return self._apply(change, commit, branch)

    def alias_rm(self, name: str, alias: str, *, commit: bool = True, branch: str | None = None) -> Outcome:
        """Remove an alias."""
        with txn.writing(self.root, commit and branch is None):
            model = self.store.model(check_name(name))
            if alias not in model.aliases:
                raise NotFound(f"{name}: no alias {alias!r} (aliases: {', '.join(model.aliases) or 'none'})")
            n = model.aliases.pop(alias)
            change = gitops.ChangeSet("alias-rm", name, n, f"alias rm {name} {alias} (was v{n})",
                                      dict([self.store.model_file(model)]))
            return self._apply(change, commit, branch)

    def describe(self, name: str, description: str, *, commit: bool = True, branch: str | None = None) -> Outcome:
        """Set a model's description (model.yaml)."""
        with txn.writing(self.root, commit and branch is None):
            model = self.store.model(check_name(name))
            model.description = description
            change = gitops.ChangeSet("describe", name, None, f"describe {name}", dict([self.store.model_file(model)]),
                                      body=description)
            return self._apply(change, commit, branch)

    def tag_set(self, name: str, ref: str | None, key: str, value: str | None, *, commit: bool = True,
                branch: str | None = None) -> Outcome:
        """Set (value given) or remove (value None) a human tag on a model (ref None) or a version."""
        runmeta.check_key(key, "tag")
        with txn.writing(self.root, commit and branch is None):
            if ref is None:
                target: Model | Version = self.store.model(check_name(name))
                number = None
            else:
                target = self.store.version(name, self.resolve_number(name, ref))
                number = target.version
            what = f"{name}" + (f" v{number}" if number else "")
            if value is None:
                if key not in target.tags:
                    raise NotFound(f"{what}: no tag {key!r}")
                del target.tags[key]
                subject, action = f"tag rm {what} {key}", "tag-rm"
            else:
                target.tags[key] = value
                subject, action = f"tag set {what} {key}={value}", "tag"
            rel_data = self.store.model_file(target) if number is None else self.store.version_file(target)
            change = gitops.ChangeSet(action, name, number, subject, dict([rel_data]))
            return self._apply(change, commit, branch)

    def history(self, name: str, ref: str | None = None) -> list:
        """Every registration, promotion, demotion, alias move and tag change of a model (or version), oldest first."""
        from .history import weave

        only = self.resolve_number(name, ref) if ref else None
        self.store.model(check_name(name), validate=False)  # NotFound for an unknown model
        versions = self.store.versions(name, validate=False)
        return weave(gitops.log(self.root, f"{REGISTRY_DIR}/{name}"), versions, only)

    # -- queries: find, search, resolve (bulk reads skip per-file schema checks: `validate` does those) --
    def find_latest(self, model: str | None = None, model_type: str | None = None,
                    version_type: str | None = None, fallback_model_type: str | None = None) -> query.FindResult:
        """The newest version (created_at, then number) of a lineage model type and version type."""
        from . import query

        return query.find_latest(self._query_views(model), model=model, model_type=model_type,
                                 version_type=version_type, fallback_model_type=fallback_model_type)

    def find_best(self, metric: str, model: str | None = None, model_type: str | None = None,
                  higher_is_better: bool | None = None, fallback_model_type: str | None = None) -> query.FindResult:
        """The version with the best `metric` (direction from its name unless given); ties go to the newest."""
        from . import query

        return query.find_best(self._query_views(model), metric, model=model, model_type=model_type,
                               higher_is_better=higher_is_better, fallback_model_type=fallback_model_type)

    def find_by_stage(self, stage: str, params: dict[str, str] | None = None,
                      model: str | None = None) -> list[VersionView]:
        """Every version in `stage` (of one model) whose params equal all of `params`."""
        from . import query

        if stage not in self.settings.stages:
            raise MlregError(f"unknown stage {stage!r}: expected one of {', '.join(self.settings.stages)}")
        views = self._query_views(model)
        if self.settings.stages[stage].exclusive:  # two holders is an error naming both, never a silent pick
            held: dict[str, list[int]] = {}
            for v in views:
                if v.record.stage == stage:
                    held.setdefault(v.record.name, []).append(v.record.version)
            for name, numbers in sorted(held.items()):
                lifecycle.sole_holder(name, stage, numbers)
        return query.find_by_stage(views, stage, params or {})

    def search(self, expr: str = "", order_by: str | list[str] | None = None,
               max_results: int | None = None) -> list[VersionView]:
        """Versions matching an MLflow-style filter expression, sorted by the order-by keys."""
        from . import query

        flt, order = query.parse_filter(expr), query.parse_order_by(order_by)
        pinned = flt.model_names()  # `name = 'x'` reads only that model's folder
        names = None if pinned is None else sorted(set(pinned) & set(self.store.model_names()))
        return query.search(self._query_views(names), flt, order, max_results)

    def resolve(self, ref: str, pull: bool = True,
                progress: Callable[[int, int], None] | None = None) -> query.Resolved:
        """`NAME@alias`, `NAME@stage`, `NAME/3`, `NAME@latest`, `models:/NAME@alias` -> version and local paths
        (store-backed files pulled into the cache on demand; `pull=False` gives their URIs instead)."""
        from . import query
        from .pulling import local_paths

        name, vref = query.split_model_uri(ref)
        view = self.get(name, vref)
        paths, files_dir = local_paths(view.record, view.folder, pull, progress)
        return query.Resolved(ref, view, paths, files_dir)

    # -- object storage ----------------------------------------------------------------------
    def pull(self, ref: str, dest: Path | str | None = None,
             progress: Callable[[int, int], None] | None = None):
        """Download a version's stored files into the local cache (sha256 checked) and place them in `dest`
        (default: the cache's folder for the version); returns a pulling.PullReport."""
        from .pulling import pull_record
        from .query import split_model_uri

        name, vref = split_model_uri(ref)
        view = self.get(name, vref)
        return pull_record(view.record, view.folder, Path(dest) if dest is not None else None, progress)

    def gc(self, dry_run: bool = False, min_age: float = 3600.0):
        """Remove objects under the store that no version records on any branch (or the work tree); objects
        younger than `min_age` seconds are kept (a register may be uploading them). Returns uploads.GcReport."""
        from .uploads import collect_garbage

        if not self.settings.store:
            raise MlregError(f"{SETTINGS_FILE}: no artifacts.store configured; gc cleans the object store")
        recorded = gitops.recorded_uris(self.root)
        recorded |= {a.uri for n in self.store.model_names() for v in self.store.versions(n, validate=False)
                     for a in v.artifacts if a.uri}
        return collect_garbage(self.settings.store, recorded, dry_run, min_age)

    def _query_views(self, model: str | list[str] | None = None) -> list[VersionView]:
        """Views of every version, or of some models' (version_type from them and their derived models)."""
        if model is None:
            records = [v for n in self.store.model_names() for v in self.store.versions(n, validate=False)]
            return self._views(records, records)
        names = [check_name(model)] if isinstance(model, str) else model
        for n in names:
            if not self.store.has_model(n):
                raise NotFound(f"model {n!r} not found in {REGISTRY_DIR}/")
        derived = [d for n in names for d in self.store.model(n).derived_models if self.store.has_model(d)]
        pool = {n: self.store.versions(n, validate=False) for n in dict.fromkeys([*names, *derived])}
        return self._views([v for n in names for v in pool[n]], [v for vs in pool.values() for v in vs])

    # -- checks ------------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Every schema and invariant problem of the work tree's registry (empty when valid)."""
        from .checks import registry_problems

        if not (self.root / SETTINGS_FILE).exists() and not self.store.registry_dir.exists():
            raise MlregError(f"{self.root}: no registry here (no mlreg.yaml, no registry/); run `mlreg init` first")
        return registry_problems(self.store)

    def verify(self, name: str, ref: str | None = None, download: bool = False,
               progress: Callable[[int, int], None] | None = None) -> list[ArtifactCheck]:
        """Re-hash every artifact (of one version, or of every version) against its recorded digest. Stored files
        are checked in the store: existence and size, and with `download` their sha256."""
        from .uploads import check_stored

        records = [self.get(name, ref).record] if ref else self.store.versions(check_name(name))
        if not records:
            raise NotFound(f"model {name!r} has no versions")
        stored = [(v, a) for v in records for a in v.artifacts if a.stored]
        found = dict(zip(map(id, (a for _, a in stored)), check_stored([a for _, a in stored], download, progress)))
        return [ArtifactCheck(v.name, v.version, a.uri, *found[id(a)][:1], a.sha256, found[id(a)][1])
                if a.stored else _check_artifact(self.store, v, a) for v in records for a in v.artifacts]

    # -- pull-request review (changes.py) -------------------------------------------------------
    def diff(self, base: str | None = None, head: str | None = None):
        """The registry change HEAD (default: the working tree) makes when merged into BASE (default: the
        default branch); over a stretch of one branch's history, each first-parent step in turn."""
        from .gate import compare

        return compare(self.root, base, head)

    def validate_change(self, base: str, head: str | None = None) -> list[str]:
        """Every problem of HEAD (a ref, or the working tree) merged into BASE's tip, by BASE's rules."""
        from .gate import validate

        return validate(self.root, base, head)

    # -- report ----------------------------------------------------------------------------
    def report(self, out: Path | str = "site", models: list[str] | None = None, at: str = "HEAD", *,
               jobs: int | None = None, progress: Callable[[int, int], None] | None = None):
        """Write the static site of the registry at git ref `at` into `out`; returns a report.Built."""
        from .report import build

        return build(self.root, Path(out), models, at, jobs=jobs, progress=progress)

    # -- sync ------------------------------------------------------------------------------
    def sync(self, tracking_uri: str | None = None, *, model: str | None = None, dry_run: bool = False,
             check: bool = False, prune: bool = False, force: bool = False, artifacts: bool = False,
             progress: Callable[[str, int], None] | None = None):
        """Mirror the registry into MLflow (check / dry_run only compare); returns a sync.SyncReport."""
        from .sync import run_sync

        return run_sync(self, tracking_uri=tracking_uri, model=model, dry_run=dry_run, check=check, prune=prune,
                        force=force, artifacts=artifacts, progress=progress)

    # -- plumbing ----------------------------------------------------------------------------
    def _apply(self, change: gitops.ChangeSet, commit: bool, branch: str | None,
               prepare_steps: list | None = None) -> Outcome:
        """Write a change as one transaction (txn.py); `prepare_steps` run before the commit point."""
        if branch is not None and not branch.strip():
            raise UsageError("--branch needs a branch name")
        if branch is not None and not commit:
            raise UsageError("--branch and --no-commit contradict each other: --branch makes a commit")
        applied = txn.apply(self.root, change, commit=commit, branch=branch, prepare_steps=prepare_steps)
        return Outcome(change.action, change.model, change.version, applied.paths, applied.commit, applied.branch)


def _move(v: Version, to: str, at: str, by: str, reason: str | None, action: str) -> None:
    v.stage_history.append(StageChange(to=to, at=at, by=by, action=action, from_=v.stage, reason=reason))
    v.stage = to


def _check_alias(alias: str, settings: Settings) -> None:
    from .records import ALIAS_RE

    if not ALIAS_RE.match(alias) or alias == "latest":
        raise MlregError(f"invalid alias {alias!r}: expected a name starting with a letter or '_' (not 'latest')")
    reserved = lifecycle.stage_refs(settings)
    if alias in reserved:
        raise MlregError(f"alias {alias!r} is reserved: it names stage {reserved[alias]!r} in mlreg.yaml "
                         f"(promote a version to {reserved[alias]!r} instead)")
    if settings.aliases is not None and alias not in settings.aliases:
        raise MlregError(f"alias {alias!r} is not allowed by mlreg.yaml: expected one of {', '.join(settings.aliases)}")


def _register_body(v: Version) -> str:
    lines = [v.description] if v.description else []
    if v.metrics:
        lines.append("Metrics: " + ", ".join(f"{k}={v.metrics[k]:g}" for k in sorted(v.metrics)))
    if v.lineage.base:
        lines.append(f"Enhances {v.lineage.base.model} v{v.lineage.base.version} ({v.lineage.enhancement_type}).")
    return "\n".join(lines)


def _check_artifact(store: Store, v: Version, a) -> ArtifactCheck:
    from .runmeta import digest

    if a.path is not None:
        path, location = store.version_dir(v.name, v.version) / a.path, a.path
    else:
        location = a.uri
        path = Path(a.uri[len("file://"):] if a.uri.startswith("file://") else a.uri)
        if "://" in a.uri and not a.uri.startswith("file://"):
            return ArtifactCheck(v.name, v.version, location, "unreachable", a.sha256)
    if not path.is_file():
        status = "missing" if a.path is not None else "unreachable"
        return ArtifactCheck(v.name, v.version, location, status, a.sha256)
    actual = digest(path)
    return ArtifactCheck(v.name, v.version, location, "ok" if actual == a.sha256 else "mismatch", a.sha256, actual)


def _with_registry_id(settings: dict) -> dict:
    """A new registry's settings with a fresh `registry_id` after `schema_version` (sync tags what it makes with it)."""
    import uuid

    items = list(settings.items())
    return dict(items[:1] + [("registry_id", uuid.uuid4().hex[:16])] + items[1:])
