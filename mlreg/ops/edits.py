"""Writes to existing models: init, promote, rollback, aliases, descriptions and tags, each one commit.

Each function takes the Workspace first, so `Registry` (api.py) offers it as a method.
"""

from __future__ import annotations

from ..core import lifecycle, runmeta
from ..core.files import REGISTRY_DIR, SETTINGS_FILE, check_name, dumps_yaml
from ..core.records import PRESETS, Model, Settings, StageChange, Version
from ..core.suggest import did_you_mean
from ..core.views import Outcome
from ..errors import MlregError, NotFound, UsageError
from ..storage import gitops
from . import reads
from .workspace import Workspace

# what init adds to .gitignore: mlreg's local state, and `mlreg report`'s default output (anchored: a `site/`
# folder deeper in the repository is the user's own)
IGNORED = (".mlreg/", "/site/")


def init(ws: Workspace, preset: str = "default", commit: bool = True, branch: str | None = None) -> Outcome:
    """Write mlreg.yaml, registry/ and the .gitignore lines for .mlreg/ and the report's site/."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
    if (ws.root / SETTINGS_FILE).exists():
        raise MlregError(f"{SETTINGS_FILE} already exists in {ws.root}")
    files: dict[str, gitops.Content] = {
        SETTINGS_FILE: dumps_yaml(_with_registry_id(PRESETS[preset])),
        f"{REGISTRY_DIR}/.gitkeep": b"",
    }
    ws.byte_exact(files)
    ignore = ws.root / ".gitignore"
    old = ignore.read_text() if ignore.exists() else ""
    missing = [line for line in IGNORED if line not in old.split()]
    if missing:
        files[".gitignore"] = (
            old + ("" if not old or old.endswith("\n") else "\n") + "".join(f"{line}\n" for line in missing)
        ).encode()
    change = gitops.WriteSet("init", "", None, f"init registry (preset {preset})", files)
    return ws.apply(change, commit, branch)


def promote(
    ws: Workspace,
    name: str,
    ref: str,
    stage: str,
    reason: str | None = None,
    *,
    commit: bool = True,
    branch: str | None = None,
) -> Outcome:
    """Move a version to a stage along an allowed transition; an exclusive stage demotes its holder."""
    s = ws.settings
    lifecycle.check_stage(s, stage)
    if s.require_reason and not (reason or "").strip():
        raise MlregError("--reason is required by mlreg.yaml (lifecycle.require_reason)")
    with ws.writing(commit, branch):
        s = ws.settings  # the settings of the commit this write builds on
        v = ws.files.version(name, reads.resolve_number(ws, name, ref))
        if v.stage == stage:
            raise MlregError(f"{name} v{v.version} is already in stage {stage!r}")
        allowed = s.stages[v.stage].to if v.stage in s.stages else []
        if stage not in allowed:
            raise MlregError(
                f"{name} v{v.version}: {v.stage} -> {stage} is not an allowed transition; "
                f"from {v.stage} a version may move to: {', '.join(allowed) or 'nowhere'}"
            )
        now, by = ws.stamp()
        files: dict[str, gitops.Content] = {}
        demoted = []
        spec = s.stages[stage]
        if spec.exclusive:
            assert spec.demote_to is not None  # settings are checked: an exclusive stage has demote_to
            for other in ws.files.versions(name):
                if other.stage == stage and other.version != v.version:
                    _move(
                        other,
                        spec.demote_to,
                        now,
                        by,
                        "New champion promoted" if stage == "champion" else f"New {stage} promoted",
                        "demote",
                    )
                    files.update([ws.files.version_file(other)])
                    demoted.append(other.version)
        _move(v, stage, now, by, reason, "promote")
        files.update([ws.files.version_file(v)])
        subject = f"promote {name} v{v.version} to {stage}"
        body = f"{reason or ''}" + "".join(f"\nDemoted v{d} to {spec.demote_to}." for d in demoted)
        change = gitops.WriteSet("promote", name, v.version, subject, files, body=body)
        done = ws.apply(change, commit, branch)
    done.record, done.demoted = v, demoted
    return done


def rollback(
    ws: Workspace,
    name: str,
    to: str | None = None,
    reason: str | None = None,
    stage: str | None = None,
    *,
    commit: bool = True,
    branch: str | None = None,
) -> Outcome:
    """Give an exclusive stage back to a version that held it before; the current holder is demoted (one commit)."""
    from ..core.rollback import plan as rollback_plan

    if ws.settings.require_reason and not (reason or "").strip():
        raise MlregError("--reason is required by mlreg.yaml (lifecycle.require_reason)")
    with ws.writing(commit, branch):
        number = reads.resolve_number(ws, name, to) if to is not None else None
        plan = rollback_plan(ws.settings, name, ws.files.versions(check_name(name)), stage, number)
        (now, by), target, current = ws.stamp(), plan.target, plan.current
        files: dict[str, gitops.Content] = {}
        if current is not None:
            _move(
                current,
                plan.demote_to,
                now,
                by,
                f"Rolled back to v{target.version}: {reason}" if reason else f"Rolled back to v{target.version}",
                "demote",
            )
            files.update([ws.files.version_file(current)])
        _move(target, plan.stage, now, by, reason, "rollback")
        files.update([ws.files.version_file(target)])
        was = f" (was v{current.version})" if current else ""
        body = (reason or "") + (f"\nDemoted v{current.version} to {plan.demote_to}." if current else "")
        change = gitops.WriteSet(
            "rollback",
            name,
            target.version,
            f"rollback {name} {plan.stage} to v{target.version}{was}",
            files,
            body=body,
        )
        done = ws.apply(change, commit, branch)
    done.record, done.demoted = target, [current.version] if current else []
    return done


def alias_set(
    ws: Workspace, name: str, alias: str, ref: str, *, commit: bool = True, branch: str | None = None
) -> Outcome:
    """Point an alias at a version (moving it if it pointed elsewhere)."""
    _check_alias(alias, ws.settings)
    with ws.writing(commit, branch):
        n = reads.resolve_number(ws, name, ref)
        model = ws.files.model(name)
        old = model.aliases.get(alias)
        if old == n:  # safe to re-run in a script: nothing to change, no commit
            return _unchanged("alias", name, n, f"alias {alias!r} already points at v{n}")
        model.aliases[alias] = n
        subject = f"alias {name} {alias} -> v{n}" + (f" (was v{old})" if old else "")
        change = gitops.WriteSet("alias", name, n, subject, dict([ws.files.model_file(model)]))
        return ws.apply(change, commit, branch)


def alias_rm(ws: Workspace, name: str, alias: str, *, commit: bool = True, branch: str | None = None) -> Outcome:
    """Remove an alias."""
    with ws.writing(commit, branch):
        model = ws.files.model(check_name(name))
        if alias not in model.aliases:
            raise NotFound(
                f"{name}: no alias {alias!r} (aliases: {', '.join(model.aliases) or 'none'})"
                + did_you_mean(alias, model.aliases)
            )
        n = model.aliases.pop(alias)
        change = gitops.WriteSet(
            "alias-rm", name, n, f"alias rm {name} {alias} (was v{n})", dict([ws.files.model_file(model)])
        )
        return ws.apply(change, commit, branch)


def describe(ws: Workspace, name: str, description: str, *, commit: bool = True, branch: str | None = None) -> Outcome:
    """Set a model's description (model.yaml)."""
    with ws.writing(commit, branch):
        model = ws.files.model(check_name(name))
        if model.description == description:
            return _unchanged("describe", name, None, "the description is already that text")
        model.description = description
        change = gitops.WriteSet(
            "describe", name, None, f"describe {name}", dict([ws.files.model_file(model)]), body=description
        )
        return ws.apply(change, commit, branch)


def tag_set(
    ws: Workspace,
    name: str,
    ref: str | None,
    key: str,
    value: str | None,
    *,
    commit: bool = True,
    branch: str | None = None,
) -> Outcome:
    """Set (value given) or remove (value None) a human tag on a model (ref None) or a version."""
    runmeta.check_key(key, "tag")
    with ws.writing(commit, branch):
        if ref is None:
            target: Model | Version = ws.files.model(check_name(name))
            number = None
        else:
            target = ws.files.version(name, reads.resolve_number(ws, name, ref))
            number = target.version
        what = f"{name}" + (f" v{number}" if number else "")
        if value is None:
            if key not in target.tags:
                raise NotFound(f"{what}: no tag {key!r}")
            del target.tags[key]
            subject, action = f"tag rm {what} {key}", "tag-rm"
        elif target.tags.get(key) == value:
            return _unchanged("tag", name, number, f"tag {key!r} is already {value!r}")
        else:
            target.tags[key] = value
            subject, action = f"tag set {what} {key}={value}", "tag"
        rel_data = ws.files.model_file(target) if isinstance(target, Model) else ws.files.version_file(target)
        change = gitops.WriteSet(action, name, number, subject, dict([rel_data]))
        return ws.apply(change, commit, branch)


def _unchanged(action: str, name: str, number: int | None, why: str) -> Outcome:
    """A write that would change nothing: no file, no commit, and a note saying so."""
    return Outcome(action, name, number, [], notes=[f"{why}; nothing to change, no commit"])


def _move(v: Version, to: str, at: str, by: str, reason: str | None, action: str) -> None:
    v.stage_history.append(StageChange(to=to, at=at, by=by, action=action, from_=v.stage, reason=reason))
    v.stage = to


def _check_alias(alias: str, settings: Settings) -> None:
    from ..core.records import ALIAS_RE

    if not ALIAS_RE.match(alias) or alias == "latest":
        raise MlregError(f"invalid alias {alias!r}: expected a name starting with a letter or '_' (not 'latest')")
    reserved = lifecycle.stage_refs(settings)
    if alias in reserved:
        raise MlregError(
            f"alias {alias!r} is reserved: it names stage {reserved[alias]!r} in mlreg.yaml "
            f"(promote a version to {reserved[alias]!r} instead)"
        )
    if settings.aliases is not None and alias not in settings.aliases:
        raise MlregError(f"alias {alias!r} is not allowed by mlreg.yaml: expected one of {', '.join(settings.aliases)}")


def _with_registry_id(settings: dict) -> dict:
    """A new registry's settings with a fresh `registry_id` after `schema_version` (sync tags what it makes with it)."""
    import uuid

    items = list(settings.items())
    return dict(items[:1] + [("registry_id", uuid.uuid4().hex[:16])] + items[1:])
