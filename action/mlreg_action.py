#!/usr/bin/env python3
"""The steps of mlreg's GitHub Action (`action.yml`): install mlreg from the action's checkout, then run
`validate`, `sync` or `report` and write the job summary, the step outputs and (pull requests) one comment.

Standard library only: it runs before mlreg is installed. It reads what GitHub Actions sets for a step
(GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_BASE_REF, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, GITHUB_PATH,
GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_ACTION_PATH, RUNNER_TEMP, ...) and the action's inputs, which
action.yml passes as MLREG_* variables. The tests run it the same way in throwaway registry repositories.

    python3 mlreg_action.py install   # a virtualenv with mlreg (+ the command's extra); its bin/ on PATH
    python3 mlreg_action.py run       # the command
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

COMMANDS = {"validate": "", "sync": "mlflow", "report": "report"}  # command -> the extra it installs
PR_EVENTS = ("pull_request", "merge_group")
MARKER = "<!-- mlreg-action:validate:{where} -->"  # finds our earlier comment on the pull request
PAGE = 100  # comments per page when looking for it
MAX_COMMENT = 60_000  # characters of the change in the comment (GitHub's limit is 65,536 for the whole body)
BOT = ("github-actions[bot]", "Bot")  # who GITHUB_TOKEN comments as (its GET /user is refused)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, "") or default


def command() -> str:
    cmd = env("MLREG_COMMAND", "validate")
    if cmd not in COMMANDS:
        fail(f"input `command` must be one of {', '.join(COMMANDS)}, got {cmd!r}")
    return cmd


def fail(message: str) -> None:
    print(f"::error title=mlreg::{escape(message)}", flush=True)
    raise SystemExit(1)


def escape(text: str, prop: bool = False) -> str:
    """A workflow command's message (or property) with its special characters encoded."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def set_output(name: str, value: str) -> None:
    path = env("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n" if "\n" not in value else f"{name}<<MLREG_EOF\n{value}\nMLREG_EOF\n")


def add_summary(markdown: str) -> None:
    path = env("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown.rstrip("\n") + "\n\n")


# -- install ---------------------------------------------------------------------------------------
def install() -> None:
    """A fresh virtualenv with mlreg from the action's own checkout (no package index for mlreg itself)."""
    cmd = command()
    if env("MLREG_INSTALL", "true") == "false":
        found = shutil.which("mlreg")
        if not found:
            fail("input `install` is false but no `mlreg` is on PATH; install it first or drop `install: false`")
        set_output("mlreg", found)
        return
    source = Path(env("GITHUB_ACTION_PATH") or Path(__file__).resolve().parents[1])
    venv = Path(env("RUNNER_TEMP") or "/tmp") / "mlreg-venv"
    extra = COMMANDS[cmd]
    stamp, want = venv / ".mlreg-action", f"{source_digest(source)} [{extra}]"
    if stamp.is_file() and stamp.read_text() == want:  # a second use in the same job: already there
        print(f"mlreg from {source} [{extra}] is already installed in {venv}", flush=True)
    else:
        if not (venv / "bin" / "python").exists():
            run([sys.executable, "-m", "venv", str(venv)])
        spec = f"{source}[{extra}]" if extra else str(source)
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec])
        stamp.write_text(want)
    with open(env("GITHUB_PATH") or os.devnull, "a", encoding="utf-8") as f:
        f.write(f"{venv / 'bin'}\n")
    set_output("mlreg", str(venv / "bin" / "mlreg"))


def source_digest(source: Path) -> str:
    """What identifies the mlreg being installed: its packaging files and package sources."""
    h = hashlib.sha256()
    files = [source / "pyproject.toml", *sorted((source / "mlreg").rglob("*"))]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.relative_to(source).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def run(argv: list[str]) -> None:
    print("+ " + " ".join(argv), flush=True)
    if subprocess.run(argv).returncode != 0:
        fail(f"`{' '.join(argv)}` failed")


# -- the commands ----------------------------------------------------------------------------------
def mlreg(*args: str) -> subprocess.CompletedProcess:
    """Run mlreg in the working directory; its output goes to the log as well."""
    exe = shutil.which("mlreg")
    if exe is None:
        fail("no `mlreg` on PATH: the install step did not run")
    print(f"+ mlreg {' '.join(args)}", flush=True)
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    log_verbatim(r.stdout + r.stderr)  # one stream in the log, in order per command
    return r


def log_verbatim(text: str) -> None:
    """Copy output into the log so that no line of it can act as a workflow command (registry text may hold
    `::error ...` or `::stop-commands::` lines): the runner ignores commands until a token only we know."""
    if not text:
        return
    token = secrets.token_hex(16)
    sys.stdout.write(f"::stop-commands::{token}\n{text.rstrip(chr(10))}\n::{token}::\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if argv[1:] == ["install"]:
        install()
        return 0
    if argv[1:] == ["run"]:
        return {"validate": validate, "sync": sync, "report": report}[command()]()
    print(__doc__, file=sys.stderr)
    return 2


def validate() -> int:
    """push (and others): `mlreg validate`. Pull request / merge queue: `validate --base`, diff in the summary."""
    event = env("GITHUB_EVENT_NAME")
    payload = event_payload()
    if event not in PR_EVENTS:
        r = mlreg("validate")
        add_summary(verdict("mlreg validate", r, "the registry is valid"))
        return finish(r)
    base = base_ref(event, payload)
    fetch_base(base)
    diff = mlreg("diff", base, "--format", "md")  # the base against the checkout: what the change does
    check = mlreg("validate", "--base", base)
    head = verdict(f"mlreg validate --base {base}", check, "the change is valid")  # first: a cut keeps it
    change = diff.stdout if diff.returncode == 0 else problems("mlreg diff", diff)
    add_summary(head + "\n\n" + change)
    set_output("base", base)
    if event == "pull_request" and env("MLREG_COMMENT", "true") != "false":
        url = upsert_comment(int(payload["pull_request"]["number"]), comment_body(change, head))
        set_output("comment-url", url or "")
    return finish(check)


def finish(r: subprocess.CompletedProcess) -> int:
    for line in r.stderr.splitlines():
        if line.startswith("Error: "):
            annotate(line[len("Error: ") :])
    set_output("ok", "true" if r.returncode == 0 else "false")
    return 0 if r.returncode == 0 else 1


def annotate(problem: str) -> None:
    """One error annotation per problem, on its file when the message starts with one."""
    where, sep, rest = problem.partition(": ")
    if sep and (where.startswith("registry/") or where == "mlreg.yaml"):
        folder = env("MLREG_WORKING_DIRECTORY", ".").strip("/")
        path = where if folder in ("", ".") else f"{folder}/{where}"
        print(f"::error file={escape(path, True)},title=mlreg validate::{escape(rest)}", flush=True)
    else:
        print(f"::error title=mlreg validate::{escape(problem)}", flush=True)


def event_payload() -> dict:
    path = env("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text(encoding="utf-8"))


def base_ref(event: str, payload: dict) -> str:
    """What the change is checked against: input `base`, else the pull request's target branch on origin,
    else the merge queue's base commit."""
    if env("MLREG_BASE"):
        return env("MLREG_BASE")
    if event == "pull_request" and env("GITHUB_BASE_REF"):
        return f"origin/{env('GITHUB_BASE_REF')}"
    group = payload.get("merge_group") or {}
    if group.get("base_sha"):
        return group["base_sha"]
    fail(f"cannot tell the base of this {event} event (no GITHUB_BASE_REF, no merge_group.base_sha): set input `base`")
    return ""


def fetch_base(base: str) -> None:
    """Fetch the base, and the history down to the merge-base, when the checkout lacks them
    (actions/checkout fetches one commit by default; `validate --base` merges the change into the base)."""
    have = git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0
    shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    if have and not shallow:
        return
    if base.startswith("origin/"):
        branch = base[len("origin/") :]
        refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
    else:
        refspec = base
    args = ["fetch", "--no-tags", "--quiet", *(["--unshallow"] if shallow else []), "origin", refspec]
    print(f"+ git {' '.join(args)}", flush=True)
    r = git(*args)
    if r.returncode != 0:
        fail(f"cannot fetch the base {base} from origin: {r.stderr.strip()}")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def verdict(what: str, r: subprocess.CompletedProcess, good: str) -> str:
    if r.returncode == 0:
        return f"**`{what}`**: ✅ {good}"
    return problems(what, r)


def problems(what: str, r: subprocess.CompletedProcess) -> str:
    lines = [ln[len("Error: ") :] if ln.startswith("Error: ") else ln for ln in r.stderr.splitlines() if ln.strip()]
    listed = "\n".join(f"- {code_span(ln)}" for ln in lines) or f"- exit code {r.returncode}"
    return f"**`{what}`**: ❌ refused\n\n{listed}"


def code_span(text: str, limit: int = 2000) -> str:
    """One line of mlreg's output (registry text in it) as a markdown code span that renders as plain text: no
    HTML, link or mention is made inside one, and its fence is longer than any run of backticks in it."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str) -> str:
    """A block of output in the job summary, in a fence no line of it can close."""
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}text\n{text}\n{fence}"


# -- the pull-request comment ----------------------------------------------------------------------
def comment_body(summary: str, verdict_text: str = "") -> str:
    """The comment: marker, the verdict (and refusals) first, then the change, cut to GitHub's size limit
    from the end (the change list goes first, never the verdict), then the footer."""
    marker = MARKER.format(where=env("MLREG_WORKING_DIRECTORY", ".") or ".")
    sha = env("GITHUB_SHA")[:10]
    run_url = (
        (
            f"{env('GITHUB_SERVER_URL', 'https://github.com')}/{env('GITHUB_REPOSITORY')}/actions/runs/"
            f"{env('GITHUB_RUN_ID')}"
        )
        if env("GITHUB_RUN_ID")
        else ""
    )
    footer = (
        "<sub>mlreg"
        + (f" at {sha}" if sha else "")
        + (f" · [run]({run_url})" if run_url else "")
        + " · this comment is updated on every push</sub>"
    )
    head = cut(verdict_text.rstrip(), MAX_COMMENT // 2) if verdict_text else ""
    text = "\n\n".join(p for p in (head, cut(summary.rstrip(), MAX_COMMENT - len(head))) if p)
    return f"{marker}\n{text}\n\n{footer}\n"


def cut(text: str, size: int) -> str:
    """`text` cut at a line to at most `size` characters (GitHub refuses comments over 65,536), with a code
    fence the cut left open closed again, so the footer does not land inside it."""
    if len(text) <= size:
        return text
    text = text[: max(0, size - 200)].rsplit("\n", 1)[0]
    opened = [ln for ln in text.splitlines() if ln.startswith("```")]
    if len(opened) % 2:
        text += "\n" + re.match(r"`+", opened[-1]).group()
    return text + "\n\n… (cut here: the job summary has the whole change)"


def upsert_comment(number: int, body: str) -> str | None:
    """Update our earlier comment on pull request `number` (found by its marker), else post one."""
    token = env("MLREG_TOKEN")
    if not token:
        print("::notice title=mlreg::no github-token: the change is in the job summary only", flush=True)
        return None
    api = env("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo = env("GITHUB_REPOSITORY")
    marker = body.splitlines()[0]
    try:
        found = find_comment(api, repo, number, marker, token, identity(api, token))
        if found:
            doc = request("PATCH", f"{api}/repos/{repo}/issues/comments/{found}", token, {"body": body})
        else:
            doc = request("POST", f"{api}/repos/{repo}/issues/{number}/comments", token, {"body": body})
    except (urllib.error.URLError, OSError, ValueError) as e:
        why = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else str(e)
        print(
            f"::warning title=mlreg::could not write the pull-request comment ({escape(why)}); the job summary "
            "has the same text (a pull request from a fork gets a read-only token)",
            flush=True,
        )
        return None
    return doc.get("html_url", "")


def identity(api: str, token: str) -> tuple[str, str | None]:
    """(login, user type) the token writes comments as: GET /user for a personal token; GITHUB_TOKEN is refused
    there (403), and comments as github-actions[bot], a Bot."""
    try:
        me = request("GET", f"{api}/user", token)
    except urllib.error.HTTPError:
        return BOT
    return (str(me.get("login")), None) if isinstance(me, dict) and me.get("login") else BOT


def find_comment(
    api: str, repo: str, number: int, marker: str, token: str, me: tuple[str, str | None] = BOT
) -> int | None:
    """Our earlier comment: it starts with the marker AND its author is the token's own identity (anyone can
    post a comment that copies the marker; updating theirs would put our verdict in their name, or theirs
    in ours)."""
    page = 1
    while True:
        comments = request("GET", f"{api}/repos/{repo}/issues/{number}/comments?per_page={PAGE}&page={page}", token)
        for c in comments:
            user = c.get("user") or {}
            mine = user.get("login") == me[0] and (me[1] is None or user.get("type") == me[1])
            if mine and (c.get("body") or "").startswith(marker):
                return int(c["id"])
        if len(comments) < PAGE:
            return None
        page += 1


def request(method: str, url: str, token: str, doc: dict | None = None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "mlreg-action",
            **({"Content-Type": "application/json"} if data else {}),
        },
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode() or "null")


# -- sync and report -------------------------------------------------------------------------------
def sync() -> int:
    """`mlreg validate`, `mlreg sync`, then `mlreg sync --check`: MLflow matches git, or the job fails."""
    if not env("MLFLOW_TRACKING_URI") and not settings_tracking_uri():
        fail(
            "no MLflow tracking URI: set the MLFLOW_TRACKING_URI secret (or mlflow.tracking_uri in mlreg.yaml); "
            "a sync into a throwaway local store would prove nothing"
        )
    steps = [("validate",), ("sync",), ("sync", "--check")]
    parts = []
    for args in steps:
        r = mlreg(*args)
        parts.append(
            f"**`mlreg {' '.join(args)}`**"
            + (" ✅" if r.returncode == 0 else " ❌")
            + "\n\n"
            + fenced((r.stdout + r.stderr).strip())
        )
        if r.returncode != 0:
            add_summary("\n\n".join(parts))
            return finish(r)
    add_summary("\n\n".join(parts))
    return finish(r)


def settings_tracking_uri() -> str:
    """mlflow.tracking_uri from mlreg.yaml in the working directory ('' when none; standard library only, so
    the one line is read as text)."""
    path = Path("mlreg.yaml")
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    block = re.search(r"(?m)^mlflow:\s*\n((?:[ \t]+.*\n?)*)", text)
    found = re.search(r"(?m)^\s+tracking_uri:\s*['\"]?([^'\"\s#]+)", block.group(1)) if block else None
    return found.group(1) if found and found.group(1) not in ("null", "~") else ""


def report() -> int:
    """`mlreg report -o DIR [--model NAME ...] [--at REF]`; the folder becomes output `report-dir`."""
    out = env("MLREG_REPORT_DIR", "site")
    args = ["report", "-o", out]
    for name in env("MLREG_MODELS").split():
        args += ["--model", name]
    if env("MLREG_AT"):
        args += ["--at", env("MLREG_AT")]
    r = mlreg(*args)
    if r.returncode == 0:
        set_output("report-dir", str(Path(out).resolve()))
        add_summary(f"**`mlreg {' '.join(args)}`**: ✅ wrote `{out}/`")
    else:
        add_summary(problems(f"mlreg {' '.join(args)}", r))
    return finish(r)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
