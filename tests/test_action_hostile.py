"""The pull-request conversation cannot be hijacked (issue 19): the action run for real against the local
GitHub API stand-in (tests/test_action.py), with registry text written by an attacker and comments by others.
"""

from __future__ import annotations

import importlib.util
import re

from conftest import git
from test_action import ROOT, action_dir, github, models_repo, ours, run_pr, runner_temp  # noqa: F401  (fixtures)

MARKER = "<!-- mlreg-action:validate:. -->"
HOSTILE = (
    "Better model ![](https://evil.example/pixel.gif) cc @org/team, see [docs](https://evil.example) "
    "and www.evil.example <img src=x onerror=alert(1)> `code` **bold** #1 $x$ <!--"
)


def acted_commands(log: str) -> list[str]:
    """The workflow commands GitHub's runner would act on in this log: lines starting with `::`, except
    between `::stop-commands::TOKEN` and `::TOKEN::`."""
    acted, stop = [], None
    for line in log.splitlines():
        text = line.strip()
        if stop is not None:
            if text == f"::{stop}::":
                stop = None
            continue
        if text.startswith("::stop-commands::"):
            stop = text[len("::stop-commands::") :]
            continue
        if text.startswith("::"):
            acted.append(text)
    return acted


def push_pr(cli, repo, training, description: str) -> None:
    assert cli(repo, "register", "m", "--from-dir", str(training()), "--description", description).code == 0
    git(repo, "push", "-q", "origin", "promote-m-v2")


def test_registry_text_renders_as_plain_text(tmp_path, models_repo, github, action_dir, runner_temp, cli, training):
    push_pr(cli, models_repo, training, HOSTILE)
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert run.ok, run.log
    [comment] = ours(github)
    body = comment["body"]
    text = body.replace(MARKER, "").split("<sub>mlreg")[0]  # the footer's run link is the action's own
    for raw in ("![](", "](https://", "<img", "@org/team", "https://evil", "www.evil", "#1 "):
        assert raw not in text, raw
    assert "<!--" not in text and "&lt;\\!--" in text  # an unclosed comment stays text
    assert "@\u200borg/team" in body  # shown, but no live mention
    # what follows the description is still there: the change list and the verdict
    assert "- **m v2** promoted `beta` → `champion`" in body and "✅ the change is valid" in body
    assert body.rstrip().endswith("this comment is updated on every push</sub>")


def test_output_in_the_log_cannot_start_workflow_commands(
    tmp_path, models_repo, github, action_dir, runner_temp, cli, training
):
    push_pr(
        cli,
        models_repo,
        training,
        "fine\n::error file=registry/m/v1/metadata.json,title=pwn::owned\n::stop-commands::pwn\n::add-mask::pwn-mask",
    )
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert run.ok, run.log
    assert "pwn" in run.log  # the text is in the log ...
    assert not [c for c in acted_commands(run.log) if "pwn" in c]  # ... and the runner acts on none of it


def test_a_huge_description_keeps_the_verdict(tmp_path, models_repo, github, action_dir, runner_temp, cli, training):
    push_pr(cli, models_repo, training, "x" * 62_000)
    meta = models_repo / "registry/m/v1/metadata.json"
    meta.write_text(meta.read_text().replace('"rmse_val": ', '"rmse_val": 0.0001, "was": ', 1))
    git(models_repo, "commit", "-q", "-am", "make v1 look better")
    git(models_repo, "push", "-q", "origin", "promote-m-v2")
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert not run.ok
    [comment] = ours(github)
    assert len(comment["body"]) <= 65_536
    assert "❌ refused" in comment["body"] and "$.metrics.rmse_val: immutable field" in comment["body"]


def test_another_users_comment_with_the_marker_is_never_updated(tmp_path, models_repo, github, action_dir, runner_temp):
    bait = github.add(1, f"{MARKER}\nLooks good to me, merge it! ✅ the change is valid", login="mallory")
    lookalike = github.add(1, f"{MARKER}\nsame", login="github-actions", kind="User")
    run = run_pr(tmp_path, models_repo, github, action_dir, runner_temp)
    assert run.ok, run.log
    assert bait["body"].startswith(f"{MARKER}\nLooks good to me") and lookalike["body"] == f"{MARKER}\nsame"
    [comment] = ours(github)  # our own, posted by the bot, not theirs patched
    assert (
        comment["id"] not in (bait["id"], lookalike["id"])
        and ("PATCH", f"/repos/acme/models/issues/comments/{bait['id']}") not in github.requests
    )
    assert run.outputs["comment-url"] == comment["html_url"]
    # the next push updates the bot's comment, still never theirs
    github.requests.clear()
    again = run_pr(tmp_path, models_repo, github, action_dir, runner_temp, "ws2")
    assert again.ok and [c["id"] for c in ours(github)] == [comment["id"]]
    assert [r for r in github.requests if r[0] == "PATCH"] == [
        ("PATCH", f"/repos/acme/models/issues/comments/{comment['id']}")
    ]


def _action():
    spec = importlib.util.spec_from_file_location("mlreg_action", ROOT / "action" / "mlreg_action.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_size_cut_keeps_the_verdict_and_closes_a_fence(monkeypatch):
    action = _action()
    change = "### Registry changes\n\n```mermaid\nflowchart LR\n" + "\n".join(f"  n{i}[v{i}]" for i in range(20_000))
    verdict = "**`mlreg validate --base origin/main`**: ❌ refused\n\n- `registry/m/v1/metadata.json: bad`"
    body = action.comment_body(change, verdict)
    assert len(body) <= 65_536
    assert body.startswith(f"{MARKER}\n{verdict}\n\n### Registry changes")
    text = body.split("<sub>")[0]
    assert len(re.findall(r"(?m)^```", text)) % 2 == 0  # the footer is not swallowed by an open code block


def test_problem_lines_are_code_spans_that_cannot_break_out():
    action = _action()
    span = action.code_span("registry/m: `` <!-- @org/team ![](https://x)")
    assert span == "```registry/m: `` <!-- @org/team ![](https://x)```"
