"""Metric plots drawn by Matplotlib as SVG: one figure per model, a panel per metric family.

A family is a metric and its splits (`rmse_train`, `rmse_val`, `rmse_test` -> `rmse`), drawn together
with one point per version; the holders of exclusive stages (champion) are marked; `improvement_*`
metrics are bars against each version's base. Figures with the same panels are drawn once and then
re-filled (set_data), which is what keeps a 1,000-model report inside its time budget.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MlregError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

_SPLITS = ("train", "training", "val", "valid", "validation", "dev", "test", "eval", "holdout")
_SUFFIX = re.compile(rf"^(?P<family>.+?)[_/.-](?P<split>{'|'.join(_SPLITS)})$")
_PREFIX = re.compile(rf"^(?P<split>{'|'.join(_SPLITS)})[_/.-](?P<family>.+)$")
_COLORS = {
    "train": "#1f77b4",
    "training": "#1f77b4",
    "val": "#ff7f0e",
    "valid": "#ff7f0e",
    "validation": "#ff7f0e",
    "dev": "#ff7f0e",
    "test": "#2ca02c",
    "holdout": "#2ca02c",
    "eval": "#9467bd",
}
_OTHER = "#3b5b92"
_BARS = ("#17becf", "#bcbd22", "#e377c2", "#8c564b", "#9467bd", "#d62728")
MAX_PANELS = 16
WIDTH, PANEL_H, BARS_H, LEFT, RIGHT = 8.0, 2.05, 2.1, 0.8, 2.1  # inches (RIGHT: room for the legends)


@dataclass(frozen=True)
class Panel:
    """One metric family: its metrics and the split each one is."""

    family: str
    metrics: tuple[str, ...]
    splits: tuple[str, ...]


def families(names: list[str], primary: str | None = None) -> list[Panel]:
    """Metric names grouped into families (improvement_* left out); the primary metric's family first."""
    groups: dict[str, list[tuple[int, str, str]]] = {}  # family -> (split order, name, split)
    for name in sorted(n for n in names if not n.startswith("improvement_")):
        m = _SUFFIX.match(name) or _PREFIX.match(name)
        family, split = (m["family"], m["split"]) if m else (name, "")
        groups.setdefault(family, []).append((_order(split), name, split))
    panels = [Panel(f, tuple(n for _, n, _ in sorted(g)), tuple(s for _, _, s in sorted(g))) for f, g in groups.items()]
    return sorted(panels, key=lambda p: (not (primary and p.family.startswith(str(primary))), p.family))


def _order(split: str) -> int:
    return _SPLITS.index(split) if split in _SPLITS else len(_SPLITS)


def safe_id(text: str) -> str:
    """An SVG/HTML id fragment for a metric name (`evaluation/best_mean_reward` -> `evaluation_best_mean_reward`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


@dataclass
class Series:
    """What one model's figure shows: x = version numbers."""

    versions: list[int]
    metrics: dict[int, dict[str, float]]  # version -> metrics
    marked: dict[int, str]  # version -> the exclusive stage it holds (champion)
    primary: str | None = None

    def panels(self) -> tuple[list[Panel], bool]:
        names = sorted({k for m in self.metrics.values() for k in m})
        found = families(names, self.primary)
        return found[:MAX_PANELS], len(found) > MAX_PANELS

    def improvements(self) -> list[str]:
        return sorted({k for m in self.metrics.values() for k in m if k.startswith("improvement_")})

    def points(self, metric: str) -> tuple[list[int], list[float]]:
        xs = [n for n in self.versions if metric in self.metrics[n]]
        return xs, [self.metrics[n][metric] for n in xs]


class Plotter:
    """Draws model figures, keeping the last few figure layouts to re-fill (one per process)."""

    def __init__(self, keep: int = 4):
        self._figures: dict[tuple, _Figure] = {}
        self._keep = keep
        _setup()

    def svg(self, series: Series, title: str) -> str | None:
        """The figure as an inline <svg> element, or None when the model has no metrics."""
        from matplotlib import rc_context

        with rc_context(_RC):  # the caller's own Matplotlib settings stay as they were
            fig = self._figure(series)
            return fig.draw(series, title) if fig else None

    def prepare(self, series: Series) -> None:
        """Lay out the figure `series` needs (and load fonts) now: worker processes forked later inherit it."""
        from matplotlib import rc_context

        with rc_context(_RC):
            fig = self._figure(series)
            if fig:
                fig.draw(series, "")

    def _figure(self, series: Series) -> _Figure | None:
        panels, _ = series.panels()
        bars = [(m, tuple(n for n in series.versions if m in series.metrics[n])) for m in series.improvements()]
        if not panels and not bars:
            return None
        key = (tuple(panels), tuple(bars))
        fig = self._figures.pop(key, None) or _Figure(panels, bars)
        self._figures[key] = fig  # most recently used last
        while len(self._figures) > self._keep:
            self._figures.pop(next(iter(self._figures)))
        return fig


_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # real text (searchable, small); the browser's sans-serif draws it
    "svg.hashsalt": "mlreg",  # stable ids: the same registry gives the same bytes
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _setup() -> None:
    try:
        import matplotlib  # noqa: F401 - Figure objects only, never pyplot: no GUI backend, no global figures
    except ImportError:
        raise MlregError("mlreg report needs Matplotlib and Jinja2: pip install 'mlreg[report]'") from None


class _Figure:
    """A figure laid out for one set of panels; draw() re-fills it with a model's numbers.

    Panels do not share their x axis through Matplotlib (sharing costs a layout pass over every sibling's
    tick labels); each gets the same ticks, labels and limits, so every chart names its versions.
    """

    def __init__(self, panels: list[Panel], bars: list[tuple[str, tuple[int, ...]]]):
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        rows = len(panels) + (1 if bars else 0)
        height = PANEL_H * len(panels) + (BARS_H if bars else 0) + 0.7
        self.fig = Figure(figsize=(WIDTH, height))
        axes = list(self.fig.subplots(rows, 1, squeeze=False)[:, 0])
        self.fig.subplots_adjust(
            left=LEFT / WIDTH, right=1 - RIGHT / WIDTH, top=1 - 0.3 / height, bottom=0.4 / height, hspace=0.62
        )  # room for each panel's version labels
        self.axes, self.panels, self.lines, self.stars, self.marks = axes, panels, [], [], []
        for ax in axes:  # few ticks, no grid: every tick is three artists to lay out and draw
            ax.yaxis.set_major_locator(MaxNLocator(3, min_n_ticks=2))
        for ax, panel in zip(axes, panels, strict=False):  # the bars, if any, have the last axes
            _title(ax, panel.family)
            self.lines.append(
                [
                    ax.plot(
                        [],
                        [],
                        marker="o",
                        ms=4,
                        lw=1.3,
                        color=_COLORS.get(s, _OTHER),
                        label=s or m,
                        gid=f"metric-{safe_id(m)}",
                    )[0]
                    for m, s in zip(panel.metrics, panel.splits, strict=True)
                ]
            )
            self.stars.append(
                ax.plot(
                    [],
                    [],
                    ls="none",
                    marker="*",
                    ms=11,
                    color="#f5b700",
                    mec="#6b5000",
                    mew=0.6,
                    zorder=4,
                    gid=f"marked-{safe_id(panel.family)}",
                )[0]
            )
            self.marks.append(ax.axvline(0, color="#f5b700", lw=1, ls="--", zorder=0, visible=False))
            if len(panel.metrics) > 1 or panel.splits[0]:
                ax.legend(
                    loc="upper left",
                    bbox_to_anchor=(1.0, 1.0),
                    frameon=False,
                    fontsize=7,
                    handlelength=1.2,
                    borderaxespad=0.2,
                )
        self.bars = []
        if bars:
            ax = axes[-1]
            _title(ax, "improvement over the base version, %")
            ax.axhline(0, color="#444", lw=0.6)
            width = 0.8 / len(bars)
            for i, (metric, at) in enumerate(bars):
                xs = [n - 0.4 + width * (i + 0.5) for n in at]
                rects = ax.bar(
                    xs,
                    [0] * len(xs),
                    width=width * 0.9,
                    color=_BARS[i % len(_BARS)],
                    label=metric.removeprefix("improvement_"),
                )
                for n, r in zip(at, rects, strict=True):
                    r.set_gid(f"improvement-{safe_id(metric)}-v{n}")
                self.bars.append((metric, at, rects))
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7, handlelength=1.2)

    def draw(self, series: Series, title: str) -> str:
        for panel, lines, star, mark, ax in zip(
            self.panels, self.lines, self.stars, self.marks, self.axes, strict=False
        ):  # bars: one more axes
            for metric, line in zip(panel.metrics, lines, strict=True):
                line.set_data(*series.points(metric))
            marked = [(n, series.metrics[n][m]) for n in series.marked for m in panel.metrics if m in series.metrics[n]]
            star.set_data([x for x, _ in marked], [y for _, y in marked])
            mark.set_visible(bool(series.marked))
            if series.marked:
                n = next(iter(series.marked))
                mark.set_xdata([n, n])
            ax.relim()
            ax.autoscale_view(scalex=False)
        for metric, at, rects in self.bars:
            for n, r in zip(at, rects, strict=True):
                r.set_height(series.metrics[n][metric])
            self.axes[-1].relim()
            self.axes[-1].autoscale_view(scalex=False)
        xs = series.versions
        labels = [f"v{n}" + (f"\n{series.marked[n]}" if n in series.marked else "") for n in xs]
        if len(xs) > 24:  # keep the axis readable: every k-th version (and the marked ones)
            step = -(-len(xs) // 24)
            keep = [i for i, n in enumerate(xs) if i % step == 0 or n in series.marked]
            xs, labels = [xs[i] for i in keep], [labels[i] for i in keep]
        for ax in self.axes:  # every panel labels its versions (a chart without them cannot be read alone)
            ax.set_xticks(xs, labels)
            ax.set_xlim(min(series.versions) - 0.6, max(series.versions) + 0.6)
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "mlreg report (Matplotlib)"})
        return _inline(buf.getvalue(), title)


def _title(ax, text: str) -> None:
    """A panel's name above its top-left corner (a plain text: Axes titles cost a layout pass each)."""
    ax.text(0, 1.04, text, transform=ax.transAxes, fontsize=9, va="bottom", ha="left")


def _inline(svg: str, title: str) -> str:
    """Matplotlib's SVG file as an element to put in HTML (no XML prolog), scalable, labelled."""
    from html import escape

    start = svg.index("<svg")
    return svg[start:].replace("<svg ", f'<svg class="plot" role="img" aria-label="{escape(title)}" ', 1)
