"""Which library call each CLI command line makes (table-driven, like pypa/build's test_main): the CLI is a thin
shell over same-named calls. A spy records each call and runs the real method, so the write still happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlreg import api
from mlreg.api import Registry

from conftest import git
from helpers import world


class _Any:
    """Matches whatever the CLI passes for a display-only argument (a progress callback)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<any>"


ANY = _Any()
ORIGIN = "<origin>"  # replaced by the bare origin's URL
OUT = "<out>"  # replaced by a folder under tmp_path

CASES = [
    (["tag", "rm", "btc@1", "owner"], "tag_rm", ("btc", "1", "owner"), {"commit": True, "branch": None}),
    (["tag", "delete", "btc", "team"], "tag_rm", ("btc", None, "team"), {"commit": True, "branch": None}),
    (
        ["tag", "set", "btc/1", "k", "v", "--no-commit"],
        "tag_set",
        ("btc", "1", "k", "v"),
        {"commit": False, "branch": None},
    ),
    (["alias", "rm", "btc", "staging"], "alias_rm", ("btc", "staging"), {"commit": True, "branch": None}),
    (
        ["alias", "set", "btc", "prod", "1", "--branch", "b1"],
        "alias_set",
        ("btc", "prod", "1"),
        {"commit": True, "branch": "b1"},
    ),
    (["promote", "btc@1", "beta", "-r", "ok"], "promote", ("btc", "1", "beta", "ok"), {"commit": True, "branch": None}),
    (
        ["promote", "btc", "beta", "--reason", "why"],
        "promote",
        ("btc", "latest", "beta", "why"),
        {"commit": True, "branch": None},
    ),
    (["describe", "btc", "for tests"], "describe", ("btc", "for tests"), {"commit": True, "branch": None}),
    (["get", ORIGIN, "btc/1", "-o", OUT], "fetch", (ORIGIN, "btc/1", OUT, ANY, None), {}),
]


@world
def btc(reg: Registry, training) -> None:
    """btc v1 with a version tag `owner`, a model tag `team` and an alias `staging` (built once per module)."""
    reg.register("btc", training())
    reg.tag_set("btc", "1", "owner", "ana")
    reg.tag_set("btc", None, "team", "quant")
    reg.alias_set("btc", "staging", "1")


@pytest.mark.parametrize(("argv", "call", "args", "kwargs"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_cli_line_makes_this_library_call(argv, call, args, kwargs, btc, cli, monkeypatch, tmp_path):
    origin = tmp_path / "origin.git"
    if ORIGIN in argv:
        git(tmp_path, "clone", "-q", "--bare", str(btc.root), str(origin))
    swap = {ORIGIN: origin.as_uri(), OUT: str(tmp_path / "out")}
    argv = [swap.get(a, a) for a in argv]
    args = tuple((Path(swap[a]) if a == OUT else swap.get(a, a)) if isinstance(a, str) else a for a in args)
    calls: list[tuple[str, tuple, dict]] = []
    if call == "fetch":
        real_fetch = api.fetch

        def fetch_spy(*a, **k):
            calls.append(("fetch", a, k))
            return real_fetch(*a, **k)

        monkeypatch.setattr(api, "fetch", fetch_spy)
    else:
        real = getattr(Registry, call)

        def spy(self, *a, **k):
            calls.append((call, a, k))
            return real(self, *a, **k)

        monkeypatch.setattr(Registry, call, spy)
    head = git(btc.root, "rev-parse", "HEAD")
    r = cli(btc.root, *argv)
    assert r.code == 0, r.err
    assert calls == [(call, args, kwargs)]
    if call == "fetch":
        assert (tmp_path / "out/model.txt").exists()
    elif kwargs["commit"] and kwargs["branch"] is None:
        assert git(btc.root, "rev-parse", "HEAD") != head  # the real write happened, as one commit
