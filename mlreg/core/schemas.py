"""Load the shipped JSON Schemas, validate documents, and turn failures into user messages."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..masking import mask
from .records import SCHEMA_VERSION

SCHEMA_DIR = Path(__file__).parent.parent / "schemas"  # mlreg/schemas/: the shipped JSON
KINDS = ("registry", "model", "model_version", "run_metadata")


@cache
def _schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())


@cache
def _validator(kind: str) -> Any:
    import jsonschema  # deferred: only an invalid document (or an uncompilable schema) pays for it

    return jsonschema.Draft202012Validator(_schema(kind))


@cache
def _fast(kind: str) -> Any:
    """The schema compiled once into a yes/no predicate (None: jsonschema does every check)."""
    from .fastschema import compile_schema

    return compile_schema(_schema(kind))


def json_path(parts: Any) -> str:
    """Render a jsonschema path deque as `$.a.b[0]`."""
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def problems(kind: str, doc: Any, where: str) -> list[str]:
    """Every schema violation of `doc` as `where: $.path: message` lines (empty when valid)."""
    return check(kind, doc, where)[0]


def check(kind: str, doc: Any, where: str) -> tuple[list[str], bool]:
    """`problems(...)`, and whether the compiled check alone found the document valid (jsonschema was not
    asked: the verdict depends on mlreg's own code and schemas only)."""
    newer = newer_schema(doc, where)
    if newer:
        return [newer], False
    fast = _fast(kind)
    if fast is not None and fast(doc):
        return [], True
    errors = sorted(_validator(kind).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{where}: {json_path(e.absolute_path)}: {_describe(e)}" for e in errors], False


def newer_schema(doc: Any, where: str) -> str | None:
    """The error for a document written by a newer mlreg (cheap: no jsonschema), else None."""
    v = doc.get("schema_version") if isinstance(doc, dict) else None
    if isinstance(v, int) and not isinstance(v, bool) and v > SCHEMA_VERSION:
        return (
            f"{where}: $.schema_version: file uses schema_version {v}, this mlreg reads "
            f"up to {SCHEMA_VERSION}; upgrade mlreg"
        )
    return None


def _describe(err: Any) -> str:
    if err.validator == "additionalProperties" and not err.validator_value:
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown field(s) {', '.join(map(repr, extra))}"
    if err.validator == "required":
        return f"expected {err.message}"
    if err.validator == "pattern":
        return f"expected a string matching {err.validator_value}, got {mask(repr(err.instance))}"
    if err.validator == "type":
        return f"expected {_type_words(err.validator_value)}, got {_short(err.instance)}"
    if err.validator == "const":
        return f"expected {err.validator_value!r}, got {_short(err.instance)}"
    return err.message


def _type_words(t: Any) -> str:
    names = [t] if isinstance(t, str) else list(t)
    return " or ".join(
        {"integer": "an integer", "object": "an object", "array": "an array"}.get(n, f"a {n}") for n in names
    )


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
