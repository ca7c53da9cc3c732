"""Headless Chromium for browser tests: Debian's `chromium` driven by Playwright's Python package.

Playwright cannot download its own browser here, so it drives the system binary (`.ci/run` installs
it with apt-get; see `scripts/install-browser`). A missing browser fails the test rather than
skipping it, unless MLREG_SKIP_BROWSER=1 says so explicitly: a browser test that silently never
runs proves nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses; --no-sandbox because CI runs as root.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(os.environ.get("MLREG_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def chromium_path() -> str:
    """The system Chromium, or a test failure saying how to install it."""
    found = os.environ.get("MLREG_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("MLREG_SKIP_BROWSER") == "1":
        pytest.skip("MLREG_SKIP_BROWSER=1: browser tests skipped")
    pytest.fail(
        "browser tests need Debian's chromium: run `bash scripts/install-browser` "
        "(or set MLREG_SKIP_BROWSER=1 to skip them knowingly)"
    )


@dataclass
class Session:
    """One page plus every request it made (to prove a page stays offline)."""

    page: object
    requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        """Save a full-page PNG under test-artifacts/ and return its path."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Session]:
    """A fresh headless Chromium page (new profile each time); closed on exit."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            session = Session(page)
            page.on("request", lambda request: session.requests.append(request.url))
            yield session
        finally:
            browser.close()
