"""The read catalog (mlreg/storage/catalog*.py): the same answers with and without it, whatever happened to the files
or to the catalog itself; never trusted over the files, never committed."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

from mlreg.storage import catalog, catalogread, catalogscan
from mlreg.storage.catalogfile import Stored

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
    ["search", "name LIKE 'model-000%' and version >= 2", "--order-by", "name DESC", "--max-results", "4"],
    ["find", "best", "--metric", "auc_val", "--model-type", "curriculum", "--fallback-model-type", "continued"],
    ["list"],
]
FIND_BEST, LIST = 4, 9


@copied("reg")
def big(root: Path) -> None:
    """Built once per module, copied per test."""
    generate(root, 12, 5, commit=True)


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    """Files written by the test count as settled at once (no RACY_NS window), so the catalog keeps what it read
    and the tests run its cached paths; the test of that window sets it back."""
    monkeypatch.setattr(catalogscan, "RACY_NS", 0)


def answers(cli, root: Path, monkeypatch, index: bool) -> list[str]:
    if index:
        monkeypatch.delenv("MLREG_NO_INDEX", raising=False)
    else:
        monkeypatch.setenv("MLREG_NO_INDEX", "1")
    out = []
    for args in QUERIES:
        r = cli(root, *args)
        out.append(f"{r.code}\n{r.out}\n{r.err}")
    monkeypatch.delenv("MLREG_NO_INDEX", raising=False)
    return out


def same(cli, root: Path, monkeypatch) -> list[str]:
    plain = answers(cli, root, monkeypatch, index=False)
    assert answers(cli, root, monkeypatch, index=True) == plain  # builds or refreshes the catalog
    assert answers(cli, root, monkeypatch, index=True) == plain  # served from it
    return plain


def catalog_file(root: Path) -> Path:
    return root / ".git" / "mlreg" / "catalog"


def record(root: Path, model: int, version: int) -> Path:
    return root / "registry" / f"model-{model:04d}" / f"v{version}" / "metadata.json"


def edit(path: Path, **fields) -> None:
    doc = json.loads(path.read_text())
    for key, value in fields.items():
        target, _, leaf = key.rpartition("__")
        (doc[target] if target else doc)[leaf] = value
    path.write_text(json.dumps(doc, indent=2) + "\n")


def test_answers_are_the_same_with_and_without_the_catalog(big, cli, monkeypatch, read_models):
    plain = same(cli, big, monkeypatch)
    assert [a.split("\n", 1)[0] for a in plain] == ["0"] * 11 + ["1", "1"] + ["0"] * 4  # two finds find nothing
    assert "did you mean" in plain[12] or "params.model_type" in plain[12]
    assert catalog_file(big).is_file()
    assert git(big, "status", "--porcelain") == ""  # nothing of it is in the work tree
    read_models.clear()  # served from the catalog: only the records answered with are read
    assert cli(big, *QUERIES[0]).code == 0 and len(read_models) == 5
    read_models.clear()
    assert cli(big, *QUERIES[FIND_BEST]).code == 0 and len(read_models) == 1


def test_list_reads_no_record(big, cli, monkeypatch, read_models):
    """`list` needs the model folders and model.yaml files only: with or without a catalog, no metadata.json
    is read (a first `list` does not build the versions' columns)."""
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    plain = cli(big, "list", "--json")
    monkeypatch.delenv("MLREG_NO_INDEX")
    assert cli(big, "list", "--json") == plain and cli(big, "list", "--json") == plain
    assert read_models == []
    assert Stored.open(catalog_file(big), big).head["rows"] is None  # the models alone
    (big / "registry" / "model-0004" / "v3").rename(big / "gone")
    reg = big / "registry" / "model-0002" / "model.yaml"
    reg.write_text(reg.read_text().replace("benchmark model 2", "renamed"))
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    plain = cli(big, "list", "--json")
    monkeypatch.delenv("MLREG_NO_INDEX")
    assert '"versions": 4' in plain.out and "renamed" in plain.out
    assert cli(big, "list", "--json") == plain and cli(big, "list", "--json") == plain
    assert read_models == []


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    path = record(big, 3, 2)
    st = path.stat()
    doc = json.loads(path.read_text())
    text = path.read_text()
    assert text.count(str(doc["metrics"]["rmse_val"])) == 1
    best = "0.0" + "0" * (len(str(doc["metrics"]["rmse_val"])) - 3)  # the same length, and now the best rmse
    path.write_text(text.replace(str(doc["metrics"]["rmse_val"]), best))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    after = same(cli, big, monkeypatch)
    assert '"name": "model-0003"' in after[FIND_BEST] and '"version": 2' in after[FIND_BEST]


def test_versions_and_models_added_removed_and_renamed(big, cli, monkeypatch):
    before = same(cli, big, monkeypatch)
    reg = big / "registry"
    (reg / "model-0004" / "v5").rename(big / "gone")  # a version folder removed
    shutil.rmtree(reg / "model-0007" / "v2")  # and another deleted
    copy = reg / "model-0001" / "v6"  # a version folder added
    copy.mkdir()
    doc = json.loads(record(big, 1, 5).read_text())
    doc.update(version=6, stage="development", created_at="2030-01-01T00:00:00Z")
    doc["lineage"] = {"model_type": "curriculum"}
    (copy / "metadata.json").write_text(json.dumps(doc, indent=2) + "\n")
    shutil.copytree(reg / "model-0011", reg / "model-0012")  # a model added (its records name model-0011)
    added = reg / "model-0012" / "model.yaml"
    added.write_text(added.read_text().replace("model-0011", "model-0012"))
    shutil.rmtree(reg / "model-0010")  # a model removed
    model_yaml = reg / "model-0002" / "model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace("benchmark model 2", "renamed description"))
    after = same(cli, big, monkeypatch)
    assert after != before
    assert "renamed description" in after[LIST] and '"name": "model-0012"' in after[LIST]
    assert '"name": "model-0001"' in after[6] and '"version": 6' in after[6]  # find latest curriculum
    edit(record(big, 1, 6), metrics__auc_val=0.99)  # then an edit, over the rows moved by the above
    top = json.loads(same(cli, big, monkeypatch)[3].split("\n", 1)[1])[0]  # the highest auc_val first
    assert (top["name"], top["version"]) == ("model-0001", 6)


def test_few_changes_are_a_patch_many_rewrite_the_columns(big, cli, monkeypatch):
    monkeypatch.setattr(catalog, "PATCH_MAX", 3)
    same(cli, big, monkeypatch)
    size = Stored.open(catalog_file(big), big).head["rows"]["size"]
    edit(record(big, 2, 2), stage="beta")
    edit(record(big, 5, 1), params__timeframe="1H", metrics__rmse_val=0.001)
    same(cli, big, monkeypatch)
    rows = Stored.open(catalog_file(big), big).head["rows"]
    assert len(rows["patch"]) == 2 and rows["size"] == size  # the columns' bytes copied as they were
    shutil.rmtree(record(big, 0, 1).parent)  # every row moves up one: the stored ones are seen through a map
    same(cli, big, monkeypatch)
    assert Stored.open(catalog_file(big), big).head["rows"]["map"] is not None
    for m in range(6):
        edit(record(big, m, 4), stage="archived", metrics__auc_val=0.5 + m / 100)
    after = same(cli, big, monkeypatch)
    rows = Stored.open(catalog_file(big), big).head["rows"]
    assert rows["patch"] == {} and rows["map"] is None  # written again, the patch folded in
    assert '"name": "model-0005"' in after[FIND_BEST] and '"version": 1' in after[FIND_BEST]


@pytest.mark.parametrize("damage", ["flip-column", "flip-head", "truncate", "garbage", "other-root", "version-1"])
def test_a_corrupt_or_foreign_catalog_is_rebuilt_never_served(big, cli, monkeypatch, damage, tmp_path):
    plain = same(cli, big, monkeypatch)
    path = catalog_file(big)
    data = bytearray(path.read_bytes())
    if damage == "flip-column":
        # change a value inside the last blobs (the columns), keeping the head intact
        for i in range(len(data) - 200, len(data) - 100):
            data[i] ^= 0x5A
    elif damage == "flip-head":
        data[40] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a catalog at all\n" * 10)
    elif damage == "version-1":  # the first release's format
        data = bytearray(b"mlreg-catalog 1\n" + bytes(data[len(b"mlreg-catalog 2\n") :]))
    else:  # a catalog built for another registry folder (a copied .git)
        other = tmp_path / "other"
        generate(other, 3, 2, commit=True)
        cli(other, "list", "--json")
        cli(other, "search", "--json")
        data = bytearray(catalog_file(other).read_bytes())
    path.write_bytes(bytes(data))
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_a_catalog_built_at_another_head(big, cli, monkeypatch):
    """Checking out another commit rewrites the records it changes; a catalog file kept from one commit and put
    back at another is checked like any other (by the files' stats, not by what HEAD says)."""
    at_main = same(cli, big, monkeypatch)
    kept_main = catalog_file(big).read_bytes()
    git(big, "checkout", "-q", "-b", "other")
    edit(record(big, 6, 3), stage="champion", params__timeframe="4H")
    edit(record(big, 8, 1), metrics__rmse_val=0.0001)
    shutil.rmtree(record(big, 9, 5).parent)
    git(big, "add", "-A")
    git(big, "commit", "-q", "-m", "other")
    at_other = same(cli, big, monkeypatch)
    assert at_other != at_main
    kept_other = catalog_file(big).read_bytes()
    catalog_file(big).write_bytes(kept_main)  # main's catalog, on the other branch
    assert answers(cli, big, monkeypatch, index=True) == at_other
    git(big, "checkout", "-q", "main")
    catalog_file(big).write_bytes(kept_other)  # the other branch's catalog, on main
    assert answers(cli, big, monkeypatch, index=True) == at_main
    assert answers(cli, big, monkeypatch, index=True) == at_main


def test_a_record_naming_another_model_answers_as_without_the_catalog(big, cli, monkeypatch):
    """Queries read a record's own name and number (as the files say), the folder it is in only to read it."""
    edit(record(big, 2, 1), name="zzz-elsewhere")
    same(cli, big, monkeypatch)
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    named = cli(big, "search", "name LIKE 'zzz%'", "--json")
    monkeypatch.delenv("MLREG_NO_INDEX")
    assert named.code == 0 and '"zzz-elsewhere"' in named.out
    assert cli(big, "search", "name LIKE 'zzz%'", "--json") == named


def test_a_malformed_record_fails_the_same_way_with_the_catalog(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    record(big, 5, 1).write_text('{"name": "model-0005"')
    plain = answers(cli, big, monkeypatch, index=False)
    assert plain[0].startswith("1\n") and "model-0005/v1/metadata.json" in plain[0]
    assert plain[LIST].startswith("0\n")  # list reads no record
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert answers(cli, big, monkeypatch, index=True) == plain
    record(big, 5, 2).unlink()  # a version folder without its record
    plain = answers(cli, big, monkeypatch, index=False)
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_no_catalog_when_turned_off(big, cli, monkeypatch):
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    assert cli(big, *QUERIES[0]).code == 0 and cli(big, "list").code == 0
    assert not catalog_file(big).exists()


def test_a_malformed_model_file_fails_list_but_not_search(big, cli, monkeypatch):
    same(cli, big, monkeypatch)
    (big / "registry" / "model-0006" / "model.yaml").write_text("name: [unclosed\n")
    plain = answers(cli, big, monkeypatch, index=False)
    assert plain[LIST].startswith("1\n") and plain[0].startswith("0\n")
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_a_change_right_after_a_build_is_never_served_stale(big, cli, monkeypatch):
    """Both stats marked stale (a build and an edit within RACY_NS) must not read as "unchanged"."""
    monkeypatch.setattr(catalogscan, "RACY_NS", 10**18)  # every stat counts as too recent: nothing is cached
    plain = same(cli, big, monkeypatch)
    path = record(big, 5, 1)
    path.write_text('{"name": "model-0005"')
    broken = answers(cli, big, monkeypatch, index=False)
    assert broken != plain and broken[0].startswith("1\n")
    assert answers(cli, big, monkeypatch, index=True) == broken


def test_a_first_build_read_by_forked_children(big, cli, monkeypatch):
    if threading.active_count() != 1 or not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2:
        pytest.skip("children are forked only on Linux, with a spare core, by a process with no other thread")
    forked = []
    real = os.fork

    def fork():
        pid = real()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(catalogread, "FORK_MIN", 10)
    monkeypatch.setattr(catalogscan, "FORKED", 10)  # and a child takes half the stats of every read
    record(big, 7, 3).write_text("[]")  # a record a child cannot read: its error is made here
    plain = answers(cli, big, monkeypatch, index=False)
    assert answers(cli, big, monkeypatch, index=True) == plain
    assert len(forked) > 10  # the first build's reader, then a child per read of the rows
    record(big, 7, 3).unlink()
    shutil.rmtree(record(big, 7, 3).parent)
    catalog_file(big).unlink()
    plain = answers(cli, big, monkeypatch, index=False)
    assert answers(cli, big, monkeypatch, index=True) == plain


def test_report_is_the_same_with_and_without_the_catalog(big, cli, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    sites = []
    for index in (False, True, True):
        if index:
            monkeypatch.delenv("MLREG_NO_INDEX", raising=False)
        else:
            monkeypatch.setenv("MLREG_NO_INDEX", "1")
        out = tmp_path / f"site{len(sites)}"
        assert cli(big, "report", "-m", "model-0003", "-o", str(out)).code == 0
        sites.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert sites[0] == sites[1] == sites[2] and len(sites[0]) > 3
