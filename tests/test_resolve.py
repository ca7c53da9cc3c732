"""resolve: every ref form to the version folder and absolute artifact paths."""

from pathlib import Path

import pytest

from mlreg.errors import MlregError, NotFound

from helpers import world


@world
def btc(reg, training):
    reg.register("btc", training())
    reg.register("btc", training(files={"model.txt": "v2\n", "sub/scaler.json": "{}\n"}))
    reg.register("btc", training())
    reg.promote("btc", "2", "beta", "passed backtest")
    reg.promote("btc", "2", "champion", "best rmse_val")
    reg.alias_set("btc", "Staging", "1")
    return reg


@pytest.mark.parametrize(
    "ref, version",
    [
        ("btc@champion", 2),
        ("btc@Staging", 1),
        ("btc/3", 3),
        ("btc@3", 3),
        ("btc@v1", 1),
        ("btc@latest", 3),
        ("models:/btc@champion", 2),
        ("models:/btc/1", 1),
        ("models:/btc@latest", 3),
    ],
)
def test_every_ref_form(btc, ref, version):
    got = btc.resolve(ref)
    assert got.record.version == version and got.ref == ref
    assert got.path == btc.root / "registry" / "btc" / f"v{version}" and got.path.is_absolute()
    assert (got.path / "metadata.json").is_file()


def test_artifact_paths_are_absolute_and_exist(btc):
    got = btc.resolve("btc@champion")
    assert got.artifact_paths == [
        str(btc.root / "registry/btc/v2" / p) for p in ("model.txt", "run_metadata.json", "sub/scaler.json")
    ]
    assert all(Path(p).read_text() for p in got.artifact_paths)


def test_external_artifacts_keep_their_recorded_location(reg, training):
    src = training()
    reg.register("ext", src, external=True)
    got = reg.resolve("ext@latest")
    assert str(src.resolve() / "model.txt") in got.artifact_paths
    assert got.path == reg.root / "registry/ext/v1"


def test_stage_ref_follows_a_promotion(btc):
    btc.promote("btc", "3", "beta", "candidate")
    btc.promote("btc", "3", "champion", "better")
    assert btc.resolve("btc@champion").record.version == 3


@pytest.mark.parametrize(
    "ref, error, message",
    [
        ("btc", MlregError, "'btc': no version given; expected NAME@ALIAS"),
        ("models:/btc", MlregError, "no version given"),
        ("btc@", MlregError, "no version given"),
        ("nope@champion", NotFound, "model 'nope' not found"),
        ("btc/9", NotFound, "btc: version 9 not found (versions: 1..3)"),
        ("btc@Production", NotFound, "btc@Production: unknown ref; expected a version number"),
        ("btc@beta", MlregError, "stage 'beta' can hold several versions"),
        ("../x@1", MlregError, "invalid model name"),
    ],
)
def test_unknown_refs_are_clear_errors(btc, ref, error, message):
    with pytest.raises(error) as e:
        btc.resolve(ref)
    assert message in str(e.value)


def test_no_champion_yet(reg, training):
    reg.register("eth", training())
    with pytest.raises(NotFound, match="eth: no version is in stage 'champion'"):
        reg.resolve("eth@champion")


def test_cli_resolve_prints_the_path_or_json(btc, cli):
    r = cli(btc.root, "resolve", "btc@champion")
    assert r.code == 0 and r.out == f"{btc.root / 'registry/btc/v2'}\n"
    doc = cli(btc.root, "resolve", "models:/btc/2", "--json").json()
    assert (doc["name"], doc["version"], doc["stage"], doc["ref"]) == ("btc", 2, "champion", "models:/btc/2")
    assert doc["path"] == str(btc.root / "registry/btc/v2") and doc["version_type"] == "latest"
    assert doc["artifact_paths"][0] == str(btc.root / "registry/btc/v2/model.txt")
    assert [a["path"] for a in doc["artifacts"]] == ["model.txt", "run_metadata.json", "sub/scaler.json"]


def test_cli_resolve_errors(btc, cli):
    r = cli(btc.root, "resolve", "btc@Production")
    assert r.code == 1 and r.out == "" and r.err.startswith("Error: btc@Production: unknown ref")
    r = cli(btc.root, "resolve", "btc")
    assert r.code == 1 and "no version given" in r.err


def test_resolve_from_another_folder_with_repo_option(btc, cli, tmp_path):
    r = cli(tmp_path, "--repo", str(btc.root), "resolve", "btc/1")
    assert r.out.strip() == str(btc.root / "registry/btc/v1")


def test_alias_pointing_at_a_missing_version(btc):
    model_yaml = btc.root / "registry/btc/model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("Staging: 1", "Staging: 7"))
    with pytest.raises(NotFound, match="btc@Staging points at v7, which does not exist"):
        btc.resolve("btc@Staging")


def test_malformed_files_are_clear_errors_on_the_fast_path(btc):
    meta = btc.root / "registry/btc/v3/metadata.json"
    meta.write_text('{"name": "btc"')
    with pytest.raises(MlregError, match="registry/btc/v3/metadata.json: malformed JSON"):
        btc.resolve("btc@latest")
    meta.write_text('{"name": "btc", "version": 3}')
    with pytest.raises(
        MlregError,
        match=r"registry/btc/v3/metadata.json: malformed version record "
        r"\(missing field 'created_at'\); run `mlreg validate`",
    ):
        btc.search("")
    (btc.root / "registry/btc/model.yaml").write_text("- not a mapping\n")
    with pytest.raises(MlregError, match="registry/btc/model.yaml: malformed model file"):
        btc.resolve("btc/1")
