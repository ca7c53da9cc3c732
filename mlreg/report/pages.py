"""The pages' contents: Jinja2 templates (shipped in templates/) filled from data.Snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import MlregError
from . import plots
from .data import ModelInfo, Snapshot, VersionInfo


@dataclass
class LineageNode:
    """One box of the lineage diagram: a version, or a base from another model; its enhancements below."""

    model: str
    version: int
    label: str
    detail: str
    href: str | None
    children: list[tuple[str, LineageNode]] = field(default_factory=list)  # (enhancement type, node)

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


class Renderer:
    """Turns a snapshot into HTML; one per build, shared by forked workers (templates compiled once)."""

    def __init__(self, snap: Snapshot):
        try:
            import jinja2
        except ImportError:
            raise MlregError("mlreg report needs Matplotlib and Jinja2: pip install 'mlreg[report]'") from None
        plots._setup()
        self.snap = snap
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("mlreg.report", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(number=_number, size=_size, who=_who, short=lambda s: (s or "")[:10], words=words)
        shown = {m.name for m in snap.models}  # with --model, pages of other models are not written: no links
        self.env.globals.update(site=snap, stage_class=_stage_class, linked=shown.__contains__)
        self.shown = shown
        self._plotter: plots.Plotter | None = None
        self._templates = {n: self.env.get_template(f"{n}.html") for n in ("index", "model", "version")}

    @property
    def plotter(self) -> plots.Plotter:
        if self._plotter is None:  # made in the process that draws (after a fork)
            self._plotter = plots.Plotter()
        return self._plotter

    def index(self) -> str:
        rows = [_index_row(m) for m in self.snap.models]
        nversions = sum(len(m.versions) for m in self.snap.models)
        return self._templates["index"].render(root="", rows=rows, nversions=nversions, title="Model registry")

    def prepare(self) -> None:
        """Lay out the first model's figure before worker processes are forked (they inherit it)."""
        if self.snap.models and self.snap.models[0].versions:
            self.plotter.prepare(_series(self.snap.models[0]))

    def model(self, m: ModelInfo) -> str:
        series = _series(m)
        panels, more = series.panels()
        svg = self.plotter.svg(series, f"{m.name}: metrics by version") if m.versions else None
        metric_cols = _key_metric_columns(m)
        return self._templates["model"].render(
            root="../../",
            title=m.name,
            m=m,
            svg=svg,
            panels=panels,
            more_panels=more,
            metric_cols=metric_cols,
            params=m.differing_params(),
            lineage=lineage(m, self.shown),
            timeline=m.timeline(),
            safe_id=plots.safe_id,
        )

    def version(self, m: ModelInfo, v: VersionInfo) -> str:
        refs = [f"models:/{m.name}/{v.number}"] + [f"models:/{m.name}@{h}" for h in v.holds]
        record = json.dumps(v.doc, indent=2, ensure_ascii=False)
        return self._templates["version"].render(
            root="../../", title=f"{m.name} v{v.number}", m=m, v=v, r=v.record, refs=refs, record=record
        )


# -- view helpers -----------------------------------------------------------------------------------------
def _series(m: ModelInfo) -> plots.Series:
    return plots.Series(
        [v.number for v in m.versions],
        {v.number: v.record.metrics for v in m.versions},
        {n: s for s, n in m.holders.items()},
        _primary(m),
    )


def _index_row(m: ModelInfo) -> dict[str, Any]:
    last = m.history[0] if m.history else None
    return {"m": m, "last": last, "holders": sorted(m.holders.items()), "aliases": sorted(m.model.aliases.items())}


def _primary(m: ModelInfo) -> str | None:
    latest = m.versions[-1].record if m.versions else None
    return latest.params.get("primary_metric") if latest else None


def _key_metric_columns(m: ModelInfo) -> list[str]:
    from ..core.changes import key_metrics

    cols: dict[str, None] = {}
    for v in m.versions:
        cols.update(dict.fromkeys(key_metrics(v.record.metrics, v.record.params.get("primary_metric"))))
    plain = [k for p in plots.families(list(cols), _primary(m)) for k in p.metrics]  # train, val, test
    return plain + sorted(k for k in cols if k.startswith("improvement_"))


def lineage(m: ModelInfo, shown: set[str] | None = None) -> list[LineageNode]:
    """The model's lineage as trees: each root is a version with no base here (or another model's base,
    linked when its pages are in the site), drawn only when some version enhances another."""
    if not any(v.record.lineage.base for v in m.versions):
        return []
    nodes = {v.number: _node(m.name, v) for v in m.versions}
    roots: list[LineageNode] = []
    outside: dict[tuple[str, int], LineageNode] = {}
    for v in m.versions:
        base = v.record.lineage.base
        etype = v.record.lineage.enhancement_type or v.record.lineage.model_type
        if base and base.model == m.name and base.version in nodes:
            nodes[base.version].children.append((etype, nodes[v.number]))
        elif base:
            key = (base.model, base.version)
            if key not in outside:
                href = f"../{base.model}/v{base.version}.html" if shown is None or base.model in shown else None
                outside[key] = LineageNode(
                    base.model, base.version, f"{base.model} v{base.version}", "another model", href
                )
                roots.append(outside[key])
            outside[key].children.append((etype, nodes[v.number]))
        else:
            roots.append(nodes[v.number])
    return [r for r in roots if r.children or r.model != m.name]


def _node(model: str, v: VersionInfo) -> LineageNode:
    detail = " · ".join([v.record.lineage.model_type, v.record.stage])
    return LineageNode(model, v.number, f"v{v.number}", detail, f"v{v.number}.html")


def words(name: str) -> Any:
    """A metric or param name that may wrap only between its words: a break opportunity (<wbr>) after each
    `_`, `/`, `.` and `-`, so `rmse_train` becomes `rmse_` + `train`, never `rmse_trai` + `n`."""
    import re

    from markupsafe import Markup, escape

    return Markup("<wbr>".join(escape(part) for part in re.split(r"(?<=[_/.\-])(?=.)", str(name))))


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _who(person: str | None) -> str:
    """`Name <email>` -> `Name` (the page shows who, not an address)."""
    return (person or "").split(" <")[0]


def _stage_class(stage: str) -> str:
    return "stage-" + plots.safe_id(stage.lower())
