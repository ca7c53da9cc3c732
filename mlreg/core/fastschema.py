"""A JSON Schema compiled once into plain Python: a fast yes/no for the common case (valid).

`jsonschema` walks a schema afresh for every document (~1 ms per metadata.json); `validate` checks
100,000 of them. The shipped schemas use a small set of keywords, compiled here into the source of a few
Python functions (one per object or array in the schema, every other keyword an inline expression), which
say only whether a document is valid. When it is not (or a schema uses a keyword this module does not
know), `schemas.problems` asks `jsonschema` for the messages, so what users read never changes. Every
check errs towards "not valid": a false "not valid" costs speed, never a missed problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "$comment", "examples", "default"}
_OBJECT_KEYS = {"properties", "additionalProperties", "required", "propertyNames", "minProperties"}
_MISSING = object()


class Unsupported(Exception):
    """The schema uses something this compiler does not handle: use jsonschema alone."""


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A predicate that is True only for documents the schema accepts; None when the schema is beyond it."""
    try:
        gen = _Generator(schema)
        name = gen.function(schema)
    except (Unsupported, re.error):
        return None
    namespace = dict(gen.env)
    exec(
        compile("\n".join(gen.source), "<mlreg.fastschema>", "exec"), namespace
    )  # our own source, from the shipped schemas
    return namespace[name]


class _Generator:
    """Writes one function per object or array schema; every other keyword becomes an inline expression
    over a local name. Values the code needs (patterns, key sets, constants) are passed in by name."""

    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.source: list[str] = []
        self.env: dict[str, Any] = {
            "_M": _MISSING,
            "_same": _same,
            "_in": _in,
            "_unique": _unique_strings,
            "_learn": _learn,
        }
        self.refs: dict[str, str] = {}
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def value(self, v: Any) -> str:
        """A name in the generated code's globals bound to `v`."""
        name = self._name("c")
        self.env[name] = v
        return name

    def function(self, s: Any) -> str:
        """The name of a generated function `f(x) -> bool` for schema `s`."""
        name = self._name("f")
        body = self.object_lines(s) if isinstance(s, dict) and _OBJECT_KEYS & s.keys() else []
        rest = {k: v for k, v in s.items() if k not in _OBJECT_KEYS} if isinstance(s, dict) else s
        body.append(f"    return {self.expr(rest, 'x')}")
        self.source += [f"def {name}(x):", *body, ""]
        return name

    def expr(self, s: Any, v: str) -> str:
        """A Python expression, true when the value named `v` satisfies schema `s`."""
        if s is True or s == {}:
            return "True"
        if s is False:
            return "False"
        if not isinstance(s, dict):
            raise Unsupported(repr(s))
        parts = []
        for key, value in sorted(s.items(), key=lambda kv: kv[0] != "type"):  # the cheap type test first
            if key in _ANNOTATIONS or key in _OBJECT_KEYS:
                continue
            make = getattr(self, "_k_" + key.lstrip("$"), None)
            if make is None:
                raise Unsupported(key)
            test = make(value, v)
            if key != "type" and s.get("type") == "string":  # the type test already made sure it is a string
                test = test.replace(f"(not isinstance({v}, str) or ", "(", 1)
            parts.append(test)
        obj = {k: x for k, x in s.items() if k in _OBJECT_KEYS}
        if obj.keys() == {"required"}:  # anyOf's {"required": [...]}: inline
            parts.append(f"(not isinstance({v}, dict) or {self.value(frozenset(obj['required']))} <= {v}.keys())")
        elif obj:
            parts.append(f"{self.function(obj)}({v})")
        return " and ".join(parts) if parts else "True"

    def object_lines(self, s: dict[str, Any]) -> list[str]:
        """properties, additionalProperties, required, propertyNames and minProperties, as statements on x."""
        out = ["    if isinstance(x, dict):"]
        props = s.get("properties", {})
        if s.get("required"):
            out.append(f"        if not {self.value(frozenset(s['required']))} <= x.keys(): return False")
        extra = s.get("additionalProperties", True)
        known = self.value(frozenset(props))
        if extra is False:
            out.append(f"        if not x.keys() <= {known}: return False")
        for key, sub in props.items():
            test = self.expr(sub, "v")
            if test != "True":
                out += [f"        v = x.get({key!r}, _M)", f"        if v is not _M and not ({test}): return False"]
        extra_test = "True" if isinstance(extra, bool) else self.expr(extra, "v")
        names_test = self.expr(s["propertyNames"], "k") if "propertyNames" in s else "True"
        if extra_test != "True" or names_test != "True":
            out.append("        for k, v in x.items():")
            if extra_test != "True":
                out.append(f"            if k not in {known} and not ({extra_test}): return False")
            if names_test != "True":
                out.append(f"            if not ({names_test}): return False")
        if s.get("minProperties", 0):
            out.append(f"        if len(x) < {int(s['minProperties'])}: return False")
        return out

    # -- other keywords (each applies only to instances of its type, as in JSON Schema) -----------------
    def _k_type(self, value: Any, v: str) -> str:
        names = [value] if isinstance(value, str) else list(value)
        plain = {"object": "dict", "array": "list", "string": "str", "boolean": "bool"}
        tests = []
        for n in names:
            if n in plain:
                tests.append(f"isinstance({v}, {plain[n]})")
            elif n == "null":
                tests.append(f"{v} is None")
            elif n == "number":
                tests.append(f"(isinstance({v}, (int, float)) and not isinstance({v}, bool))")
            elif n == "integer":  # bools are never numbers; 1.0 is an integer
                tests.append(
                    f"(isinstance({v}, int) and not isinstance({v}, bool))"
                    f" or (isinstance({v}, float) and {v}.is_integer())"
                )
            else:
                raise Unsupported(f"type {value!r}")
        return f"({' or '.join(tests)})" if tests else "False"

    def _k_items(self, value: Any, v: str) -> str:
        if not isinstance(value, (dict, bool)):
            raise Unsupported("items as a list")
        name = self._name("f")
        test = self.expr(value, "i")
        self.source += [
            f"def {name}(x):",
            "    if isinstance(x, list):",
            "        for i in x:",
            f"            if not ({test}): return False",
            "    return True",
            "",
        ]
        return f"{name}({v})"

    def _k_uniqueItems(self, value: bool, v: str) -> str:
        return f"_unique({v})" if value else "True"

    def _k_pattern(self, value: str, v: str) -> str:
        # strings that matched are remembered (field names, model names and paths repeat from file to file)
        matched, search = self.value(set()), self.value(re.compile(value).search)
        return f"(not isinstance({v}, str) or {v} in {matched} or _learn({matched}, {search}, {v}))"

    def _k_minLength(self, value: int, v: str) -> str:
        return f"(not isinstance({v}, str) or len({v}) >= {int(value)})"

    def _k_minimum(self, value: float, v: str) -> str:
        return f"(isinstance({v}, bool) or not isinstance({v}, (int, float)) or {v} >= {self.value(value)})"

    def _k_exclusiveMinimum(self, value: float, v: str) -> str:
        return f"(isinstance({v}, bool) or not isinstance({v}, (int, float)) or {v} > {self.value(value)})"

    def _k_enum(self, value: list, v: str) -> str:
        if value and all(type(e) is str for e in value):
            return f"(type({v}) is str and {v} in {self.value(frozenset(value))})"
        return f"_in({v}, {self.value(list(value))})"

    def _k_const(self, value: Any, v: str) -> str:
        if type(value) in (str, int):
            return f"(type({v}) is {type(value).__name__} and {v} == {self.value(value)})"
        return f"_same({v}, {self.value(value)})"

    def _k_anyOf(self, value: list, v: str) -> str:
        return "(" + " or ".join(f"({self.expr(sub, v)})" for sub in value) + ")" if value else "False"

    def _k_oneOf(self, value: list, v: str) -> str:
        return "(" + " + ".join(f"(1 if ({self.expr(sub, v)}) else 0)" for sub in value) + " == 1)"

    def _k_ref(self, value: str, v: str) -> str:
        prefix = "#/$defs/"
        if not value.startswith(prefix) or "/" in value[len(prefix) :]:
            raise Unsupported(f"$ref {value}")
        if value not in self.refs:
            target = self.root.get("$defs", {}).get(value[len(prefix) :])
            if target is None:
                raise Unsupported(f"$ref {value}")
            self.refs[value] = "_never"  # a recursive reference: not supported, stay conservative
            self.env["_never"] = lambda x: False
            self.refs[value] = self.function(target)
        return f"{self.refs[value]}({v})"


def _learn(matched: set[str], search: Callable[[str], Any], text: str) -> bool:
    """Whether `text` matches; a match is remembered (up to a bound: memory stays small on any registry)."""
    if search(text) is None:
        return False
    if len(matched) < 50_000:
        matched.add(text)
    return True


def _unique_strings(x: Any) -> bool:
    """uniqueItems, judged only for lists of strings; any other list reads as "not valid" (jsonschema decides)."""
    return not isinstance(x, list) or (all(isinstance(i, str) for i in x) and len(set(x)) == len(x))


def _in(x: Any, values: list) -> bool:
    return any(_same(x, v) for v in values)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (so 1, 1.0 and true are told apart: in doubt, not equal)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
