"""Rich tables for people; the JSON shape lives on the records (to_dict)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if x is None else str(x) for x in r))
    return t


def models_table(summaries) -> Table:
    rows = [[m.name, m.versions, m.latest and f"v{m.latest}", _aliases(m.aliases), m.description]
            for m in summaries]
    return table(None, ["model", "versions", "latest", "aliases", "description"], rows)


def versions_table(views, title: str | None = None) -> Table:
    rows = []
    for v in views:
        r = v.record
        rows.append([r.name, f"v{r.version}", r.stage, v.version_type, r.lineage.model_type,
                     _metrics(r.metrics), r.created_at, r.description])
    return table(title, ["model", "version", "stage", "type", "lineage", "metrics", "created", "description"], rows)


def version_detail(view) -> list[Table]:
    r = view.record
    head = [["version", f"{r.name} v{r.version}"], ["stage", r.stage], ["version_type", view.version_type],
            ["description", r.description], ["created", f"{r.created_at} by {r.created_by}"],
            ["run", " / ".join(x for x in (r.run.experiment, r.run.name) if x)], ["path", str(view.folder)]]
    lin = r.lineage
    head.append(["lineage", lin.model_type + (f" of {lin.base.model} v{lin.base.version}" if lin.base else "")])
    out = [table(None, ["field", "value"], head)]
    for title, d in (("params", r.params), ("metrics", r.metrics), ("tags", r.tags)):
        if d:
            out.append(table(title, ["key", "value"], [[k, d[k]] for k in sorted(d)]))
    if r.artifacts:
        out.append(table("artifacts", ["file", "size", "sha256"],
                         [[a.path or a.uri, a.size, a.sha256[:12]] for a in r.artifacts]))
    hist = [[c.at, c.action, f"{c.from_ or '-'} -> {c.to}", c.by, c.reason] for c in r.stage_history]
    out.append(table("stage history", ["at", "action", "change", "by", "reason"], hist))
    return out


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{k}->v{v}" for k, v in sorted(aliases.items()))


def _metrics(metrics: dict[str, float], most: int = 3) -> str:
    keys = sorted(k for k in metrics if not k.startswith("improvement_"))[:most]
    more = len(metrics) - len(keys)
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys) + (f" (+{more})" if more > 0 else "")
