"""Refs, stage transitions, exclusive stages, lineage and improvement metrics: rules, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import MlregError, NotFound
from .records import Model, Settings, Version
from .suggest import did_you_mean

_NUM_RE = re.compile(r"^v?([1-9][0-9]*)$")


def split_ref(text: str) -> tuple[str, str | None]:
    """`name@ref` -> (name, ref); `name/3` -> (name, '3'); `models:/name@alias` works too."""
    if text.startswith("models:/"):
        text = text[len("models:/") :]
    if "@" in text:
        name, ref = text.split("@", 1)
        return name, ref
    if "/" in text:
        name, ref = text.rsplit("/", 1)
        return name, ref
    return text, None


def resolve_ref(model: Model, numbers: list[int], settings: Settings, ref: str, stage_holder=None) -> int:
    """Turn a ref (`3`, `v3`, an alias, an exclusive stage, `latest`) into a version number."""
    if not numbers:
        raise NotFound(f"model {model.name!r} has no versions")
    m = _NUM_RE.match(ref)
    if m:
        n = int(m.group(1))
        if n not in numbers:
            raise NotFound(f"{model.name}: version {n} not found (versions: {_span(numbers)})")
        return n
    if ref == "latest":
        return numbers[-1]
    if ref in model.aliases:
        n = model.aliases[ref]
        if n not in numbers:
            raise NotFound(f"{model.name}@{ref} points at v{n}, which does not exist in registry/{model.name}/")
        return n
    stage = _stage_for(settings, ref)
    if stage is not None:
        holder = stage_holder(stage) if stage_holder else None
        if holder is None:
            raise NotFound(f"{model.name}: no version is in stage {stage!r}")
        return holder
    if ref in settings.stages:
        raise MlregError(
            f"{model.name}@{ref}: stage {ref!r} can hold several versions, so it is not a ref; "
            f"use `mlreg find stage {ref} --model {model.name}`"
        )
    known = sorted(model.aliases) + sorted(s for s in settings.stages if settings.stages[s].exclusive)
    refs = [*known, *stage_refs(settings), *settings.stages, "latest"]
    raise NotFound(
        f"{model.name}@{ref}: unknown ref; expected a version number (3 or v3), 'latest'"
        + (f", or one of: {', '.join(known)}" if known else "")
        + did_you_mean(ref, refs)
    )


def check_stage(settings: Settings, stage: str) -> None:
    """An error naming the stages mlreg.yaml defines (and the nearest one) unless `stage` is one of them."""
    if stage not in settings.stages:
        raise MlregError(
            f"unknown stage {stage!r}: expected one of {', '.join(settings.stages)}"
            + did_you_mean(stage, settings.stages)
        )


def sole_holder(name: str, stage: str, held: list[int]) -> int | None:
    """The one holder of an exclusive stage; two or more is an error naming them all, never a silent pick."""
    if len(held) > 1:
        raise MlregError(
            f"{name}@{stage}: stage {stage!r} is exclusive but held by "
            f"{', '.join(f'v{n}' for n in sorted(held))}; refusing to pick one (the registry needs "
            "repair: see `mlreg validate`)"
        )
    return held[0] if held else None


def stage_refs(settings: Settings) -> dict[str, str]:
    """Names that resolve to an exclusive stage's holder (the stage and its mirrored alias) -> the stage."""
    out = {}
    for spec in settings.stages.values():
        if spec.exclusive:
            out[spec.name] = spec.name
        if spec.alias:
            out[spec.alias] = spec.name
    return out


def _stage_for(settings: Settings, ref: str) -> str | None:
    """The exclusive stage a ref names, directly or through its mirrored alias."""
    for spec in settings.stages.values():
        if spec.exclusive and ref in (spec.name, spec.alias):
            return spec.name
    return None


def _span(numbers: list[int]) -> str:
    return f"1..{numbers[-1]}" if numbers == list(range(1, len(numbers) + 1)) else ", ".join(map(str, numbers))


def version_type(v: Version, children: Iterable[Version]) -> str:
    """`old` once another version names `v` as its base, else `latest`."""
    for c in children:
        b = c.lineage.base
        if b and b.model == v.name and b.version == v.version:
            return "old"
    return "latest"


def improvements(new: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    """`improvement_<m>`: relative change in percent vs the base, for each metric both have."""
    out = {}
    for k, v in new.items():
        if k.startswith("improvement_") or k not in base or base[k] == 0:
            continue
        out[f"improvement_{k}"] = round((v - base[k]) / abs(base[k]) * 100, 4)
    return out


def settings_problems(settings: Settings, where: str = "mlreg.yaml") -> list[str]:
    """A lifecycle that names undefined stages, or an exclusive stage with nowhere to demote, is invalid."""
    out = []
    names = set(settings.stages)
    if settings.initial not in names:
        out.append(
            f"{where}: $.lifecycle.initial: expected one of the stages {sorted(names)}, got {settings.initial!r}"
        )
    for s in settings.stages.values():
        for i, t in enumerate(s.to):
            if t not in names:
                out.append(f"{where}: $.lifecycle.stages.{s.name}.to[{i}]: stage {t!r} is not defined")
        if s.demote_to is not None and s.demote_to not in names:
            out.append(f"{where}: $.lifecycle.stages.{s.name}.demote_to: stage {s.demote_to!r} is not defined")
        if s.exclusive and s.demote_to is None:
            out.append(f"{where}: $.lifecycle.stages.{s.name}: an exclusive stage needs demote_to")
    return out
