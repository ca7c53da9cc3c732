"""A JSON Schema compiled once into plain Python predicates: a fast yes/no for the common case (valid).

`jsonschema` walks a schema afresh for every document (~1 ms per metadata.json); `validate` checks
10,000 of them. The shipped schemas use a small set of keywords, compiled here into closures that say
only whether a document is valid. When it is not (or a schema uses a keyword this module does not know),
`schemas.problems` asks `jsonschema` for the messages, so what users read never changes. Every check
errs towards "not valid": a false "not valid" costs speed, never a missed problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "$comment", "examples", "default"}


class Unsupported(Exception):
    """The schema uses something this compiler does not handle: use jsonschema alone."""


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A predicate that is True only for documents the schema accepts; None when the schema is beyond it."""
    try:
        return _Compiler(schema).compile(schema)
    except Unsupported:
        return None


class _Compiler:
    _OBJECT_KEYS = {"properties", "additionalProperties", "required", "propertyNames", "minProperties"}

    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, s: Any) -> Check:
        if s is True:
            return lambda x: True
        if s is False:
            return lambda x: False
        if not isinstance(s, dict):
            raise Unsupported(repr(s))
        checks = []
        if "type" in s:
            checks.append(_type_check(s["type"]))
        if self._OBJECT_KEYS & s.keys():
            checks.append(self._object(s))
        for key, value in s.items():
            if key in _ANNOTATIONS or key == "type" or key in self._OBJECT_KEYS:
                continue
            make = getattr(self, "_k_" + key.lstrip("$"), None)
            if make is None:
                raise Unsupported(key)
            check = make(value)
            if check is not None:
                checks.append(check)
        return _all(checks)

    def _object(self, s: dict) -> Check:
        """properties, additionalProperties, required, propertyNames and minProperties in one pass."""
        if "patternProperties" in s:
            raise Unsupported("patternProperties")
        props = {k: self.compile(v) for k, v in s.get("properties", {}).items()}
        extra = s.get("additionalProperties", True)
        extra_check = None if isinstance(extra, bool) else self.compile(extra)
        closed = extra is False
        required = tuple(s.get("required", ()))
        names = self.compile(s["propertyNames"]) if "propertyNames" in s else None
        least = s.get("minProperties", 0)

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for k in required:
                if k not in x:
                    return False
            for k, v in x.items():
                c = props.get(k)
                if c is not None:
                    if not c(v):
                        return False
                elif closed or (extra_check is not None and not extra_check(v)):
                    return False
                if names is not None and not names(k):
                    return False
            return len(x) >= least

        return check

    # -- other keywords (each applies only to instances of its type, as in JSON Schema) -----------------
    def _k_items(self, value: Any) -> Check:
        if not isinstance(value, (dict, bool)):
            raise Unsupported("items as a list")
        sub = self.compile(value)

        def check(x: Any) -> bool:
            if isinstance(x, list):
                for i in x:
                    if not sub(i):
                        return False
            return True

        return check

    def _k_uniqueItems(self, value: bool) -> Check | None:
        if not value:
            return None
        # only lists of strings are judged here; any other list reads as "not valid" (jsonschema decides)
        return lambda x: not isinstance(x, list) or (all(isinstance(i, str) for i in x) and len(set(x)) == len(x))

    def _k_pattern(self, value: str) -> Check:
        search = re.compile(value).search
        return lambda x: not isinstance(x, str) or search(x) is not None

    def _k_minLength(self, value: int) -> Check:
        return lambda x: not isinstance(x, str) or len(x) >= value

    def _k_minimum(self, value: float) -> Check:
        return lambda x: isinstance(x, bool) or not isinstance(x, (int, float)) or x >= value

    def _k_enum(self, value: list) -> Check:
        return lambda x: any(_same(x, v) for v in value)

    def _k_const(self, value: Any) -> Check:
        return lambda x: _same(x, value)

    def _k_exclusiveMinimum(self, value: float) -> Check:
        return lambda x: isinstance(x, bool) or not isinstance(x, (int, float)) or x > value

    def _k_anyOf(self, value: list) -> Check:
        subs = [self.compile(v) for v in value]
        return lambda x: any(c(x) for c in subs)

    def _k_oneOf(self, value: list) -> Check:
        subs = [self.compile(v) for v in value]
        return lambda x: sum(1 for c in subs if c(x)) == 1

    def _k_ref(self, value: str) -> Check:
        if not value.startswith("#/$defs/") or "/" in value[len("#/$defs/") :]:
            raise Unsupported(f"$ref {value}")
        if value not in self.refs:
            target = self.root.get("$defs", {}).get(value[len("#/$defs/") :])
            if target is None:
                raise Unsupported(f"$ref {value}")
            self.refs[value] = lambda x: False  # a recursive reference: not supported, stay conservative
            self.refs[value] = self.compile(target)
        return self.refs[value]


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)

    def check(x: Any) -> bool:
        for c in checks:
            if not c(x):
                return False
        return True

    return check


def _type_check(value: Any) -> Check:
    """`type`: one isinstance for the plain types; bools are never numbers; 1.0 is an integer."""
    names = [value] if isinstance(value, str) else list(value)
    plain = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if any(n not in plain and n not in ("number", "integer") for n in names):
        raise Unsupported(f"type {value!r}")
    kinds = tuple(plain[n] for n in names if n in plain)
    if "number" in names:
        return lambda x: isinstance(x, kinds) or (isinstance(x, (int, float)) and not isinstance(x, bool))
    if "integer" in names:
        return lambda x: (
            isinstance(x, kinds)
            or (isinstance(x, int) and not isinstance(x, bool))
            or (isinstance(x, float) and x.is_integer())
        )
    return lambda x: isinstance(x, kinds)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (so 1, 1.0 and true are told apart: in doubt, not equal)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
