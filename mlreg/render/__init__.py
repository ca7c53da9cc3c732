"""Rich tables for people; the JSON shape lives on the records (to_dict).

Tables fit the terminal: every cell stays on one line. When the columns do not fit, the least important
ones are left out first, then the flexible ones (descriptions, metrics, reasons) are cut short with an
ellipsis; a name or a number is never folded across lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table

_ELLIPSIS = "…"


@dataclass(frozen=True)
class Col:
    """A column: `keep` 0 is never left out, higher numbers go first; `flex` may be cut with an ellipsis."""

    header: str
    keep: int = 1
    flex: bool = False
    left: bool = False  # cut from the left (paths: the end is what tells them apart)
    justify: JustifyMethod = "left"
    min: int = 8  # a flexible column narrower than this is left out instead


class Fitted:
    """A table laid out for the width Rich renders it at (a terminal, or 200 columns when piped)."""

    def __init__(self, title: str | None, cols: list[Col], rows: list[list[Any]]):
        self.title, self.cols = title, cols
        self.rows = [["" if x is None else str(x) for x in r] for r in rows]

    def __rich_console__(self, console, options):
        yield self.table(options.max_width)

    def table(self, width: int | None = None) -> Table:
        """The Rich table for `width` columns (None: as wide as the content)."""
        from rich.cells import cell_len

        natural = [max([cell_len(c.header)] + [cell_len(r[i]) for r in self.rows]) for i, c in enumerate(self.cols)]
        shown = list(range(len(self.cols)))
        widths = natural[:]
        if width is not None:
            shown = _choose(self.cols, natural, width)
            widths = _widths(self.cols, natural, shown, width)
        t = Table(title=self.title, title_justify="left", show_lines=False)
        for i in shown:
            c = self.cols[i]
            t.add_column(
                c.header, no_wrap=True, overflow="ellipsis", justify=c.justify, min_width=widths[i], max_width=widths[i]
            )
        for r in self.rows:
            t.add_row(*(_cut(r[i], widths[i], self.cols[i].left) for i in shown))
        return t


def _overhead(n: int) -> int:
    return 3 * n + 1  # Rich's default box: a border per column and one padding space each side


def _need(cols: list[Col], natural: list[int], shown: list[int]) -> int:
    return sum(min(natural[i], cols[i].min) if cols[i].flex else natural[i] for i in shown) + _overhead(len(shown))


def _choose(cols: list[Col], natural: list[int], width: int) -> list[int]:
    """Leave out the least important columns (rightmost first among equals) until the rest fit."""
    shown = list(range(len(cols)))
    while _need(cols, natural, shown) > width:
        droppable = [i for i in shown if cols[i].keep > 0]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (cols[i].keep, i)))
    return shown


def _widths(cols: list[Col], natural: list[int], shown: list[int], width: int) -> list[int]:
    """Fixed columns at their natural width; the room left is shared by the flexible ones (water-filling)."""
    widths = natural[:]
    flex = [i for i in shown if cols[i].flex]
    room = width - _overhead(len(shown)) - sum(natural[i] for i in shown if not cols[i].flex)
    if room < sum(min(natural[i], cols[i].min) for i in flex):  # only must-keep columns left: cut them all
        flex, room = shown, width - _overhead(len(shown))
    for n, i in enumerate(sorted(flex, key=lambda i: natural[i])):
        share = max(1, room // (len(flex) - n))
        widths[i] = min(natural[i], share)
        room -= widths[i]
    return widths


def _cut(text: str, width: int, left: bool = False) -> str:
    """`text` in at most `width` terminal cells, an ellipsis marking what was cut."""
    from rich.cells import cell_len, set_cell_size

    text = " ".join(text.split()) if "\n" in text else text
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return _ELLIPSIS[:width]
    if left:
        tail = text[-(width - 1) :]
        while cell_len(tail) > width - 1:
            tail = tail[1:]
        return _ELLIPSIS + tail
    return set_cell_size(text, width - 1).rstrip() + _ELLIPSIS


def table(title: str | None, columns: list[str | Col], rows: list[list[Any]]) -> Fitted:
    """A table; plain string headers: the first column is kept whole, the others may be cut."""
    cols = [
        c if isinstance(c, Col) else Col(c, keep=0) if i == 0 else Col(c, keep=1, flex=True)
        for i, c in enumerate(columns)
    ]
    return Fitted(title, cols, rows)


def models_table(summaries) -> Fitted:
    rows = [[m.name, m.versions, m.latest and f"v{m.latest}", _aliases(m.aliases), m.description] for m in summaries]
    cols = [
        Col("model", keep=0),
        Col("versions", keep=2, justify="right"),
        Col("latest", keep=3),
        Col("aliases", keep=4, flex=True, min=11),
        Col("description", keep=1, flex=True, min=24),
    ]
    return Fitted(None, cols, rows)


def versions_table(views, title: str | None = None, model_column: bool = True) -> Fitted:
    """One row per version; `model_column=False` when every row is the same model (show NAME)."""
    rows = []
    for v in views:
        r = v.record
        rows.append(
            [
                r.name,
                f"v{r.version}",
                r.stage,
                v.version_type,
                r.lineage.model_type,
                _metrics(r.metrics, r.params.get("primary_metric")),
                _when(r.created_at),
                r.description,
            ]
        )
    cols = [
        Col("model", keep=0),
        Col("version", keep=0),
        Col("stage", keep=1),
        Col("type", keep=3),
        Col("lineage", keep=4),
        Col("metrics", keep=2, flex=True, min=12),
        Col("created", keep=5),
        Col("description", keep=6, flex=True, min=12),
    ]
    if not model_column:
        cols, rows = cols[1:], [r[1:] for r in rows]
    return Fitted(title, cols, rows)


def version_detail(view) -> list[Fitted]:
    r = view.record
    head = [
        ["version", f"{r.name} v{r.version}"],
        ["stage", r.stage],
        ["version_type", view.version_type],
        ["description", r.description],
        ["created", f"{r.created_at} by {r.created_by}"],
        ["run", " / ".join(x for x in (r.run.experiment, r.run.name) if x)],
        ["path", str(view.folder)],
    ]
    lin = r.lineage
    head.append(["lineage", lin.model_type + (f" of {lin.base.model} v{lin.base.version}" if lin.base else "")])
    kv = [Col("field", keep=0), Col("value", keep=0, flex=True)]
    out = [Fitted(None, kv, head)]
    for title, d in (("params", r.params), ("metrics", r.metrics), ("tags", r.tags)):
        if d:
            out.append(
                Fitted(title, [Col("key", keep=0), Col("value", keep=0, flex=True)], [[k, d[k]] for k in sorted(d)])
            )
    if r.artifacts:
        cols = [Col("file", keep=0, flex=True, left=True), Col("size", keep=1, justify="right"), Col("sha256", keep=2)]
        out.append(Fitted("artifacts", cols, [[a.path or a.uri, a.size, a.sha256[:12]] for a in r.artifacts]))
    hist = [[_when(c.at), c.action, f"{c.from_ or '-'} -> {c.to}", _who(c.by), c.reason] for c in r.stage_history]
    cols = [
        Col("at", keep=0),
        Col("action", keep=3),
        Col("change", keep=0),
        Col("by", keep=2, flex=True, min=10),
        Col("reason", keep=1, flex=True, min=16),
    ]
    out.append(Fitted("stage history", cols, hist))
    return out


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{k}->v{v}" for k, v in sorted(aliases.items()))


_SPLIT_RANK = {"val": 0, "valid": 0, "validation": 0, "test": 1, "train": 2}


def _metrics(metrics: dict[str, float], primary: str | None = None, most: int = 3) -> str:
    """The first few metrics, the primary metric's family first and validation before test and train."""

    def rank(k: str) -> tuple:
        family, _, split = k.rpartition("_")
        family, split = (family, split) if split in _SPLIT_RANK else (k, "")
        return (not (primary and k.startswith(primary)), family, _SPLIT_RANK.get(split, 3), k)

    keys = sorted((k for k in metrics if not k.startswith("improvement_")), key=rank)[:most]
    more = len(metrics) - len(keys)
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys) + (f" (+{more})" if more > 0 else "")


def _when(at: str | None) -> str:
    """`2025-06-10T14:17:00Z` -> `2025-06-10 14:17` (UTC; the seconds do not help a reader)."""
    return (at or "")[:16].replace("T", " ")


def _who(person: str | None) -> str:
    return (person or "").split(" <")[0]
