import json

import pytest

from helpers import world


@world
def filled(reg, training):
    reg.register("btc", training(), description="Trained 2023-2025 data")
    reg.register("btc", training(metrics={"rmse_val": 0.06}))
    reg.register("eth", training())
    reg.promote("btc", "1", "beta", "passed validation")
    reg.alias_set("btc", "Staging", "2")
    return reg


def test_list_models_json(filled, cli):
    r = cli(filled.root, "list", "--json")
    assert r.code == 0
    rows = r.json()
    assert [(m["name"], m["versions"], m["latest"]) for m in rows] == [("btc", 2, 2), ("eth", 1, 1)]
    assert rows[0]["aliases"] == {"Staging": 2}


def test_list_versions_and_stage_filter(filled, cli):
    rows = cli(filled.root, "list", "--versions", "--json").json()
    assert [(v["name"], v["version"]) for v in rows] == [("btc", 1), ("btc", 2), ("eth", 1)]
    beta = cli(filled.root, "list", "--stage", "beta", "--json").json()
    assert [(v["name"], v["version"], v["stage"]) for v in beta] == [("btc", 1, "beta")]


def test_list_table_is_readable(filled, cli):
    out = cli(filled.root, "list").out
    assert "btc" in out and "Staging->v2" in out


def test_show_model_and_version(filled, cli):
    doc = cli(filled.root, "show", "btc", "--json").json()
    assert doc["name"] == "btc" and [v["version"] for v in doc["versions"]] == [1, 2]
    v = cli(filled.root, "show", "btc@Staging", "--json").json()
    assert v["version"] == 2 and v["version_type"] == "latest"
    assert v["path"] == str(filled.root / "registry/btc/v2")
    one = cli(filled.root, "show", "btc@v1", "--json").json()
    assert one["stage"] == "beta" and one["description"] == "Trained 2023-2025 data"
    table = cli(filled.root, "show", "btc@1").out
    assert "passed validation" in table and "rmse_val" in table


def test_show_reads_only_that_models_folder(filled, cli, read_models):
    assert cli(filled.root, "show", "btc", "--json").code == 0
    assert cli(filled.root, "show", "btc@2", "--json").code == 0
    assert set(read_models) == {"btc"}


@pytest.mark.parametrize(
    "ref, message",
    [
        ("nope", "model 'nope' not found"),
        ("btc@9", "btc: version 9 not found (versions: 1..2)"),
        ("btc@Prod", "btc@Prod: unknown ref"),
        ("btc@beta", "stage 'beta' can hold several versions"),
        ("../etc", "invalid model name"),
    ],
)
def test_show_unknown_refs_are_clear_errors(filled, cli, ref, message):
    r = cli(filled.root, "show", ref)
    assert r.code == 1 and message in r.err


def test_verify_reports_each_artifact(filled, cli):
    r = cli(filled.root, "verify", "btc@2", "--json")
    assert r.code == 0 and {a["status"] for a in r.json()["artifacts"]} == {"ok"}
    (filled.root / "registry/btc/v2/model.txt").write_text("tampered")
    r = cli(filled.root, "verify", "btc", "--json")
    assert r.code == 1
    bad = [a for a in r.json()["artifacts"] if a["status"] != "ok"]
    assert [(a["version"], a["location"], a["status"]) for a in bad] == [(2, "model.txt", "mismatch")]


def test_verify_external_files_when_reachable(reg, training, cli):
    src = training()
    reg.register("ext", src, external=True)
    assert cli(reg.root, "verify", "ext@1").code == 0
    (src / "model.txt").write_text("changed")
    r = cli(reg.root, "verify", "ext@1", "--json")
    assert r.code == 1 and "mismatch" in {a["status"] for a in r.json()["artifacts"]}
    (src / "model.txt").unlink()
    statuses = {
        a["location"].rsplit("/", 1)[-1]: a["status"]
        for a in cli(reg.root, "verify", "ext", "--json").json()["artifacts"]
    }
    assert statuses["model.txt"] == "unreachable"


def test_json_output_is_one_document(filled, cli):
    for args in (
        ["list", "--json"],
        ["list", "--versions", "--json"],
        ["show", "btc", "--json"],
        ["history", "btc", "--json"],
        ["validate", "--json"],
    ):
        json.loads(cli(filled.root, *args).out)


def test_reads_refuse_a_newer_schema_version(filled, cli):
    path = filled.root / "registry/btc/v2/metadata.json"
    doc = json.loads(path.read_text())
    doc["schema_version"] = 3
    path.write_text(json.dumps(doc))
    for args in (["show", "btc@2"], ["show", "btc"], ["list", "--versions"], ["resolve", "btc@2"]):
        r = cli(filled.root, *args)
        assert r.code == 1 and "file uses schema_version 3, this mlreg reads up to 1" in r.err, args


def test_list_filter_uses_the_search_syntax(filled, cli):
    rows = cli(filled.root, "list", "--filter", "metrics.rmse_val < 0.065", "--json").json()
    assert [(v["name"], v["version"]) for v in rows] == [("btc", 2)]
    r = cli(filled.root, "list", "--filter", "metrics.rmse_val <")
    assert r.code == 1 and "Error:" in r.err
