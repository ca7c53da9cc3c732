import json
from pathlib import Path

import jsonschema
import pytest

from mlreg.core import schemas
from mlreg.core.files import RegistryFiles

TOP = Path(__file__).parent.parent / "schemas"


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_shipped_schema_equals_top_level_copy(kind):
    shipped = (schemas.SCHEMA_DIR / f"{kind}.schema.json").read_text()
    assert shipped == (TOP / f"{kind}.schema.json").read_text()


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_is_valid_draft_2020_12_with_schema_version(kind):
    doc = json.loads((TOP / f"{kind}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert "schema_version" in doc["properties"]


def test_problems_name_file_and_json_path():
    found = schemas.problems("model", {"schema_version": 1, "name": "../x", "tags": {"a": 1}}, "m.yaml")
    assert any(p.startswith("m.yaml: $.name: expected a string matching") for p in found)
    assert any(p.startswith("m.yaml: $.tags.a: expected a string") for p in found)


def test_newer_schema_version_is_a_clear_error_not_a_guess():
    found = schemas.problems("model", {"schema_version": 7, "name": "m"}, "registry/m/model.yaml")
    assert found == [
        "registry/m/model.yaml: $.schema_version: file uses schema_version 7, this mlreg reads up to 1; upgrade mlreg"
    ]


def test_settings_with_unknown_field_is_refused(tmp_path):
    (tmp_path / "mlreg.yaml").write_text("schema_version: 1\nstagez: []\n")
    with pytest.raises(Exception, match=r"mlreg.yaml: \$: unknown field\(s\) 'stagez'"):
        RegistryFiles(tmp_path).settings()
