"""validate on a big-ish registry (240 models x 6 versions, checked by worker processes) still catches every
class of error, wherever it is, whatever the facts cache (<git dir>/mlreg/validated) and the digest cache
hold: the answer is the one a single process with no cache gives, word for word and in the same order."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from mlreg.api import Registry
from mlreg.core import checks, fastload, version_checks
from mlreg.core.files import RegistryFiles, parse_json
from mlreg.errors import MlregError
from mlreg.storage import digests
from mlreg.storage.validated import worktree_inputs

from conftest import git
from helpers import copied

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_reads import generate

pytestmark = pytest.mark.slow  # a 1,440-version registry, validated several times per test

MODELS, VERSIONS = 240, 6  # 240 models: above checks.PARALLEL_FROM, so `validate` forks its workers
LAST = f"model-{MODELS - 1:04d}"  # the model whose last file is read last
LAST_META = f"registry/{LAST}/v{VERSIONS}/metadata.json"


@copied("reg")
def built(root: Path) -> None:
    """Built once per module (real digests, one commit, both caches filled by one validate), copied per test."""
    generate(root, MODELS, VERSIONS, real_digests=True, commit=True)
    assert Registry(root).validate() == []


@pytest.fixture
def big(built: Path) -> Path:
    """The copy, its index refreshed as after a clone (a copied index holds the old files' stat data, so git
    would count every file as changed and no cache would be used)."""
    git(built, "status", "--porcelain")
    return built


def reference(root: Path) -> list[str]:
    """The answer with none of the speed-ups: one process, no facts cache, no digest cache."""
    files = RegistryFiles(root)
    return checks.registry_problems(files, digests.worktree_hasher(root, digests.DigestCache(None)), jobs=1)


def validate(root: Path) -> list[str]:
    """What `mlreg validate` answers (workers, both caches read and written)."""
    return Registry(root).validate()


def edit(root: Path, rel: str, change) -> None:
    path = root / rel
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def test_a_big_registry_is_valid_and_a_second_run_reads_no_unchanged_file(big, monkeypatch):
    kept = big / ".git" / "mlreg" / "validated"
    kept.unlink()
    assert validate(big) == []
    assert kept.is_file() and not git(big, "status", "--porcelain")  # under the git dir, never in the work tree
    read = []
    real_json, real_yaml = version_checks.read_json, version_checks.load_yaml
    monkeypatch.setattr(version_checks, "read_json", lambda *a: read.append(a[1]) or real_json(*a))
    monkeypatch.setattr(version_checks, "load_yaml", lambda *a: read.append(a[1]) or real_yaml(*a))
    assert checks.registry_problems(RegistryFiles(big), *worktree_inputs(big)[:1], jobs=1) == []
    assert len(read) == MODELS * (VERSIONS + 1)  # no facts cache: every file read
    read.clear()
    hasher, memo, _ = worktree_inputs(big)
    assert checks.registry_problems(RegistryFiles(big), hasher, jobs=1, memo=memo) == []
    assert read == []  # every file unchanged since the first run: none read
    (big / LAST_META).write_text((big / LAST_META).read_text().replace('"notes": ""', '"notes": "x"'))
    for _ in range(2):  # changed and not committed: read on every run, and only it
        hasher, memo, save = worktree_inputs(big)
        assert checks.registry_problems(RegistryFiles(big), hasher, jobs=1, memo=memo) == []
        save()
    assert read == [LAST_META] * 2


def _dup_key(root: Path) -> None:
    path = root / LAST_META
    path.write_text(path.read_text().replace('"notes": ""', '"notes": "", "notes": "again"'))


def _copy_previous_version(root: Path) -> None:
    """v9's record as v10's: its content is fine (its facts are cached), its place is not."""
    (root / LAST_META).write_bytes((root / f"registry/{LAST}/v{VERSIONS - 1}/metadata.json").read_bytes())


def _champion(doc: dict) -> None:
    doc["stage"] = doc["stage_history"][-1]["to"] = "champion"


def _drop_stage_from_settings(root: Path) -> None:
    settings = root / "mlreg.yaml"
    lines = settings.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == "beta:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 6))
    settings.write_text("".join(lines[:start] + lines[end:]))


BREAKAGES = {
    "schema": (
        lambda r: edit(r, LAST_META, lambda d: d["metrics"].update(rmse_val="bad")),
        f"{LAST_META}: $.metrics.rmse_val: expected a number, got 'bad'",
    ),
    "malformed JSON": (lambda r: (r / LAST_META).write_text("{oops"), f"{LAST_META}: malformed JSON"),
    "duplicate key": (_dup_key, f"{LAST_META}: malformed JSON: duplicate key 'notes'"),
    "name": (
        lambda r: edit(r, LAST_META, lambda d: d.update(name="model-0000")),
        f"{LAST_META}: $.name: expected '{LAST}' (the model folder), got 'model-0000'",
    ),
    "copied record": (_copy_previous_version, f"{LAST_META}: $.version: expected {VERSIONS} (the folder v{VERSIONS})"),
    "history": (
        lambda r: edit(r, LAST_META, lambda d: d.update(stage="beta")),
        f"{LAST_META}: $.stage: expected 'development' (where the last stage_history entry moved it)",
    ),
    "tampered artifact": (
        lambda r: (r / f"registry/{LAST}/v{VERSIONS}/model.txt").write_text("tampered"),
        f"{LAST_META}: $.artifacts[0]: model.txt does not match its recorded sha256/size",
    ),
    "missing artifact": (
        lambda r: (r / f"registry/{LAST}/v{VERSIONS}/model.txt").unlink(),
        f"{LAST_META}: $.artifacts[0]: model.txt is recorded but missing",
    ),
    "stray file": (
        lambda r: (r / f"registry/{LAST}/v{VERSIONS}/notes.txt").write_text("x"),
        f"{LAST_META}: $.artifacts: file notes.txt is in the version folder but not recorded",
    ),
    "symlink": (
        lambda r: os.symlink("model.txt", r / f"registry/{LAST}/v{VERSIONS}/alias.txt"),
        f"registry/{LAST}/v{VERSIONS}/alias.txt: is a symbolic link (to model.txt)",
    ),
    "credentials": (
        lambda r: edit(r, LAST_META, lambda d: d["artifacts"].append({**d["artifacts"][0], "uri": "s3://u:p@b/k"})),
        f"{LAST_META}: $.artifacts[1].uri: ",
    ),
    "stage the settings drop": (_drop_stage_from_settings, f"registry/{LAST}/v{VERSIONS - 1}/metadata.json: $.stage"),
    "two champions": (
        lambda r: edit(r, LAST_META, _champion),
        f"registry/{LAST}: stage 'champion' is exclusive but held by v{VERSIONS - 2}, v{VERSIONS}",
    ),
    "lineage": (
        lambda r: edit(r, LAST_META, lambda d: d["lineage"]["base"].update(version=99)),
        f"{LAST_META}: $.lineage.base: base {LAST} v99 does not exist",
    ),
    "model.yaml": (
        lambda r: (r / f"registry/{LAST}/model.yaml").write_text("schema_version: 1\nname: other\n"),
        f"registry/{LAST}/model.yaml: $.name: expected '{LAST}' (the folder name), got 'other'",
    ),
    "missing version": (
        lambda r: __import__("shutil").rmtree(r / f"registry/{LAST}/v3"),
        f"registry/{LAST}: versions must be contiguous from v1; missing v3",
    ),
    "empty version folder": (
        lambda r: (r / f"registry/{LAST}/v{VERSIONS + 1}").mkdir(),
        f"registry/{LAST}/v{VERSIONS + 1}/metadata.json: file not found",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_an_error_in_the_last_file_after_a_warm_run(big, breakage):
    make, expected = BREAKAGES[breakage]  # both caches hold every file (the build validated it)
    make(big)
    found = validate(big)
    assert any(p.startswith(expected) for p in found), found
    assert found == reference(big)
    assert validate(big) == found  # and again, with whatever the failing run kept


@pytest.mark.parametrize("breakage", ["schema", "copied record", "tampered artifact", "stray file"])
def test_the_same_errors_committed(big, breakage):
    """Committed, the broken files are clean in git's eyes: their blob ids are what the caches look up."""
    make, expected = BREAKAGES[breakage]
    make(big)
    git(big, "add", "-A")
    git(big, "commit", "-qm", "break")
    first = validate(big)
    assert any(p.startswith(expected) for p in first) and first == reference(big)
    assert validate(big) == first


def test_an_error_only_in_the_work_tree_with_the_same_size_and_mtime(big):
    assert validate(big) == []
    path = big / LAST_META
    before = path.stat()
    while int(time.time()) <= int(before.st_ctime):  # git (as Debian builds it) compares ctime to the second:
        time.sleep(0.05)  # an edit in the same second as the index's record is invisible to git status too
    text = path.read_text()
    path.write_text(text.replace('"stage": "development"', '"stage": "developmenX"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    found = validate(big)
    assert f"{LAST_META}: $.stage: expected 'development' (where the last stage_history entry moved it), got " in (
        " ".join(found)
    )
    assert found == reference(big)
    assert git(big, "diff", "--stat", "HEAD")  # in the work tree only


@pytest.mark.parametrize("mark", ["--assume-unchanged", "--skip-worktree"])
def test_a_file_git_was_told_not_to_compare_is_read(big, mark):
    """git diff-files says nothing of a file marked so; neither cache may take its blob id for its content."""
    rels = [LAST_META, f"registry/{LAST}/v{VERSIONS - 1}/model.txt"]
    git(big, "update-index", mark, *rels)
    BREAKAGES["history"][0](big)
    (big / rels[1]).write_text("tampered")
    found = validate(big)
    assert found == reference(big)
    assert any(p.startswith(BREAKAGES["history"][1]) for p in found)
    assert f"registry/{LAST}/v{VERSIONS - 1}/metadata.json: $.artifacts[0]: model.txt does not match its " in (
        " ".join(found)
    )


def test_an_error_in_head_fixed_in_the_work_tree_passes(big):
    good = (big / LAST_META).read_bytes()
    BREAKAGES["schema"][0](big)
    git(big, "commit", "-qam", "break")
    assert validate(big) != []
    (big / LAST_META).write_bytes(good)
    assert validate(big) == []


def test_an_ignored_stray_file_in_an_untouched_model_is_still_found(big):
    assert validate(big) == []
    (big / ".gitignore").write_text("*.tmp-notes\n")
    (big / "registry/model-0007/v4/scratch.tmp-notes").write_text("x")
    found = validate(big)
    assert found == [
        "registry/model-0007/v4/metadata.json: $.artifacts: file scratch.tmp-notes is in the version folder but "
        "not recorded"
    ]
    assert found == reference(big)


def test_workers_and_one_process_give_the_same_answer_in_the_same_order(big):
    for name in ("tampered artifact", "stray file", "lineage"):
        BREAKAGES[name][0](big)
    (big / "registry/model-0003/v2/metadata.json").write_text("[]")
    edit(big, "registry/model-0150/v4/metadata.json", lambda d: d["metrics"].update(rmse_val="bad"))
    (big / "registry/stray.txt").write_text("x")
    (big / "registry/model-0100/v5/model.txt").unlink()
    hasher, memo, _ = worktree_inputs(big)
    files = RegistryFiles(big)
    one = checks.registry_problems(files, hasher, jobs=1)
    assert len(one) == 7
    assert checks.registry_problems(files, hasher, jobs=2, memo=memo) == one
    assert checks.registry_problems(files, hasher, jobs=3, memo=memo) == one  # now from the facts learned
    assert one == reference(big)


def test_a_worker_that_dies_costs_only_time(big, monkeypatch):
    BREAKAGES["tampered artifact"][0](big)
    parent, real = os.getpid(), checks._one_model
    monkeypatch.setattr(checks, "_one_model", lambda *a: real(*a) if os.getpid() == parent else os._exit(3))
    hasher, memo, _ = worktree_inputs(big)
    found = checks.registry_problems(RegistryFiles(big), hasher, jobs=2, memo=memo)
    assert found == reference(big) and len(found) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # torn
        lambda b: b[:-40] + bytes(40),  # payload changed: its sha256 no longer matches
        lambda b: b"garbage\n" + b,
        lambda b: b.replace(b"mlreg-validated 1 ", b"mlreg-validated 1 x", 1),  # another fingerprint
        lambda b: b"",
    ],
    ids=["torn", "corrupt", "foreign", "fingerprint", "empty"],
)
def test_a_damaged_facts_cache_is_never_served(big, damage):
    assert validate(big) == []
    kept = big / ".git" / "mlreg" / "validated"
    BREAKAGES["schema"][0](big)
    kept.write_bytes(damage(kept.read_bytes()))
    found = validate(big)
    assert found == reference(big) and len(found) == 1
    assert kept.read_bytes().startswith(b"mlreg-validated 1 " + version_checks.fingerprint().encode())


def test_a_new_fingerprint_reads_every_file_again(big, monkeypatch):
    assert validate(big) == []
    monkeypatch.setattr(version_checks, "fingerprint", lambda: "rules-changed")
    read = []
    real = version_checks.read_json
    monkeypatch.setattr(version_checks, "read_json", lambda *a: read.append(a[1]) or real(*a))
    hasher, memo, save = worktree_inputs(big)
    assert checks.registry_problems(RegistryFiles(big), hasher, jobs=1, memo=memo) == []
    assert len(read) == MODELS * VERSIONS
    save()
    assert (big / ".git/mlreg/validated").read_bytes().startswith(b"mlreg-validated 1 rules-changed ")


def test_no_index_keeps_nothing_and_answers_the_same(big, monkeypatch):
    monkeypatch.setenv("MLREG_NO_INDEX", "1")
    (big / ".git/mlreg/validated").unlink()
    BREAKAGES["copied record"][0](big)
    found = validate(big)
    assert found == reference(big) and found
    assert not (big / ".git/mlreg/validated").exists()


def test_the_gate_on_a_big_registry(big, cli):
    git(big, "checkout", "-qb", "pr")
    assert cli(big, "promote", f"{LAST}@1", "development", "--reason", "r").code == 0
    assert cli(big, "validate", "--base", "main", "--head", "pr").code == 0
    assert cli(big, "validate", "--base", "main").code == 0
    (big / "registry/model-0007/v4/stray.bin").write_text("x")  # untracked, in a model the PR does not touch
    r = cli(big, "validate", "--base", "main")
    assert r.code == 1 and "registry/model-0007/v4/metadata.json: $.artifacts: file stray.bin" in r.err
    assert cli(big, "validate", "--base", "main", "--head", "pr").code == 0  # the ref holds no stray file


# -- the fast JSON reader: the same documents and the same errors as files.parse_json ------------------------
@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "b": [1.5, {"c": null}], "d": "\\u00e9\\ud800"}',
        '{"name": "caf\u00e9"}'.encode("utf-8-sig"),
        '{"name": "x", "n": 2}'.encode("utf-16"),
        '{"name": "x"}'.encode("utf-32-le"),
        b'{"a" : 1, "a" : 2}',
        b'{"a": {"b": 1, "b": 1}}',
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1e999}',
        b'{"a": 1',
        b"\xff\xfe\x00",
        b"[" * 100_000,
        b'"just text"',
        b"",
    ],
)
def test_the_fast_json_reader_agrees_with_parse_json(data):
    def outcome(parse):
        try:
            return "ok", parse(data, "registry/m/v1/metadata.json")
        except MlregError as e:
            return "error", str(e)

    assert outcome(fastload.parse) == outcome(parse_json)


def test_the_digest_cache_bisects_a_sorted_file_and_survives_a_bad_one(tmp_path):
    path = tmp_path / "digests"
    entries = {f"{i:040x}": (i, f"{i:064x}") for i in range(0, 3000, 7)}
    full = digests.DigestCache(path)
    for oid, d in entries.items():
        full.put(oid, d)
    full.save()
    lazy = digests.DigestCache(path, lazy=True)
    assert all(lazy.get(oid) == d for oid, d in entries.items())
    assert lazy.get(f"{1:040x}") is None and lazy.get("f" * 40) is None
    lazy.put("a" * 40, (5, "b" * 64))
    lazy.save()
    assert digests.DigestCache(path).get("a" * 40) == (5, "b" * 64)  # added in place: still sorted
    assert len(digests.DigestCache(path).known) == len(entries) + 1
    path.write_text("garbage\n" + "".join(f"{o} {s} {h}\n" for o, (s, h) in sorted(entries.items())) + "zz 1")
    lazy = digests.DigestCache(path, lazy=True)
    assert all(lazy.get(oid) in (d, None) for oid, d in entries.items())  # a miss only costs a re-hash
