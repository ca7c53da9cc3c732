"""The public API shows only what users call: Registry holds its workspace (no `ws` in a signature, no write
machinery on it), every method says what it returns, `mlreg` exports the errors and result types without
importing them up front, `tag_rm` beside `alias_rm`, and the remote fetch named apart from `Registry.get`."""

from __future__ import annotations

import inspect
import json
import pydoc
import subprocess
import sys

import pytest
import yaml

import mlreg
from mlreg import errors
from mlreg.api import Registry
from mlreg.core import views

from conftest import git

INTERNAL = ("apply", "writing", "stamp", "byte_exact")


def _public_methods() -> dict[str, object]:
    return {
        name: member
        for name, member in vars(Registry).items()
        if not name.startswith("_") and callable(getattr(member, "__func__", member))
    }


def test_no_workspace_parameter_in_any_signature_and_docstrings_kept():
    assert "ws" not in inspect.signature(Registry.register).parameters
    for name in _public_methods():
        params = inspect.signature(getattr(Registry, name)).parameters
        assert "ws" not in params, name
    assert list(inspect.signature(Registry.promote).parameters)[:4] == ["self", "name", "ref", "stage"]
    text = pydoc.render_doc(Registry.register, renderer=pydoc.plaintext)
    assert "register(self, name: 'str', from_dir:" in text and "ws" not in text.split("\n", 3)[2]
    assert Registry.register.__doc__.splitlines()[0] in text
    assert (
        Registry.register.__name__ == "register" and Registry.register.__wrapped__.__module__ == "mlreg.ops.registering"
    )


def test_the_write_machinery_is_not_on_a_registry(reg):
    for name in INTERNAL:
        assert name not in dir(Registry) and name not in dir(reg), name
        assert not hasattr(reg, name), name
    assert {"root", "settings", "register", "promote", "tag_rm", "alias_rm"} <= set(dir(reg))
    from mlreg.ops.workspace import Workspace

    assert not isinstance(reg, Workspace)


def test_every_public_method_says_what_it_returns():
    bare = [
        name
        for name, member in _public_methods().items()
        if inspect.signature(getattr(Registry, name)).return_annotation is inspect.Signature.empty
    ]
    assert bare == []
    for name in ("root", "settings", "store", "recovered"):
        assert inspect.signature(getattr(Registry, name).fget).return_annotation is not inspect.Signature.empty


def test_bound_operations_write_through_the_registry(reg, training):
    assert list(inspect.signature(reg.register).parameters)[:2] == ["name", "from_dir"]
    out = reg.register("btc", training())
    assert out.version == 1 and (reg.root / "registry/btc/v1/metadata.json").exists()
    out = reg.promote("btc", "1", "beta", reason="ok")
    assert out.commit == git(reg.root, "rev-parse", "HEAD").strip()
    assert reg.get("btc", "1").record.stage == "beta"
    assert "beta" in reg.settings.stages and reg.files.has_model("btc") and reg.recovered == []


def test_mlreg_exports_errors_and_results_without_importing_them():
    assert mlreg.MlregError is errors.MlregError and mlreg.NotFound is errors.NotFound
    assert issubclass(mlreg.NotFound, mlreg.MlregError) and issubclass(mlreg.UsageError, mlreg.MlregError)
    assert mlreg.GitError is errors.GitError and mlreg.Outcome is views.Outcome
    assert mlreg.VersionView is views.VersionView and mlreg.ModelView is views.ModelView
    assert mlreg.fetch is __import__("mlreg.api").api.fetch and mlreg.Registry is Registry
    for name in mlreg.__all__:
        assert getattr(mlreg, name) is not None, name
    assert set(mlreg.__all__) == {"__version__", *mlreg._LAZY} and set(mlreg.__all__) <= set(dir(mlreg))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mlreg.nope  # noqa: B018
    probe = (
        "import sys, mlreg; first = sorted(m for m in sys.modules if m.startswith('mlreg.')); "
        "from mlreg import *; heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mlflow', 'boto3', 'matplotlib')); print(first, heavy, MlregError.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] [] MlregError"


def test_tag_rm_removes_a_tag_like_tag_set_none(reg, training):
    reg.register("btc", training())
    reg.tag_set("btc", "1", "owner", "ana")
    reg.tag_set("btc", None, "team", "quant")
    out = reg.tag_rm("btc", "1", "owner")
    assert out.action == "tag-rm" and git(reg.root, "log", "-1", "--format=%s").strip() == "mlreg: tag rm btc v1 owner"
    assert "owner" not in json.loads((reg.root / "registry/btc/v1/metadata.json").read_text()).get("tags", {})
    reg.tag_set("btc", None, "team", None)  # the old spelling keeps working
    assert "team" not in (yaml.safe_load((reg.root / "registry/btc/model.yaml").read_text()).get("tags") or {})
    head = git(reg.root, "rev-parse", "HEAD")
    with pytest.raises(mlreg.NotFound, match="no tag 'owner'"):
        reg.tag_rm("btc", "1", "owner")
    assert git(reg.root, "rev-parse", "HEAD") == head and git(reg.root, "status", "--porcelain") == ""


def test_fetch_reads_a_remote_version_and_get_is_a_deprecated_alias(reg, training, tmp_path):
    from mlreg import api

    reg.register("small", training(files={"model.txt": "in git\n"}))
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(reg.root), str(origin))
    git(origin, "config", "uploadpack.allowFilter", "true")
    got = mlreg.fetch(origin.as_uri(), "small/1", tmp_path / "a")
    assert isinstance(got, mlreg.PullReport) and (tmp_path / "a/model.txt").read_text() == "in git\n"
    with pytest.warns(DeprecationWarning, match=r"use mlreg\.fetch"):
        api.get(origin.as_uri(), "small/1", tmp_path / "b")
    assert (tmp_path / "b/model.txt").read_text() == "in git\n"
    with pytest.raises(mlreg.MlregError, match="no model 'nope'"):
        mlreg.fetch(origin.as_uri(), "nope/1", tmp_path / "c")
    assert not (tmp_path / "c").exists()
