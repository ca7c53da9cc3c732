"""`mlreg rollback`: which version gets an exclusive stage back, and who gives it up. Rules only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MlregError, NotFound, UsageError
from .records import Settings, StageSpec, Version


@dataclass
class RollbackPlan:
    """The rollback to make: `target` takes `stage` back; `current` (if any) moves to `demote_to`."""

    stage: str
    demote_to: str
    target: Version
    current: Version | None


def exclusive_stage(settings: Settings, stage: str | None) -> StageSpec:
    """The exclusive stage to roll back: the one named, else the lifecycle's only exclusive stage."""
    exclusive = [s for s in settings.stages.values() if s.exclusive]
    if stage is not None:
        spec = settings.stages.get(stage)
        if spec is None or not spec.exclusive:
            raise MlregError(
                f"stage {stage!r} is not an exclusive stage of mlreg.yaml; rollback returns an exclusive "
                f"stage ({', '.join(s.name for s in exclusive) or 'there is none'})"
            )
        return spec
    if len(exclusive) == 1:
        return exclusive[0]
    if not exclusive:
        raise MlregError("mlreg.yaml has no exclusive stage: there is nothing to roll back")
    raise UsageError(
        f"mlreg.yaml has several exclusive stages: name one with --stage ({', '.join(s.name for s in exclusive)})"
    )


def last_held(v: Version, stage: str) -> str | None:
    """When `v` last entered `stage` by its stage_history (None: it never held it)."""
    return max((c.at for c in v.stage_history if c.to == stage), default=None)


def plan(
    settings: Settings, name: str, versions: list[Version], stage: str | None = None, to: int | None = None
) -> RollbackPlan:
    """Who takes the stage back (`to`, else the version that held it most recently before the current
    holder) and who gives it up; refused when rollback is off or the target never held the stage."""
    if not settings.rollback:
        raise MlregError(
            "rollback is turned off in mlreg.yaml (lifecycle.rollback: false); promote a version step by step instead"
        )
    spec = exclusive_stage(settings, stage)
    holders = [v for v in versions if v.stage == spec.name]
    if len(holders) > 1:
        raise MlregError(
            f"{name}: stage {spec.name!r} is exclusive but held by "
            f"{', '.join(f'v{v.version}' for v in holders)}; repair the registry first (mlreg validate)"
        )
    current = holders[0] if holders else None
    if to is not None:
        target = next((v for v in versions if v.version == to), None)
        if target is None:
            raise NotFound(f"{name}: version {to} not found")
        if current is not None and target.version == current.version:
            raise MlregError(f"{name} v{to} already holds stage {spec.name!r}")
        if last_held(target, spec.name) is None:
            raise MlregError(
                f"{name} v{to} never held stage {spec.name!r}; a rollback returns the stage only to a "
                f"version that held it before (use `mlreg promote` for a new {spec.name})"
            )
    else:
        earlier = [
            (last_held(v, spec.name), v.version, v)
            for v in versions
            if v is not current and last_held(v, spec.name) is not None
        ]
        if not earlier:
            raise MlregError(f"{name}: no other version held stage {spec.name!r} before; nothing to roll back to")
        target = max(earlier, key=lambda t: (t[0], t[1]))[2]
    return RollbackPlan(spec.name, spec.demote_to or settings.initial, target, current)
