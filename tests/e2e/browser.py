"""Headless Debian chromium under Playwright for the console tests, with the page's console
errors and every request that leaves loopback recorded.

Never ``playwright install``: the browser is the ``chromium`` Debian package (.ci/run installs
it). Where it is missing the tests are skipped on a developer's machine and fail under CI
(``CI=true``), so a CI without a browser cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import missing_tool

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GASLEAK_CHROMIUM", "/usr/bin/chromium")
#: Screenshots of every page land here; with GASLEAK_UPDATE_SCREENSHOTS=1 the console's
#: also replace those in docs/ (shown in README).
OUTPUT = Path(os.environ.get("GASLEAK_TEST_OUTPUT", ROOT / "test-output")) / "console"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def require_browser() -> None:
    """Skip (fail under CI) when Playwright or Debian's chromium is missing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        missing_tool("browser tests need " + " and ".join(missing))


@dataclass
class BrowserLog:
    """What the page reported: console errors, uncaught exceptions, off-host requests."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


@contextmanager
def browser_page(viewport: tuple[int, int] = (1400, 900)) -> Iterator[tuple[object, BrowserLog]]:
    """A fresh page in headless chromium, and the log of what went wrong on it."""
    from playwright.sync_api import sync_playwright

    log = BrowserLog()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda m: m.type == "error" and log.errors.append(m.text))
            page.on("pageerror", lambda e: log.errors.append(f"uncaught: {e}"))

            def note(req) -> None:  # noqa: ANN001
                parts = urlsplit(req.url)
                if parts.scheme in ("http", "https", "ws", "wss") and (
                    parts.hostname not in LOOPBACK
                ):
                    log.external.append(req.url)

            page.on("request", note)
            yield page, log
        finally:
            browser.close()


def sign_in(page, url: str, key: str) -> None:  # noqa: ANN001
    """Open the console at ``url`` and sign in with ``key`` through its sign-in box."""
    page.goto(url)
    page.wait_for_selector("#signin-form", state="visible", timeout=15_000)
    page.fill("#signin-key", key)
    page.click("#signin-submit")


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    """Save a full-page PNG in the test output (and in docs/ when asked to)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("GASLEAK_UPDATE_SCREENSHOTS") == "1" and name.startswith("console"):
        shutil.copy(path, ROOT / "docs" / f"{name}.png")
    return path
