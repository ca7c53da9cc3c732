"""Search expressions: an MLflow-style filter (`metrics.rmse < 0.1 and params.x = 'y'`) and order-by keys,
tokenized and parsed by hand (errors point at the column), then matched against version views."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import MlregError
from .query import number as _number

if TYPE_CHECKING:
    from .views import VersionView


# -- search expressions: tokenizer -----------------------------------------------------------------
class SearchSyntaxError(MlregError):
    """A malformed search expression or order-by key; `position` is the 0-based character offset."""

    def __init__(self, what: str, text: str, position: int, message: str):
        self.position = position
        super().__init__(f"invalid {what} at column {position + 1}: {message}\n  {text}\n  {' ' * position}^")


@dataclass(frozen=True)
class Token:
    """One lexeme: kind is word, key (`backquoted`), string, number, op, punct or end."""

    kind: str
    text: str
    pos: int
    value: Any = None


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_WORD = re.compile(r"[A-Za-z0-9_]+")  # after a dot: metrics.1h_return
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")  # 0.5, not .5 (a dot starts a key part)
_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_QUOTES = {"'": "string", '"': "string", "`": "key"}


def tokenize(text: str, what: str = "search expression") -> list[Token]:
    """Split an expression into tokens, ending with an `end` token; a stray character is an error."""
    out: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        after_dot = bool(out) and out[-1].text == "." and out[-1].kind == "punct"
        if c in _QUOTES:
            tok = _quoted(text, i, what)
        elif after_dot and (m := _KEY_WORD.match(text, i)):
            tok = Token("word", m.group(), i, m.group())
        elif m := _NUMBER.match(text, i):
            tok = Token("number", m.group(), i, float(m.group()))
        elif m := _WORD.match(text, i):
            tok = Token("word", m.group(), i, m.group())
        elif op := next((o for o in _OPS if text.startswith(o, i)), None):
            tok = Token("op", op, i, {"<>": "!=", "==": "="}.get(op, op))
        elif c in "().,":
            tok = Token("punct", c, i, c)
        else:
            raise SearchSyntaxError(what, text, i, f"unexpected character {c!r}")
        out.append(tok)
        i = tok.pos + len(tok.text)
    out.append(Token("end", "", len(text)))
    return out


def _quoted(text: str, start: int, what: str) -> Token:
    """A '...', "..." or `...` literal; a doubled quote or a backslash escapes the quote character."""
    q, i, chars = text[start], start + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif c == q and text.startswith(q * 2, i):
            chars.append(q)
            i += 2
        elif c == q:
            return Token(_QUOTES[q], text[start : i + 1], start, "".join(chars))
        else:
            chars.append(c)
            i += 1
    raise SearchSyntaxError(what, text, start, f"unterminated {q}...{q}: no closing {q}")


# -- search expressions: keys, conditions, parser --------------------------------------------------
def _lineage(attr: str) -> Callable[[VersionView], Any]:
    return lambda v: getattr(v.record.lineage, attr)


# attribute -> (value type, getter); type is "str", "int" or "time" (ISO text that also orders)
ATTRIBUTES: dict[str, tuple[str, Callable[[VersionView], Any]]] = {
    "name": ("str", lambda v: v.record.name),
    "version": ("int", lambda v: v.record.version),
    "stage": ("str", lambda v: v.record.stage),
    "created_at": ("time", lambda v: v.record.created_at),
    "created_by": ("str", lambda v: v.record.created_by),
    "description": ("str", lambda v: v.record.description),
    "model_type": ("str", _lineage("model_type")),
    "enhancement_type": ("str", _lineage("enhancement_type")),
    "version_type": ("str", lambda v: v.version_type),
    "experiment": ("str", lambda v: v.record.run.experiment),
    "run_name": ("str", lambda v: v.record.run.name),
    "run_id": ("str", lambda v: v.record.run.mlflow_run_id),
}
_ATTRIBUTE_ALIASES = {"version_number": "version", "current_stage": "stage"}
_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
_OPS_BY_TYPE = {
    "num": ("=", "!=", "<", "<=", ">", ">="),
    "int": ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"),
    "str": ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"),
    "time": ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"),
}


@dataclass(frozen=True)
class Key:
    """What a condition or order-by reads: a metric, param, tag or attribute of a version."""

    kind: str  # metric | param | tag | attribute
    name: str
    pos: int = 0

    @property
    def type(self) -> str:
        return {"metric": "num", "param": "str", "tag": "str"}.get(self.kind) or ATTRIBUTES[self.name][0]

    @property
    def label(self) -> str:
        return self.name if self.kind == "attribute" else f"{self.kind}s.{self.name}"

    def value_of(self, v: VersionView) -> Any:
        """The version's value for this key, or None when it has none."""
        r = v.record
        if self.kind == "metric":
            return self.from_raw(r.metrics.get(self.name))
        if self.kind in ("param", "tag"):
            return self.from_raw((r.params if self.kind == "param" else r.tags).get(self.name))
        return ATTRIBUTES[self.name][1](v)

    def from_raw(self, x: Any) -> Any:
        """A recorded metric, param or tag value as this key compares it (None: not a value it can compare)."""
        if self.kind == "metric":
            return _number(x)
        return x if isinstance(x, str) else None


@dataclass(frozen=True)
class Condition:
    """`key op value`; a version without a value for the key never matches (as in MLflow)."""

    key: Key
    op: str
    value: Any

    def matches(self, v: VersionView) -> bool:
        return self.accepts(self.key.value_of(v))

    def accepts(self, actual: Any) -> bool:
        """Whether a version whose value for the key is `actual` matches."""
        return actual is not None and _compare(actual, self.op, self.value)


def _compare(actual: Any, op: str, want: Any) -> bool:
    if op == "=":
        return actual == want
    if op == "!=":
        return actual != want
    if op in ("LIKE", "ILIKE"):
        return _like(want, op == "ILIKE").fullmatch(actual) is not None
    if op in ("IN", "NOT IN"):
        return (actual in want) == (op == "IN")
    return {"<": actual < want, "<=": actual <= want, ">": actual > want, ">=": actual >= want}[op]


@lru_cache(maxsize=256)
def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE: `%` any run of characters, `_` one character, everything else literal."""
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


@dataclass(frozen=True)
class Filter:
    """A parsed search expression: conditions combined with AND (no conditions: everything)."""

    conditions: tuple[Condition, ...] = ()

    def matches(self, v: VersionView) -> bool:
        return all(c.matches(v) for c in self.conditions)

    def model_names(self) -> list[str] | None:
        """The model names the filter pins with `name = '...'` or `name IN (...)` (None: any model)."""
        pinned: set[str] | None = None
        for c in self.conditions:
            if c.key.kind == "attribute" and c.key.name == "name" and c.op in ("=", "IN"):
                names = {c.value} if c.op == "=" else set(c.value)
                pinned = names if pinned is None else pinned & names
        return None if pinned is None else sorted(pinned)


@dataclass(frozen=True)
class OrderKey:
    """One sort key of --order-by."""

    key: Key
    descending: bool = False


class _Parser:
    """Recursive descent over the token list; every failure names the column."""

    def __init__(self, text: str, what: str):
        self.text, self.what = text, what
        self.tokens = tokenize(text, what)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += min(1, len(self.tokens) - 1 - self.i)
        return tok

    def fail(self, message: str, tok: Token | None = None) -> NoReturn:
        raise SearchSyntaxError(self.what, self.text, (tok or self.peek()).pos, message)

    def keyword(self, *words: str) -> Token | None:
        tok = self.peek()
        if tok.kind == "word" and tok.text.upper() in words:
            return self.take()
        return None

    def punct(self, c: str) -> bool:
        if self.peek().kind == "punct" and self.peek().text == c:
            self.take()
            return True
        return False

    def expect_end(self, hint: str) -> None:
        tok = self.peek()
        if tok.kind != "end":
            if tok.text.upper() == "OR":
                self.fail("OR is not supported: MLflow filters combine conditions with AND only", tok)
            self.fail(f"expected {hint}, got {_shown(tok)}", tok)

    # grammar -------------------------------------------------------------------------------------
    def filter(self) -> Filter:
        if self.peek().kind == "end":
            return Filter()
        conditions = [self.condition()]
        while self.keyword("AND"):
            conditions.append(self.condition())
        self.expect_end("AND or the end of the expression")
        return Filter(tuple(conditions))

    def condition(self) -> Condition:
        key = self.key()
        op = self.operator(key)
        if op in ("IN", "NOT IN"):
            return Condition(key, op, self.value_list(key))
        return Condition(key, op, self.scalar(key))

    def key(self) -> Key:
        tok = self.take()
        if tok.kind != "word":
            self.fail(
                f"expected a key such as metrics.rmse_val, params.model_type, tags.team or stage, got {_shown(tok)}",
                tok,
            )
        if not self.punct("."):
            return Key("attribute", self.attribute(tok.text, tok), tok.pos)
        kind = _PREFIXES.get(tok.text.lower())
        if kind is None:
            self.fail(f"unknown key prefix {tok.text!r}: expected metrics., params., tags. or attributes.", tok)
        name_tok = self.take()
        if name_tok.kind not in ("word", "key", "string"):
            self.fail(
                f"expected a name after {tok.text}. (backquote names with other characters: "
                f"{tok.text}.`evaluation/best_mean_reward`), got {_shown(name_tok)}",
                name_tok,
            )
        name = name_tok.value
        while kind in ("param", "tag") and self.punct("."):  # dotted tag names: tags.mlflow.runName
            part = self.take()
            if part.kind not in ("word", "key"):
                self.fail(f"expected a name part after '.', got {_shown(part)}", part)
            name += "." + part.value
        if kind == "attribute":
            name = self.attribute(name, name_tok)
        return Key(kind, name, tok.pos)

    def attribute(self, name: str, tok: Token) -> str:
        name = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if name not in ATTRIBUTES:
            self.fail(
                f"unknown attribute {tok.value or tok.text!r}: expected one of {', '.join(ATTRIBUTES)} "
                f"(metrics, params and tags need their prefix, e.g. metrics.{tok.value or tok.text})",
                tok,
            )
        return name

    def operator(self, key: Key) -> str:
        tok = self.take()
        op = None
        if tok.kind == "op":
            op = tok.value
        elif tok.kind == "word" and tok.text.upper() in ("LIKE", "ILIKE", "IN"):
            op = tok.text.upper()
        elif tok.kind == "word" and tok.text.upper() == "NOT":
            if not self.keyword("IN"):
                self.fail(f"expected IN after NOT, got {_shown(self.peek())}")
            op = "NOT IN"
        if op is None:
            self.fail(
                f"expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN) after {key.label}, "
                f"got {_shown(tok)}",
                tok,
            )
        allowed = _OPS_BY_TYPE[key.type]
        if op not in allowed:
            self.fail(f"{key.label} does not support {op}: use {', '.join(allowed)}", tok)
        return op

    def value_list(self, key: Key) -> tuple[Any, ...]:
        if not self.punct("("):
            self.fail(f"expected '(' to start the IN list, got {_shown(self.peek())}")
        items = [self.scalar(key)]
        while self.punct(","):
            items.append(self.scalar(key))
        if not self.punct(")"):
            self.fail(f"expected ',' or ')' in the IN list, got {_shown(self.peek())}")
        return tuple(items)

    def scalar(self, key: Key) -> Any:
        tok = self.take()
        if key.type in ("num", "int"):
            if tok.kind != "number":
                self.fail(f"{key.label} compares with a number, got {_shown(tok)}", tok)
            if key.type == "int":
                if not tok.value.is_integer():
                    self.fail(f"{key.label} is a whole number, got {tok.text}", tok)
                return int(tok.value)
            return tok.value
        if tok.kind != "string":
            bare = re.match(r"[^\s(),'\"`]+", self.text[tok.pos :])
            if bare and tok.kind in ("number", "word"):
                self.fail(f"{key.label} compares with a quoted string, got {bare.group()}: write '{bare.group()}'", tok)
            self.fail(f"{key.label} compares with a quoted string, got {_shown(tok)}", tok)
        return tok.value

    def order_keys(self) -> list[OrderKey]:
        keys = []
        while True:
            key = self.key()
            desc = self.keyword("DESC") is not None
            if not desc:
                self.keyword("ASC")
            keys.append(OrderKey(key, desc))
            if not self.punct(","):
                break
        self.expect_end("ASC, DESC, ',' or the end of the order-by key")
        return keys


def _shown(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the expression"
    return tok.text if tok.kind in ("string", "key") else repr(tok.text)


def parse_filter(text: str) -> Filter:
    """Parse an MLflow-style filter: `metrics.rmse_val < 0.07 and params.model_type = 'lgbm'`."""
    return _Parser(text or "", "search expression").filter()


def parse_order_by(order_by: str | Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by keys: each `KEY [ASC|DESC]`, several per string separated by commas."""
    items = [order_by] if isinstance(order_by, str) else list(order_by or [])
    return [k for text in items for k in _Parser(text, "--order-by").order_keys()]


# -- search --------------------------------------------------------------------------------------
def sort_views(views: Iterable[VersionView], order: Sequence[OrderKey]) -> list[VersionView]:
    """Sort by the keys in turn (versions without a value last either way); ties by name, then version."""
    out = sorted(views, key=lambda v: (v.record.name, v.record.version))
    for k in reversed(order):  # stable sorts, least significant key first
        if k.descending:
            out.sort(key=lambda v: _present(k.key.value_of(v), True), reverse=True)  # sort() runs it at once
        else:
            out.sort(key=lambda v: _present(k.key.value_of(v), False))
    return out


def _present(x: Any, descending: bool) -> tuple[bool, Any]:
    """A sort key that puts missing values last for either direction."""
    if x is None:
        return (not descending, 0)
    return (descending, x)


def search(
    views: Iterable[VersionView], flt: Filter, order: Sequence[OrderKey] = (), max_results: int | None = None
) -> list[VersionView]:
    """Versions matching `flt`, sorted by `order`, at most `max_results` of them."""
    check_max_results(max_results)
    found = sort_views((v for v in views if flt.matches(v)), order)
    return found if max_results is None else found[:max_results]


def check_max_results(max_results: int | None) -> None:
    if max_results is not None and max_results < 1:
        raise MlregError(f"--max-results must be at least 1, got {max_results}")
