"""``make demo``'s own process (``python main.py --mode demo``) watched in headless chromium:
the fleet shows up, the simulator's first leak appears as a leak alert row, and acknowledging
it in the page reaches a /ws/alerts subscriber as ``alert.acknowledged``. The demo makes its
own keys (no GASLEAK_* variable is passed): the page signs in with the operator key the demo
printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.server import free_port, terminate
from tests.e2e.browser import browser_page, require_browser, screenshot, sign_in
from tests.e2e.test_console import Subscriber

ROOT = Path(__file__).resolve().parents[2]
SPEED = 40.0  # readings/s per device: sim-00's first segment (600 s simulated) in 15 s


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The demo on a free port (its own temp store under ``tmp_path``) and the console key
    it printed; stopped with SIGTERM after the test; its temp folder must be gone then."""
    require_browser()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GASLEAK_")}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "main.py",
                "--mode",
                "demo",
                "--port",
                str(port),
                "--speed",
                str(SPEED),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            else:
                log.seek(0)
                raise RuntimeError(f"demo did not start:\n{log.read().decode()[-3000:]}")
            assert [p.name[:13] for p in tmp_path.iterdir()] == ["gasleak-demo-"]
            key = None
            while key is None and time.monotonic() < deadline + 30:
                log.seek(0)
                m = re.search(rb"console sign-in \(operator\): (gl_\S+)", log.read())
                if m:
                    key = m.group(1).decode()
                else:
                    time.sleep(0.1)
            assert key is not None, "the demo printed no console sign-in key"
            yield base, key
        finally:
            terminate(proc, 15)
            log.seek(0)
            out = log.read().decode()
    assert proc.returncode == 0
    assert list(tmp_path.iterdir()) == []  # the demo removed its store folder on SIGTERM
    # a clean stop: no uvicorn re-raise tracebacks (25 lines of them: newcomer of 1 Dec)
    assert "Traceback" not in out and out.rstrip().endswith("stopped"), out[-2000:]


def test_demo_leak_is_shown_and_acknowledged_in_the_console(demo: tuple[str, str]) -> None:
    base, key = demo
    sub = Subscriber(base.replace("http", "ws", 1), key)
    try:
        with browser_page() as (page, log):
            sign_in(page, base + "/", key)
            page.wait_for_selector("body[data-ready=true]", timeout=15_000)
            row = page.wait_for_selector(
                "tr[data-testid=alert-row][data-kind=leak][data-state=active]", timeout=90_000
            )
            device = row.get_attribute("data-device-id")
            alert_id = row.get_attribute("data-alert-id")
            page.wait_for_selector(
                f'tr[data-testid=device-row][data-device-id="{device}"]', timeout=10_000
            )
            page.wait_for_timeout(1000)
            screenshot(page, "console-demo")
            # by selector, not the handle: a new event (an escalation) re-renders the table
            page.click(f'tr[data-alert-id="{alert_id}"] [data-testid=ack-button]')
            page.fill("#ack-author", "demo operator")
            page.fill("#ack-comment", "checked on site")
            page.click("#ack-submit")
            page.wait_for_selector(
                f'tr[data-alert-id="{alert_id}"][data-state=acknowledged]', timeout=5_000
            )
            acked = sub.wait_for(
                lambda e: e["type"] == "alert.acknowledged" and e["alert_id"] == alert_id,
                timeout_s=5,
            )
            assert acked["device_id"] == device and acked["ack"]["author"] == "demo operator"
            assert log.errors == [] and log.external == [], (log.errors, log.external)
    finally:
        sub.close()
