"""A registry change set in words: plain text for a terminal, markdown for a pull request (`mlreg diff`)."""

from __future__ import annotations


class _Style:
    """The few marks that differ between plain text and markdown."""

    def __init__(self, markdown: bool):
        self.md = markdown
        self.arrow = "→" if markdown else "->"

    def bold(self, s: str) -> str:
        return f"**{s}**" if self.md else s

    def code(self, s: str) -> str:
        return f"`{s}`" if self.md else s

    def heading(self, s: str) -> str:
        return f"#### {s}" if self.md else f"{s}:"

    def item(self, s: str) -> str:
        return f"- {s}" if self.md else f"  - {s}"


def words(cs, markdown: bool = False) -> list[str]:
    """The change set as lines of text or markdown, grouped by what a reviewer asks first."""
    from .. import changes as c

    st = _Style(markdown)
    title = f"Registry changes: {_side(st, cs.base, cs.base_commit)} {st.arrow} {_side(st, cs.head, cs.head_commit)}"
    lines = [f"### {title}" if markdown else title, ""]
    if markdown:
        from .mermaid import diagram

        picture = diagram(cs)
        lines += [*picture, ""] if picture else []
    sections = [
        ("New models", [_model_added(st, x) for x in cs.of(c.ModelAdded)]),
        ("New versions", [_version_added(st, x) for x in cs.of(c.VersionAdded)]),
        ("Promotions and demotions", [_stage(st, x) for x in cs.of(c.StageChanged)]),
        ("Aliases", [_alias(st, x) for x in cs.of(c.AliasChanged)]),
        ("Tags", [_tag(st, x) for x in cs.of(c.TagChanged)]),
        ("Descriptions", [_description(st, x) for x in cs.of(c.DescriptionChanged)]),
        ("Removed models", [f"{st.bold(x.model)} removed" for x in cs.of(c.ModelRemoved)]),
        ("Settings", [f"{st.code('mlreg.yaml')} changed: {', '.join(x.keys)}" for x in cs.of(c.SettingsChanged)]),
        ("Files readable again", [f"{st.code(x.file)} (was: {x.reason})" for x in cs.of(c.FileReadable)]),
    ]
    for name, items in sections:
        if items:
            lines += [st.heading(name), *map(st.item, items), ""]
    problems = cs.problems()
    if problems:
        lines += [st.heading(f"Refused by mlreg validate --base ({len(problems)})"),
                  *(st.item(st.code(p)) for p in problems), ""]
    if not cs.changes:
        lines += ["No registry changes.", ""]
    return lines[:-1]


def _side(st: _Style, label: str, commit: str | None) -> str:
    return st.code(label) + (f" ({commit[:10]})" if commit else "")


def _model_added(st: _Style, x) -> str:
    n = len(x.versions)
    return f"{st.bold(x.model)}" + (f": {x.description}" if x.description else "") + f" ({n} version{'s' * (n != 1)})"


def _version_added(st: _Style, x) -> str:
    parts = [f"{st.bold(f'{x.model} v{x.version}')} in {st.code(x.stage)}" + _via(st, x.path[:-1])]
    if x.description:
        parts.append(x.description)
    if x.metrics:
        parts.append(", ".join(_metric(k, v) for k, v in x.metrics.items()))
    if x.base:
        parts.append(f"{x.model_type} of {x.base}")
    elif x.run:
        parts.append(f"run {st.code(x.run)}")
    return " — ".join(parts) if st.md else "; ".join(parts)


def _via(st: _Style, stages: list[str]) -> str:
    """`(via a -> b)`: the stages passed on the way, when a range of commits made several moves."""
    return f" (via {f' {st.arrow} '.join(stages)})" if stages else ""


def _metric(key: str, value) -> str:
    if not isinstance(value, (int, float)):
        return f"{key}={value}"
    return f"{key}={value:+.2f}%" if key.startswith("improvement_") else f"{key}={value:.4g}"


def _stage(st: _Style, x) -> str:
    text = f"{st.bold(f'{x.model} v{x.version}')} {x.direction} {st.code(x.before)} {st.arrow} {st.code(x.after)}"
    text += _via(st, x.path[1:-1])
    if x.reason:
        text += f": “{x.reason}”" if st.md else f': "{x.reason}"'
    if x.by:  # the name only: `Name <email>` would turn into a mail link in markdown
        text += f" ({x.by.split(' <')[0]}" + (f", {x.at})" if x.at else ")")
    if not x.legal:
        text += " — ⚠ not allowed" if st.md else " [NOT ALLOWED]"
    return text


def _alias(st: _Style, x) -> str:
    alias = f"{st.bold(x.model)} alias {st.code(x.alias)}"
    if x.before is None:
        return f"{alias} set to v{x.after}"
    if x.after is None:
        return f"{alias} removed (was v{x.before})"
    return f"{alias} moved v{x.before} {st.arrow} v{x.after}"


def _tag(st: _Style, x) -> str:
    what = st.bold(x.model + (f" v{x.version}" if x.version is not None else ""))
    if x.after is None:
        return f"{what} tag {st.code(x.key)} removed (was {st.code(str(x.before))})"
    was = f" (was {st.code(str(x.before))})" if x.before is not None else ""
    return f"{what} tag {st.code(x.key)} = {st.code(str(x.after))}{was}"


def _description(st: _Style, x) -> str:
    return f"{st.bold(x.model)} description: “{x.before}” {st.arrow} “{x.after}”" if st.md else \
        f'{x.model} description: "{x.before}" -> "{x.after}"'
