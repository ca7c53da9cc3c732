"""The compiled schema checks (fastschema) never call a document valid that jsonschema refuses.

validate asks jsonschema for messages whenever the compiled check says "not valid", so the messages users
read never change; this proves the other direction on many mutations of real documents.
"""

from __future__ import annotations

import copy
import json

import pytest

from mlreg.core import schemas
from mlreg.core.fastschema import compile_schema
from mlreg.core.records import PRESETS

ODD_VALUES = [None, True, False, 0, 1, 1.0, 1.5, -1, "", "x", "0" * 64, [], {}, ["x", "x"], ["x"], {"a": 1}]


def mutations(doc):
    """Every document one edit away: each value replaced by an odd one, each key dropped, a key added."""
    yield {**doc, "unknown_field": 1} if isinstance(doc, dict) else doc
    paths = []

    def walk(x, path):
        paths.append(path)
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, path + [k])
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, path + [i])

    walk(doc, [])
    for path in paths[1:]:
        for value in [*ODD_VALUES, "__drop__", "__extra__"]:
            out = copy.deepcopy(doc)
            parent = out
            for p in path[:-1]:
                parent = parent[p]
            if value == "__drop__":
                del parent[path[-1]]
            elif value == "__extra__":
                if not isinstance(parent[path[-1]], dict):
                    continue
                parent[path[-1]]["zz_extra"] = "x"
            else:
                parent[path[-1]] = value
            yield out


@pytest.fixture
def documents(reg, training):
    reg.register("m", training(metrics={"rmse_val": 0.06, "evaluation/best_mean_reward": 3}))
    reg.register("m", training(), base="m@1", enhancement_type="continued")
    reg.promote("m", "2", "beta", "ok")
    root = reg.root
    version = json.loads((root / "registry/m/v2/metadata.json").read_text())
    import yaml

    model = yaml.safe_load((root / "registry/m/model.yaml").read_text())
    model["aliases"] = {"prod": 2}
    model["tags"] = {"team": "quant"}
    run = json.loads((training() / "run_metadata.json").read_text())
    return {
        "model_version": version,
        "model": model,
        "run_metadata": run,
        **{f"registry:{k}": v for k, v in PRESETS.items()},
    }


def test_every_shipped_schema_compiles():
    for kind in schemas.KINDS:
        assert schemas._fast(kind) is not None, kind


def test_compiled_checks_agree_with_jsonschema(documents):
    checked = 0
    for name, doc in documents.items():
        kind = name.split(":")[0]
        fast, slow = schemas._fast(kind), schemas._validator(kind)
        assert fast(doc) and not list(slow.iter_errors(doc)), name  # the real document is valid
        for mutated in mutations(doc):
            if fast(mutated):
                assert not list(slow.iter_errors(mutated)), (name, mutated)
            checked += 1
    assert checked > 1000


def test_unknown_keywords_fall_back_to_jsonschema():
    assert compile_schema({"type": "object", "patternProperties": {"^a": {}}}) is None
    assert compile_schema({"$ref": "https://example.com/x.json"}) is None
    assert compile_schema({"type": "string", "format": "date"}) is None


def test_messages_are_jsonschema_s(tmp_path):
    problems = schemas.problems("model", {"schema_version": 1, "name": 3}, "registry/m/model.yaml")
    assert problems == ["registry/m/model.yaml: $.name: expected a string, got 3"]
