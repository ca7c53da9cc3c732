"""A Mermaid flowchart of a registry change (for `diff --format md`: GitHub draws it in PR summaries).

It only draws what changes.compare computed: new versions with the base they enhance, stage moves
(every stage on the way) and alias moves, one subgraph per model. The change computation stays in
changes.py; this module only turns its result into Mermaid text.
"""

from __future__ import annotations

import re

_STYLES = {
    "new": "fill:#dafbe1,stroke:#1a7f37",
    "promoted": "fill:#fff8c5,stroke:#9a6700",
    "demoted": "fill:#eaeef2,stroke:#6e7781",
    "refused": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px",
}
MAX_ITEMS = 40  # a diagram of hundreds of boxes helps nobody (and GitHub caps Mermaid's size)
_LABEL_MAX = 48


class _Diagram:
    def __init__(self) -> None:
        self.models: dict[str, list[str]] = {}  # model -> lines inside its subgraph
        self.edges: list[str] = []
        self.ids: dict[str, str] = {}
        self.classes: dict[str, set[str]] = {"new": set(), "promoted": set(), "demoted": set(), "refused": set()}
        self.now: dict[tuple[str, int], str] = {}  # version -> the box showing where it ends up

    def node_id(self, *parts: object) -> str:
        key = "/".join(map(str, parts))
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids)}"
        return self.ids[key]

    def node(self, model: str, nid: str, shape: str) -> str:
        lines = self.models.setdefault(model, [])
        line = f"    {nid}{shape}"
        if not any(existing.startswith(f"    {nid}[") or existing.startswith(f"    {nid}(") for existing in lines):
            lines.append(line)
        return nid

    def version(self, model: str, n: int, note: str = "") -> str:
        if not note and (model, n) in self.now:
            return self.now[(model, n)]
        nid = self.node_id(model, n)
        if note:  # a new version's box says so, even if its number was drawn before as someone's base
            lines = self.models.setdefault(model, [])
            lines[:] = [line for line in lines if not line.startswith(f"    {nid}[")]
        return self.node(model, nid, f'["{label(f"v{n}" + (f" · {note}" if note else ""))}"]')


def diagram(cs) -> list[str]:
    """The change set as the lines of a ```mermaid block, or [] when it moves nothing worth drawing."""
    from ..core import changes as c

    d = _Diagram()
    items = cs.of(c.VersionAdded, c.StageChanged) + cs.of(c.AliasChanged)  # aliases last: they point at the moves
    for x in items[:MAX_ITEMS]:
        if isinstance(x, c.VersionAdded):
            _added(d, x)
        elif isinstance(x, c.StageChanged):
            _stage(d, x)
        else:
            _alias(d, x)
    if not d.models:
        return []
    lines = ["```mermaid", "flowchart LR"]
    for i, (model, body) in enumerate(d.models.items()):
        lines += [f'  subgraph m{i}["{label(model)}"]', "    direction LR", *body, "  end"]
    lines += d.edges
    if len(items) > MAX_ITEMS:
        lines.append(f'  more["… and {len(items) - MAX_ITEMS} more changes, listed below"]')
    used = [(name, ids) for name, ids in d.classes.items() if ids]
    lines += [f"  classDef {name} {_STYLES[name]}" for name, _ in used]
    lines += [f"  class {','.join(sorted(ids))} {name}" for name, ids in used]
    return lines + ["```"]


def _added(d: _Diagram, x) -> None:
    stages = x.path or [x.stage]
    new = d.version(x.model, x.version, f"new · {stages[-1]}")
    d.now[(x.model, x.version)] = new
    d.classes["refused" if x.problem() else "new"].add(new)
    if x.base:
        base_model, _, base_version = x.base.rpartition(" v")
        if base_version.isdigit():
            base = d.version(base_model, int(base_version))
            d.edges.append(f'  {base} -->|"{label(x.model_type or "enhanced")}"| {new}')


def _stage(d: _Diagram, x) -> None:
    path = x.path if len(x.path) >= 2 else [x.before, x.after]
    ids = [
        d.node(x.model, d.node_id(x.model, x.version, "stage", i, s), f'(["{label(f"v{x.version} · {s}")}"])')
        for i, s in enumerate(path)
    ]
    words = x.direction + (f": {x.reason}" if x.reason else "")
    for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False)):
        text = words if i == len(ids) - 2 else "via"
        arrow = "-.->" if x.direction == "demoted" else "==>"
        d.edges.append(f'  {a} {arrow}|"{label(text)}"| {b}')
    d.classes["refused" if not x.legal else "demoted" if x.direction == "demoted" else "promoted"].add(ids[-1])
    d.now[(x.model, x.version)] = ids[-1]


def _alias(d: _Diagram, x) -> None:
    alias = d.node(x.model, d.node_id(x.model, "alias", x.alias), f'>"@{label(x.alias)}"]')
    if x.after is None:
        gone = d.version(x.model, x.before) if x.before is not None else None
        if gone is not None:
            d.edges.append(f'  {alias} -.->|"removed, was v{x.before}"| {gone}')
        return
    target = d.version(x.model, x.after)
    text = "set" if x.before is None else f"moved from v{x.before}"
    d.edges.append(f'  {alias} -.->|"{text}"| {target}')


_UNSAFE = re.compile(r'["<>#`|\[\]{}()]')
_ENTITIES = {
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "#": "#35;",
    "`": "#96;",
    "|": "#124;",
    "[": "#91;",
    "]": "#93;",
    "{": "#123;",
    "}": "#125;",
    "(": "#40;",
    ")": "#41;",
}


def label(text: str) -> str:
    """Text safe inside a quoted Mermaid label: one line, short, special characters as entity codes."""
    text = " ".join(str(text).split())
    if len(text) > _LABEL_MAX:
        text = text[: _LABEL_MAX - 1].rstrip() + "…"
    return _UNSAFE.sub(lambda m: _ENTITIES[m.group()], text)
