"""A run_metadata.json with NaN or Infinity (what Python's json.dump writes for a diverged run) registers
without the non-finite metrics, naming them in one line, as `mlreg import mlflow` does."""

from __future__ import annotations

import json
import math

import pytest

from conftest import git


def written_by_python(folder, metrics):
    """run_metadata.json as a training script writes it: json.dump of floats, NaN and inf included."""
    doc = {"run_name": "diverged", "model_type": "lgbm", "metrics": metrics}
    (folder / "run_metadata.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_is_dropped_and_named(reg, training, cli, bad):
    src = training()
    written_by_python(src, {"rmse_val": 0.07, "rmse_train": bad})
    r = cli(reg.root, "register", "m", "--from-dir", str(src))
    assert r.code == 0, r.err
    notes = [line for line in r.err.splitlines() if "rmse_train" in line]
    assert len(notes) == 1 and "not finite" in notes[0] and "run_metadata.json" in notes[0]
    meta = json.loads((reg.root / "registry/m/v1/metadata.json").read_text())
    assert meta["metrics"] == {"rmse_val": 0.07}
    assert "register m v1" in git(reg.root, "log", "-1", "--format=%s")
    assert git(reg.root, "status", "--porcelain") == ""


def test_overflowing_number_counts_as_infinity(reg, training, cli):
    src = training()
    (src / "run_metadata.json").write_text('{"metrics": {"a": 1e999, "b": 2}}')
    r = cli(reg.root, "register", "m", "--from-dir", str(src), "--json")
    assert r.code == 0, r.err
    assert r.json()["notes"] == ["run_metadata.json: metric(s) not registered (not finite: NaN or Infinity): a"]
    assert json.loads((reg.root / "registry/m/v1/metadata.json").read_text())["metrics"] == {"b": 2.0}


def test_library_returns_the_note_and_prints_nothing(reg, training, capsys):
    src = training()
    written_by_python(src, {"loss": math.nan, "auc": 0.9})
    done = reg.register("m", src)
    assert done.notes == ["run_metadata.json: metric(s) not registered (not finite: NaN or Infinity): loss"]
    assert done.record.metrics == {"auc": 0.9}
    assert capsys.readouterr() == ("", "")


def test_finite_metrics_give_no_note(reg, training, cli):
    r = cli(reg.root, "register", "m", "--from-dir", str(training()))
    assert r.code == 0 and "note" not in r.err


def test_malformed_json_is_still_refused_naming_the_file(reg, training, cli):
    src = training()
    (src / "run_metadata.json").write_text('{"metrics": {"a": NaN,}}')
    head = git(reg.root, "rev-parse", "HEAD")
    r = cli(reg.root, "register", "m", "--from-dir", str(src))
    assert r.code == 1 and "run_metadata.json: malformed JSON" in r.err and "line 1" in r.err
    assert git(reg.root, "rev-parse", "HEAD") == head and not (reg.root / "registry/m").exists()
