"""A registry change set in words: plain text for a terminal, markdown for a pull request (`mlreg diff`).

In markdown every string that comes from the registry (names, descriptions, reasons, `by`, tags, run names,
file names, refusals) is written so it renders as plain text whatever it holds: no HTML, images, links,
live @-mentions or new blocks, and an unclosed `<!--` stays text (see `plain` and `code`).
"""

from __future__ import annotations

import re

MAX_TEXT = 300  # characters of one registry string in markdown: a 60,000-character description is no review
_ZWSP = "\u200b"  # breaks an @-mention, an issue reference or an autolink without showing
# what makes inline markdown, HTML or math anywhere in a line; `_` only where it could open or close emphasis
# (an underscore between two letters or digits never does, so rmse_val stays as it is)
_MD_SPECIAL = re.compile(r"[\\`*\[\]!~|$<>&]|(?<![^\W_])_|_(?![^\W_])")
_ENTITY = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_LINES = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _one_line(text: object, limit: int = MAX_TEXT) -> str:
    s = _CONTROLS.sub("", _LINES.sub(" ", str(text)))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def plain(text: object) -> str:
    """Markdown that renders as exactly this text: one line, every markdown and HTML character escaped (`<` as
    an entity, so `<!--` opens no comment), and `@`, `#`, `://` and `www.` broken by a zero-width space so
    GitHub links no mention, reference or URL."""
    s = _one_line(text)
    s = _MD_SPECIAL.sub(lambda m: _ENTITY.get(m.group(), "\\" + m.group()), s)
    s = s.replace("@", "@" + _ZWSP).replace("#", "#" + _ZWSP).replace("://", ":" + _ZWSP + "//")
    return re.sub(r"(?i)www\.", lambda m: m.group()[:3] + _ZWSP + ".", s)


def code(text: object, limit: int = MAX_TEXT) -> str:
    """A markdown code span holding exactly this text (one line): fenced by more backticks than any run inside,
    so nothing in it can close the span; inside a code span GitHub renders no HTML, link or mention."""
    s = _one_line(text, limit)
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ") and s.strip()) else ""
    return f"{fence}{pad}{s}{pad}{fence}" if s else f"{fence} {fence}"


class _Style:
    """The few marks that differ between plain text and markdown; every registry string goes through `t`."""

    def __init__(self, markdown: bool):
        self.md = markdown
        self.arrow = "→" if markdown else "->"

    def t(self, s: object) -> str:
        """A registry string as text."""
        return plain(s) if self.md else str(s)

    def bold(self, s: str) -> str:
        """Bold registry text (escaped in markdown)."""
        return f"**{plain(s)}**" if self.md else s

    def code(self, s: str, limit: int = MAX_TEXT) -> str:
        return code(s, limit) if self.md else s

    def heading(self, s: str) -> str:
        return f"#### {s}" if self.md else f"{s}:"

    def item(self, s: str) -> str:
        return f"- {s}" if self.md else f"  - {s}"


def words(cs, markdown: bool = False) -> list[str]:
    """The change set as lines of text or markdown, grouped by what a reviewer asks first."""
    from ..core import changes as c

    st = _Style(markdown)
    title = f"Registry changes: {_side(st, cs.base, cs.base_commit)} {st.arrow} {_side(st, cs.head, cs.head_commit)}"
    lines = [f"### {title}" if markdown else title, ""]
    problems = cs.problems()
    if problems:  # the verdict's reasons first: a comment cut for size keeps them
        lines += [
            st.heading(f"Refused by mlreg validate --base ({len(problems)})"),
            *(st.item(st.code(p, 2000)) for p in problems),
            "",
        ]
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
        ("Settings", [f"{st.code('mlreg.yaml')} changed: {st.t(', '.join(x.keys))}" for x in cs.of(c.SettingsChanged)]),
        ("Git attributes", [f"{st.code(x.file)} added, changed or removed" for x in cs.of(c.AttributesChanged)]),
        ("Files readable again", [f"{st.code(x.file)} (was: {st.t(x.reason)})" for x in cs.of(c.FileReadable)]),
    ]
    for name, items in sections:
        if items:
            lines += [st.heading(name), *map(st.item, items), ""]
    if not cs.changes:
        lines += ["No registry changes.", ""]
    return lines[:-1]


def _side(st: _Style, label: str, commit: str | None) -> str:
    return st.code(label) + (f" ({commit[:10]})" if commit else "")


def _model_added(st: _Style, x) -> str:
    n = len(x.versions)
    return (
        f"{st.bold(x.model)}"
        + (f": {st.t(x.description)}" if x.description else "")
        + f" ({n} version{'s' * (n != 1)})"
    )


def _version_added(st: _Style, x) -> str:
    parts = [f"{st.bold(f'{x.model} v{x.version}')} in {st.code(x.stage)}" + _via(st, x.path[:-1])]
    if x.description:
        parts.append(st.t(x.description))
    if x.metrics:
        parts.append(st.t(", ".join(_metric(k, v) for k, v in x.metrics.items())))
    if x.base:
        parts.append(st.t(f"{x.model_type} of {x.base}"))
    elif x.run:
        parts.append(f"run {st.code(x.run)}")
    return " — ".join(parts) if st.md else "; ".join(parts)


def _via(st: _Style, stages: list[str]) -> str:
    """`(via a -> b)`: the stages passed on the way, when a range of commits made several moves."""
    return f" (via {f' {st.arrow} '.join(map(st.t, stages))})" if stages else ""


def _metric(key: str, value) -> str:
    if not isinstance(value, (int, float)):
        return f"{key}={value}"
    return f"{key}={value:+.2f}%" if key.startswith("improvement_") else f"{key}={value:.4g}"


def _stage(st: _Style, x) -> str:
    text = f"{st.bold(f'{x.model} v{x.version}')} {x.direction} {st.code(x.before)} {st.arrow} {st.code(x.after)}"
    text += _via(st, x.path[1:-1])
    if x.reason:
        text += f": “{st.t(x.reason)}”" if st.md else f': "{x.reason}"'
    if x.by:  # the name only: `Name <email>` would turn into a mail link in markdown
        text += f" ({st.t(str(x.by).split(' <')[0])}" + (f", {st.t(x.at)})" if x.at else ")")
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
    return (
        f"{st.bold(x.model)} description: “{st.t(x.before)}” {st.arrow} “{st.t(x.after)}”"
        if st.md
        else f'{x.model} description: "{x.before}" -> "{x.after}"'
    )
