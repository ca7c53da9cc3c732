"""mlreg report: the static site, read from git at a ref; checked on the files it writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from mlreg.api import Registry

from conftest import git
from helpers import world


@world
def filled(reg: Registry, training) -> Registry:
    """btc: v1 champion -> archived, v2 champion, v3 development, alias Staging; rl: v1 base, v2 continued."""
    reg.register("btc", training({"rmse_train": 0.0548, "rmse_val": 0.0669, "rmse_test": 0.0448}))
    reg.promote("btc", "1", "beta", reason="offline eval")
    reg.promote("btc", "1", "champion", reason="first champion")
    reg.register("btc", training({"rmse_train": 0.0531, "rmse_val": 0.0642, "rmse_test": 0.0431}, learning_rate=0.02))
    reg.promote("btc", "2", "beta", reason="better rmse_val")
    reg.promote("btc", "2", "champion", reason="paper trading <won>")
    reg.register("btc", training({"rmse_train": 0.05, "rmse_val": 0.07, "rmse_test": 0.05}))
    reg.alias_set("btc", "Staging", "3")
    reg.describe("btc", "BTC 1h & friends <b>not bold</b>")
    reg.register("rl", training({"evaluation/best_mean_reward": 100.0}, total_timesteps=100000), tags={"team": "rl"})
    reg.register(
        "rl",
        training({"evaluation/best_mean_reward": 115.7}, total_timesteps=150000),
        base="rl@1",
        enhancement_type="continued",
    )
    return reg


def build(reg: Registry, out: Path, *args: str, cli=None) -> Path:
    r = cli(reg.root, "report", "-o", str(out), *args)
    assert r.code == 0, r.err
    assert f"open {(out / 'index.html').resolve().as_uri()}" in r.out
    return out


def page(site: Path, *parts: str) -> str:
    return (site.joinpath(*parts)).read_text()


def test_site_layout_and_index(filled, tmp_path, cli):
    site = build(filled, tmp_path / "site", cli=cli)
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == [
        ".mlreg-report",
        ".nojekyll",
        "index.html",
        "models/btc/index.html",
        "models/btc/v1.html",
        "models/btc/v2.html",
        "models/btc/v3.html",
        "models/rl/index.html",
        "models/rl/v1.html",
        "models/rl/v2.html",
        "static/site.js",
        "static/style.css",
    ]
    index = page(site, "index.html")
    row = re.search(r'<tr data-model="btc">(.*?)</tr>', index, re.S).group(1)
    assert 'data-holder="champion" href="models/btc/v2.html">champion: v2</a>' in row
    assert ">Staging: v3</a>" in row and '<td class="num">3</td>' in row
    assert "BTC 1h &amp; friends &lt;b&gt;not bold&lt;/b&gt;" in row  # escaped, never markup
    assert "describe btc" in row  # the last change: the newest commit touching registry/btc
    assert 'id="filter"' in index and 'src="static/site.js"' in index


def test_model_page_plot_lineage_timeline(filled, tmp_path, cli):
    site = build(filled, tmp_path / "site", cli=cli)
    btc = page(site, "models", "btc", "index.html")
    svg = btc[btc.index("<svg") : btc.index("</svg>")]
    for metric in ("rmse_train", "rmse_val", "rmse_test"):  # one family, drawn together, a point per version
        group = re.search(rf'<g id="metric-{metric}">(.*?)</g>\s*</g>', svg, re.S).group(1)
        assert group.count("<use ") == 3, metric
    stars = re.search(r'<g id="marked-rmse">(.*?)</g>\s*</g>', svg, re.S).group(1)
    assert stars.count("<use ") == 3  # the champion's point in each of the three series
    assert ">champion</tspan>" in svg or "champion" in svg
    assert "learning_<wbr>rate" in btc and "num_<wbr>leaves" not in btc  # only params that differ
    timeline = btc[btc.index('id="timeline"') :]
    assert "paper trading &lt;won&gt;" in timeline and "New champion promoted" in timeline
    rl = page(site, "models", "rl", "index.html")
    assert 'data-edge="rl/1->rl/2"' in rl and "continued →" in rl
    bars = rl[rl.index("<svg") : rl.index("</svg>")]
    assert 'id="improvement-improvement_evaluation_best_mean_reward-v2"' in bars
    assert "Every version is a base model" in btc


def test_version_page(filled, tmp_path, cli):
    site = build(filled, tmp_path / "site", cli=cli)
    v2 = page(site, "models", "btc", "v2.html")
    record = filled.get("btc", "2").record
    art = record.artifacts[0]
    assert art.sha256 in v2 and f'title="{art.size} bytes"' in v2
    blob = git(filled.root, "rev-parse", f"HEAD:registry/btc/v2/{art.path}").strip()
    assert f'title="{blob}"' in v2  # the artifact is in git at that commit
    register_commit = git(filled.root, "log", "--format=%H", "--diff-filter=A", "--", "registry/btc/v2").split()[-1]
    assert f'<code title="{register_commit}">{register_commit[:10]}</code>' in v2
    for line in ("models:/btc/2", "models:/btc@champion", "mlreg resolve models:/btc@champion"):
        assert f'<code class="line">{line}</code>' in v2
    full = json.loads(
        re.search(r'<pre class="json">(.*?)</pre>', v2, re.S)
        .group(1)
        .replace("&#34;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
    )
    assert full == json.loads((filled.root / "registry/btc/v2/metadata.json").read_text())
    rl1 = page(site, "models", "rl", "v1.html")
    assert "enhanced by" in rl1 and 'href="../rl/v2.html"' in rl1


def test_artifacts_in_git_in_a_store_or_external(filled, tmp_path):
    meta = filled.root / "registry/rl/v1/metadata.json"
    doc = json.loads(meta.read_text())
    doc["artifacts"] += [
        {"path": "weights.bin", "uri": "s3://models/rl/v1/weights.bin", "sha256": "a" * 64, "size": 5 << 20},
        {"uri": "/mnt/shared/rl/v1/replay.npz", "sha256": "b" * 64, "size": 12},
    ]
    meta.write_text(json.dumps(doc, indent=2))
    git(filled.root, "commit", "-qam", "record store-backed and external files")
    v1 = filled.report(tmp_path / "site").out.joinpath("models/rl/v1.html").read_text()
    assert "in git (blob" in v1  # model.txt
    assert "<code>weights.bin</code>" in v1 and "object store: <code>s3://models/rl/v1/weights.bin</code>" in v1
    assert ">5.0 MiB</td>" in v1 and "<code>/mnt/shared/rl/v1/replay.npz</code>" in v1 and ">external</td>" in v1


def test_reads_git_at_a_ref_never_the_work_tree(filled, training, tmp_path, cli):
    git(filled.root, "tag", "before-v4")
    filled.register("btc", training({"rmse_val": 0.01}))
    (filled.root / "registry/btc/model.yaml").write_text("not: [valid")  # uncommitted breakage
    status = git(filled.root, "status", "--porcelain")
    site = build(filled, tmp_path / "site", "--at", "before-v4", cli=cli)
    assert not (site / "models/btc/v4.html").exists()
    assert "before-v4" in page(site, "index.html")
    site = build(filled, tmp_path / "site", cli=cli)  # HEAD: v4 is there; the broken work tree is not read
    assert (site / "models/btc/v4.html").exists()
    assert git(filled.root, "status", "--porcelain") == status


def test_one_model_and_unknown_model(filled, tmp_path, cli):
    site = build(filled, tmp_path / "site", "--model", "rl", cli=cli)
    assert sorted(p.name for p in (site / "models").iterdir()) == ["rl"]
    assert "(selected with <code>--model</code>)" in page(site, "index.html")
    r = cli(filled.root, "report", "-o", str(tmp_path / "other"), "--model", "nope")
    assert r.code == 1 and r.err.strip() == "Error: model 'nope' not found in registry/ at HEAD"
    assert not (tmp_path / "other").exists()


def test_a_ref_without_a_registry(reg, tmp_path, cli):
    first = git(reg.root, "rev-list", "--max-parents=0", "HEAD").strip()
    r = cli(reg.root, "report", "-o", str(tmp_path / "site"), "--at", first)
    assert r.code == 1 and r.err.startswith(f"Error: no registry at {first} ({first[:10]}): no mlreg.yaml")
    assert not (tmp_path / "site").exists()
    r = cli(reg.root, "report", "-o", str(tmp_path / "site"))  # just initialised: an empty registry is a site
    assert r.code == 0 and "0 model(s)" in r.out


def test_output_folder_rules(filled, tmp_path, cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    r = cli(filled.root, "report", "-o", str(mine))
    assert r.code == 1 and "was not written by `mlreg report`" in r.err and (mine / "notes.txt").exists()
    r = cli(filled.root, "report", "-o", str(filled.root / "registry" / "site"))
    assert r.code == 1 and "refusing to write the report there" in r.err
    site = build(filled, tmp_path / "site", cli=cli)
    (site / "stale.html").write_text("old")
    build(filled, site, cli=cli)  # an earlier report is replaced whole
    assert not (site / "stale.html").exists() and not list(tmp_path.glob(".site*"))
    r = cli(filled.root, "report", "-o", str(tmp_path / "site"), "--at", "no-such-ref")
    assert r.code == 1 and "unknown git ref 'no-such-ref'" in r.err and (site / "index.html").exists()


def test_same_commit_same_bytes_and_workers_agree(filled, tmp_path):
    a = filled.report(tmp_path / "a", jobs=1)
    b = filled.report(tmp_path / "b", jobs=2)
    assert a.pages == b.pages == 8 and (a.models, a.versions) == (2, 5)
    files = sorted(p.relative_to(a.out) for p in a.out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b.out) for p in b.out.rglob("*") if p.is_file())
    assert all((a.out / f).read_bytes() == (b.out / f).read_bytes() for f in files)


def test_nothing_is_fetched(filled, tmp_path):
    """No page names anything outside the site (the browser test counts the requests)."""
    site = filled.report(tmp_path / "site").out
    for f in site.rglob("*.html"):
        text = f.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), f
        assert "@import" not in text and "url(http" not in text
    assert "url(" not in (site / "static/style.css").read_text()


def test_unreadable_record_is_reported_and_left_out(filled, tmp_path, cli):
    (filled.root / "registry/rl/v1/metadata.json").write_text("{broken")
    git(filled.root, "commit", "-qam", "break a record")
    r = cli(filled.root, "report", "-o", str(tmp_path / "site"))
    assert r.code == 0 and "Warning: registry/rl/v1/metadata.json: unreadable" in r.err
    assert not (tmp_path / "site/models/rl/v1.html").exists()
    assert "registry/rl/v1/metadata.json: unreadable" in page(tmp_path / "site", "index.html")


def test_a_key_given_twice_is_unreadable_as_everywhere_else(filled, tmp_path, cli):
    """The report reads records with validate's refusals: a reviewer sees the first `stage`, a loader the last."""
    path = filled.root / "registry/rl/v1/metadata.json"
    path.write_text(path.read_text().replace('"stage": ', '"stage": "champion", "stage": ', 1))
    git(filled.root, "commit", "-qam", "a key twice in a record")
    r = cli(filled.root, "report", "-o", str(tmp_path / "site"))
    assert r.code == 0, r.err
    assert "registry/rl/v1/metadata.json: unreadable (malformed JSON: duplicate key 'stage'" in " ".join(r.err.split())
    assert not (tmp_path / "site/models/rl/v1.html").exists()
    model = filled.root / "registry/rl/model.yaml"
    model.write_text(model.read_text() + "description: again\n")
    git(filled.root, "commit", "-qam", "a key twice in a model file")
    r = cli(filled.root, "report", "-o", str(tmp_path / "site2"))
    assert r.code == 0, r.err
    assert "registry/rl/model.yaml: unreadable (line " in r.err and "duplicate key 'description'" in r.err


def test_missing_extra_is_one_line(filled, tmp_path, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "jinja2", None)
    r = cli(filled.root, "report", "-o", str(tmp_path / "site"))
    assert (
        r.code == 1 and r.err.strip() == "Error: mlreg report needs Matplotlib and Jinja2: pip install 'mlreg[report]'"
    )
    assert not (tmp_path / "site").exists()


def test_help_does_not_import_plotting(repo_dir):
    code = (
        "import sys\nfrom mlreg.cli import main\nmain(['report', '--help'])\n"
        "assert 'matplotlib' not in sys.modules and 'jinja2' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=repo_dir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_registry_in_a_folder_of_the_repository(repo_dir, clock, training, tmp_path, cli):
    sub = repo_dir / "models"
    sub.mkdir()
    reg = Registry(sub, clock=clock)
    reg.init()
    reg.register("m", training())
    reg.register("m", training(), base="m@1", enhancement_type="continued")
    site = build(reg, tmp_path / "site", cli=cli)
    v1 = page(site, "models", "m", "v1.html")
    assert "Registered in commit" in v1 and 'data-edge="m/1->m/2"' in page(site, "models", "m", "index.html")
    blob = git(repo_dir, "rev-parse", f"HEAD:models/registry/m/v1/{reg.get('m', '1').record.artifacts[0].path}")
    assert f'title="{blob.strip()}"' in v1


def test_cross_model_lineage_links_only_to_pages_in_the_site(reg, training, tmp_path, cli):
    reg.register("a", training({"rmse_val": 0.07}))
    reg.register("b", training({"rmse_val": 0.06}), base="a@1", enhancement_type="curriculum")
    site = build(reg, tmp_path / "all", cli=cli)
    b = page(site, "models", "b", "index.html")
    assert 'href="../a/v1.html" data-node="a/1"' in b and 'data-edge="a/1->b/1"' in b
    assert 'href="../b/v1.html">b v1</a>' in page(site, "models", "a", "v1.html")  # a v1 is enhanced by b v1
    assert "old" in page(site, "models", "a", "v1.html")
    site = build(reg, tmp_path / "only-b", "--model", "b", cli=cli)
    b = page(site, "models", "b", "index.html")
    assert '<span class="lnode" data-node="a/1">' in b and "../a/" not in b
    assert "curriculum of a v1" in page(site, "models", "b", "v1.html")
    site = build(reg, tmp_path / "only-a", "--model", "a", cli=cli)
    a1 = page(site, "models", "a", "v1.html")
    assert "enhanced by b v1" in a1 and '<span class="badge">old</span>' in a1  # b read for version_type only
