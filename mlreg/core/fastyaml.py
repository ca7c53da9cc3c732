"""Read the plain YAML mlreg writes without importing PyYAML, or say it cannot (then PyYAML reads it).

`show` and `resolve` read `mlreg.yaml` and one `model.yaml`, and importing PyYAML (it compiles its
resolvers' regular expressions on import) costs about as much as the rest of their own work. What mlreg
writes there (`files.dumps_yaml`), and what a person writes by hand, is nearly always a small subset: block
mappings (`key: value` lines, nested under `key:` lines), lists of values (`- value` lines), and values that
are plain words, whole numbers, decimals, single-quoted strings (folded onto more lines or not), plain
double-quoted ones, `{}` or `[]`.

`parse` reads exactly that subset and answers what PyYAML's safe loader answers for it; anything else (an
anchor, a tag, a block scalar, an escape, a comment after a value, a key given twice, a YAML 1.1 word such
as `yes` or `off` as a key, a number with an exponent or underscores, a tab, a byte order mark, a mapping inside a
list) returns `MISS`, and the caller asks PyYAML, so what is accepted, what it means and every error message
stay PyYAML's. tests/test_fastyaml.py checks that the two agree on every document the fast path reads,
among thousands generated and mutated.
"""

from __future__ import annotations

import re
from typing import Any

MISS: Any = object()  # not in the subset: PyYAML decides

# a mapping line: indent, a plain key (a letter or _ first) or a single-quoted one, then ":" and, after one
# space, the value
_LINE = re.compile(r"( *)(([A-Za-z_][A-Za-z0-9_.\-/]*)|'([^'\n]*)'):(?: (.*))?\Z")
_ITEM = re.compile(r"( *)-(?: (.*))?\Z")  # a list item: one value
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+\Z")
# words YAML 1.1 (PyYAML's resolver) reads as booleans or null, in every spelling it accepts
_WORDS = {
    w: meaning
    for base, meaning in (("yes", True), ("true", True), ("on", True), ("no", False), ("false", False), ("off", False))
    + (("null", None),)
    for w in (base, base.capitalize(), base.upper())
} | {"~": None}


def parse(data: bytes | str) -> Any:
    """The document `data` holds, or MISS when it is outside the subset."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            return MISS
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return MISS
    else:
        text = data
    if "\t" in text or "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text:
        return MISS
    lines = [line.rstrip(" ") for line in text.split("\n")]
    top: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(0, top)]  # (indent, mapping or list) from the document down
    pending: tuple[dict[str, Any], str, int] | None = None  # a `key:` line with nothing after it yet
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line.lstrip(" ").startswith("#"):
            continue
        if not line.isprintable():
            return MISS
        m = _LINE.match(line)
        item = None if m else _ITEM.match(line)
        if m is None and item is None:
            return MISS
        spaces = len((m or item).group(1))  # type: ignore[union-attr]
        if pending is not None:
            parent, key, at = pending
            pending = None
            if m is not None and spaces > at:
                parent[key] = {}
                stack.append((spaces, parent[key]))
            elif item is not None and spaces >= at:
                parent[key] = []
                stack.append((spaces, parent[key]))
        while stack and (
            stack[-1][0] > spaces or (stack[-1][0] == spaces and isinstance(stack[-1][1], list) != (m is None))
        ):
            stack.pop()
        if not stack or stack[-1][0] != spaces:
            return MISS  # a ragged indent, or a list where a mapping goes on (or the other way)
        rest = ((m.group(5) if m else item.group(2)) or "").strip(" ")  # type: ignore[union-attr]
        parts = [rest]
        while rest and i < len(lines):  # a value folded onto more-indented lines
            body = lines[i].lstrip(" ")
            if not body or len(lines[i]) - len(body) <= spaces:
                break
            if not lines[i].isprintable():
                return MISS
            parts.append(body)
            i += 1
        value = _value(parts)
        if value is MISS:
            return MISS
        container = stack[-1][1]
        if m is None:
            if not rest:
                return MISS  # an empty item, or an item holding a mapping or a list
            container.append(value)
            continue
        key = m.group(3) if m.group(3) is not None else m.group(4)
        if m.group(3) in _WORDS or key in container:
            return MISS  # a YAML 1.1 word as a key (a boolean), or a key twice
        container[key] = value
        if not rest:
            pending = (container, key, spaces)
    return top if top else MISS


def _value(parts: list[str]) -> Any:
    """A value as PyYAML's safe loader reads it, or MISS: `parts` are its first line's text and the lines it
    continues on (YAML folds each break between them to one space)."""
    text = " ".join(parts)
    if not text:
        return None
    first = text[0]
    if first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            return MISS
        return inner.replace("''", "'")
    if len(parts) > 1 and any(p.startswith("#") or p.endswith(":") for p in parts[1:]):
        return MISS  # a comment, or a mapping's key, where a plain value would go on
    if first == '"':
        inner = text[1:-1]
        if len(parts) > 1 or len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            return MISS
        return inner
    if len(parts) == 1:
        if text == "{}":
            return {}
        if text == "[]":
            return []
        if _INT.match(text):
            return int(text)
        if _DECIMAL.match(text):
            return float(text)
    if len(parts) == 1 and text in _WORDS:
        return _WORDS[text]
    if not first.isalpha() or text in _WORDS or text.endswith(":") or ": " in text or " #" in text:
        return MISS
    return text
