"""diff --format md draws the change as a Mermaid flowchart (GitHub renders it in PR summaries)."""

from __future__ import annotations

import re

from mlreg.core.changes import ChangeSet, StageChanged
from mlreg.render.mermaid import diagram, label

from test_diff import _normalise, storied, story  # noqa: F401  (fixtures: test_diff's story, built once per module)


def block(out: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index("```mermaid")
    return lines[start : lines.index("```", start) + 1]


def test_markdown_has_the_change_as_a_flowchart(story, cli):
    r = cli(story, "diff", "base", "HEAD", "--format", "md")
    assert r.code == 0, r.err
    lines = block(_normalise(r.out, story))
    text = "\n".join(lines)
    assert lines[1] == "flowchart LR" and r.out.splitlines()[0].startswith("### Registry changes")
    nodes = dict(re.findall(r'^    (n\d+)\S*?"([^"]*)"', text, re.M))
    by_label = {v: k for k, v in nodes.items()}
    assert sorted(re.findall(r'^  subgraph m\d+\["([^"]+)"\]$', text, re.M)) == ["m", "rl-agent"]
    # the new enhanced version and its base
    assert f'  {by_label["v1 · new · development"]} -->|"continued"| {by_label["v2 · new · development"]}' in lines
    # the stage moves: v2 promoted beta -> champion (with the reason), v1 demoted, v3 promoted
    assert f'  {by_label["v2 · beta"]} ==>|"promoted: beats v1 on rmse_val"| {by_label["v2 · champion"]}' in lines
    assert f'  {by_label["v1 · champion"]} -.->|"demoted: New champion promoted"| {by_label["v1 · archived"]}' in lines
    assert f'  {by_label["v3 · development"]} ==>|"promoted: worth a shadow run"| {by_label["v3 · beta"]}' in lines
    # alias moves point at the versions (where their stage move ends)
    alias = {v: k for k, v in re.findall(r'^    (n\d+)>"([^"]*)"\]', text, re.M)}
    assert f'  {alias["@prod"]} -.->|"moved from v1"| {by_label["v2 · champion"]}' in lines
    assert f'  {alias["@old"]} -.->|"removed, was v1"| {by_label["v1 · archived"]}' in lines
    assert f'  {alias["@staging"]} -.->|"set"| {by_label["v3 · beta"]}' in lines
    new = next(line for line in lines if line.startswith("  class ") and line.endswith(" new")).split()[1]
    assert set(new.split(",")) == {by_label[f"v{n} · new · development"] for n in (1, 2, 4)}
    ids = re.findall(r"^    (n\d+)[\[\(>]", text, re.M)
    assert len(ids) == len(set(ids))  # every box drawn once
    assert "class " in text and "classDef new" in text


def test_text_and_json_have_no_diagram(story, cli):
    assert "mermaid" not in cli(story, "diff", "base", "HEAD").out
    assert "mermaid" not in cli(story, "diff", "base", "HEAD", "--format", "json").out


def test_no_diagram_without_moves(story, cli):
    r = cli(story, "diff", "HEAD", "HEAD", "--format", "md")
    assert "mermaid" not in r.out and "No registry changes." in r.out


def test_labels_cannot_break_the_diagram():
    assert (
        label('say "hi" <script> | [x] {y} (z) #1 `c`')
        == "say #quot;hi#quot; #lt;script#gt; #124; #91;x#93; #123;y#125; #40;z#41; #35;1 #96;c#96;"
    )
    assert label("line\nbreak") == "line break" and len(label("x" * 500)) == 48


def test_refused_move_is_marked_and_big_changes_are_capped():
    moves = [
        StageChanged("m", n, f"f{n}", "beta", "champion", "promoted", legal=n != 1, note="bad") for n in range(1, 61)
    ]
    lines = diagram(ChangeSet("a", "b", None, None, moves))
    text = "\n".join(lines)
    assert "… and 20 more changes, listed below" in text
    refused = next(line for line in lines if line.startswith("  class ") and line.endswith(" refused"))
    assert refused.split()[1] == re.search(r'^    (n\d+)\(\["v1 · champion"\]\)', text, re.M).group(1)
