"""The read catalog (mlreg/storage/catalog.py): the same answers with and without it, whatever happened to the files
or to the catalog itself; never trusted over the files, never committed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import git
from helpers import copied

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_reads import generate

pytestmark = pytest.mark.slow  # a 60-version registry queried 33 times per test

QUERIES = [
    [
        "search",
        "metrics.rmse_val < 0.07 and params.timeframe = '1H' and stage != 'archived'",
        "--order-by",
        "metrics.rmse_val ASC",
        "--max-results",
        "5",
        "--json",
    ],
    [
        "search",
        "metrics.`evaluation/best_mean_reward` > 2 and model_type = 'continued'",
        "--order-by",
        "created_at DESC",
        "--json",
    ],
    ["search", "tags.target_type = 'regression' and version_type = 'old'", "--order-by", "run_name", "--json"],
    ["search", "", "--order-by", "metrics.auc_val DESC", "--max-results", "7", "--json"],
    ["find", "best", "--metric", "rmse_val", "--json"],
    ["find", "best", "--metric", "auc_val", "--model-type", "continued", "--json"],
    ["find", "latest", "--model-type", "curriculum", "--fallback-model-type", "base", "--json"],
    ["find", "latest", "--version-type", "old", "--json"],
    ["find", "stage", "champion", "--param", "timeframe=4H", "--json"],
    ["list", "--json"],
    ["list", "--stage", "beta", "--json"],
    ["find", "best", "--metric", "rmse_nowhere", "--json"],  # nothing has it: the error, hints and all
    ["find", "best", "--metric", "rmse_val", "--model-type", "lgbm"],  # a params value given as lineage type
    [
        "search",
        "params.timeframe IN ('1H', '4H') and tags.target_type LIKE 'reg%' and metrics.auc_val >= 0.6",
        "--json",
    ],
]


@copied("reg")
def big(root: Path) -> None:
    """Built once per module, copied per test."""
    generate(root, 12, 5, commit=True)


def answers(cli, root: Path, monkeypatch, index: bool) -> list[str]:
    if index:
        monkeypatch.delenv("MLREG_NO_INDEX", raising=False)
    else:
        monkeypatch.setenv("MLREG_NO_INDEX", "1")
    out = []
    for args in QUERIES:
        r = cli(root, *args)
        out.append(f"{r.code}\n{r.out}\n{r.err}")
    return out


def same(cli, root: Path, monkeypatch) -> list[str]:
    plain = answers(cli, root, monkeypatch, index=False)
    assert answers(cli, root, monkeypatch, index=True) == plain  # builds or refreshes the catalog
    assert answers(cli, root, monkeypatch, index=True) == plain  # served from it
    return plain


def catalog_file(root: Path) -> Path:
    return root / ".git" / "mlreg" / "catalog"


def test_answers_are_the_same_with_and_without_the_catalog(big, cli, monkeypatch):
    plain = same(cli, big, monkeypatch)
    assert [a.split("\n", 1)[0] for a in plain] == ["0"] * 11 + ["1", "1", "0"]  # the two finds find nothing
    assert "did you mean" in plain[12] or "params.model_type" in plain[12]
    assert catalog_file(big).is_file()
    assert git(big, "status", "--porcelain") == ""  # nothing of it is in the work tree


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    path = big / "registry" / "model-0003" / "v2" / "metadata.json"
    st = path.stat()
    doc = json.loads(path.read_text())
    old = f"{doc['metrics']['rmse_val']:.6f}"
    text = path.read_text()
    assert text.count(str(doc["metrics"]["rmse_val"])) == 1
    best = "0.0" + "0" * (len(str(doc["metrics"]["rmse_val"])) - 3)  # the same length, and now the best rmse
    path.write_text(text.replace(str(doc["metrics"]["rmse_val"]), best))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    after = same(cli, big, monkeypatch)
    assert '"name": "model-0003"' in after[4] and '"version": 2' in after[4], old  # find best sees the edit


def test_versions_and_models_added_removed_and_renamed(big, cli, monkeypatch):
    before = same(cli, big, monkeypatch)
    reg = big / "registry"
    (reg / "model-0004" / "v5").rename(big / "gone")  # a version folder removed
    copy = reg / "model-0001" / "v6"
    copy.mkdir()
    doc = json.loads((reg / "model-0001" / "v5" / "metadata.json").read_text())
    doc.update(version=6, stage="development", created_at="2030-01-01T00:00:00Z")
    doc["lineage"] = {"model_type": "curriculum"}
    (copy / "metadata.json").write_text(json.dumps(doc, indent=2) + "\n")
    model_yaml = reg / "model-0002" / "model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("benchmark model 2", "renamed description"))
    after = same(cli, big, monkeypatch)
    assert after != before
    assert "renamed description" in after[9]
    assert '"name": "model-0001"' in after[6] and '"version": 6' in after[6]  # find latest curriculum


@pytest.mark.parametrize("damage", ["flip-column", "flip-head", "truncate", "garbage", "other-root"])
def test_a_corrupt_or_foreign_catalog_is_rebuilt_never_served(big, cli, monkeypatch, damage, tmp_path):
    plain = same(cli, big, monkeypatch)
    path = catalog_file(big)
    data = bytearray(path.read_bytes())
    if damage == "flip-column":
        # change a value inside the last blobs (the columns and rows), keeping the head intact
        for i in range(len(data) - 200, len(data) - 100):
            data[i] ^= 0x5A
    elif damage == "flip-head":
        data[40] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a catalog at all\n" * 10)
    else:  # a catalog built for another registry folder (a copied .git)
        other = tmp_path / "other"
        generate(other, 3, 2, commit=True)
        cli(other, "list", "--json")
        data = bytearray(catalog_file(other).read_bytes())
    path.write_bytes(bytes(data))
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_a_malformed_record_fails_the_same_way_with_the_catalog(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    (big / "registry" / "model-0005" / "v1" / "metadata.json").write_text('{"name": "model-0005"')
    plain = answers(cli, big, monkeypatch, index=False)
    assert plain[0].startswith("1\n") and "model-0005/v1/metadata.json" in plain[0]
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_no_catalog_outside_a_git_dir_and_when_turned_off(big, cli, monkeypatch):
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    assert cli(big, *QUERIES[0]).code == 0
    assert not catalog_file(big).exists()


def test_a_malformed_model_file_fails_list_but_not_search(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    (big / "registry" / "model-0006" / "model.yaml").write_text("name: [unclosed\n")
    plain = answers(cli, big, monkeypatch, index=False)
    assert plain[9].startswith("1\n") and plain[0].startswith("0\n")
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_a_change_right_after_a_build_is_never_served_stale(big, cli, monkeypatch):
    """Both stats marked stale (a build and an edit within RACY_NS) must not read as "unchanged"."""
    from mlreg.storage import catalog

    monkeypatch.setattr(catalog, "RACY_NS", 10**18)  # every stat counts as too recent: nothing is cached
    plain = same(cli, big, monkeypatch)
    path = big / "registry" / "model-0005" / "v1" / "metadata.json"
    path.write_text('{"name": "model-0005"')
    broken = answers(cli, big, monkeypatch, index=False)
    assert broken != plain and broken[0].startswith("1\n")
    assert answers(cli, big, monkeypatch, index=True) == broken
