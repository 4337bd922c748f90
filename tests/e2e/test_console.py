"""The operator console in a real headless browser against a real uvicorn server.

A leak is posted over HTTP; its alert must appear as a row within seconds, through
``/ws/alerts``; acknowledging it in the page must reach a separate ``/ws/alerts`` subscriber
as ``alert.acknowledged`` with the comment typed in the page. Every page is screenshotted
(tests/e2e/browser.py: test-output/console/, and docs/ with GASLEAK_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import (
    TEST_ADMIN_KEY,
    LiveServer,
    auth_headers,
    make_key,
    reading,
    start_server,
    stop_server,
)
from tests.e2e.browser import browser_page, require_browser, screenshot, sign_in

ALERT_WITHIN_S = 5.0  # "a leak appears as an alert row within a few seconds"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """One real server for the module's tests (each test uses its own device ids)."""
    require_browser()
    s = start_server()
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def operator_key(server: LiveServer) -> str:
    """An operator key: what a person at the console signs in with (ack, silence)."""
    return asyncio.run(make_key(server.base, "operator"))


class Subscriber:
    """A /ws/alerts client in a thread, collecting every event it receives."""

    def __init__(self, ws_base: str, key: str) -> None:
        self._headers = auth_headers(key)
        self.events: list[dict] = []
        self._url = ws_base + "/ws/alerts"
        self._ws = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "no 'subscribed' frame from /ws/alerts"

    def _run(self) -> None:
        with connect(self._url, additional_headers=self._headers) as ws:
            self._ws = ws
            if json.loads(ws.recv(10))["type"] == "subscribed":
                self._ready.set()
            try:
                for frame in ws:
                    self.events.append(json.loads(frame))
            except Exception:  # closed by close(); the events gathered so far stay
                return

    def wait_for(self, pred, timeout_s: float) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for e in list(self.events):
                if pred(e):
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no matching event in {timeout_s} s: {self.events}")

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(5)


def post_all(base: str, rows: list[dict]) -> None:
    """POST ``rows`` in bodies of at most 10,000 readings (the API's limit); every one must
    be accepted."""
    for i in range(0, len(rows), 10_000):
        r = httpx.post(
            base + "/api/readings", json=rows[i : i + 10_000], timeout=120, headers=auth_headers()
        )
        assert r.status_code == 200 and r.json()["rejected"] == [], r.text[:300]


def post_leak(base: str, device: str) -> None:
    """60 s of clean air, then gas climbing 30 % a second past the 12,500 ppm set point
    (25 % LEL of methane) to 30,000 ppm."""
    t0 = time.time() - 300
    clean = [reading(device, t0 + i, 420.0 + i % 3) for i in range(60)]
    leak = [reading(device, t0 + 60 + i, min(420.0 * 1.3**i, 30_000.0)) for i in range(30)]
    r = httpx.post(base + "/api/readings", json=clean + leak, timeout=30, headers=auth_headers())
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


def test_console_shows_a_posted_leak_and_acknowledges_it(
    server: LiveServer, operator_key: str
) -> None:
    sub = Subscriber(server.ws, server.key)
    try:
        with browser_page() as (page, log):
            sign_in(page, server.base + "/", operator_key)
            page.wait_for_selector("body[data-ready=true]", timeout=15_000)
            page.wait_for_selector("#status dd[data-key=Model]", timeout=5_000)
            assert "LSTM+SVM" in page.inner_text("#status-panel")

            t0 = time.monotonic()
            post_leak(server.base, "console-1")
            row = page.wait_for_selector(
                'tr[data-testid=alert-row][data-state=active] :text("console-1")',
                timeout=ALERT_WITHIN_S * 1000,
            )
            seen_after = time.monotonic() - t0
            assert row is not None and seen_after < ALERT_WITHIN_S
            page.wait_for_selector(
                'tr[data-testid=device-row][data-device-id="console-1"]', timeout=10_000
            )
            page.wait_for_timeout(500)  # let the sparkline request land
            screenshot(page, "console-fleet")

            alert_row = page.locator("tr[data-testid=alert-row]", has_text="console-1").first
            alert_id = alert_row.get_attribute("data-alert-id")
            alert_row.locator("[data-testid=ack-button]").click()
            page.fill("#ack-author", "e2e operator")
            page.fill("#ack-comment", "valve closed (browser test)")
            screenshot(page, "console-ack-dialog")
            page.click("#ack-submit")
            page.wait_for_selector(
                f'tr[data-alert-id="{alert_id}"][data-state=acknowledged]', timeout=5_000
            )

            acked = sub.wait_for(
                lambda e: e["type"] == "alert.acknowledged" and e["alert_id"] == alert_id,
                timeout_s=5,
            )
            assert acked["ack"] == {
                "author": "e2e operator",
                "comment": "valve closed (browser test)",
            }

            page.goto(server.base + "/#/device/console-1")
            page.wait_for_selector("#chart-gas canvas", timeout=10_000)
            page.wait_for_selector("#dev-alerts tr[data-alert-id]", timeout=5_000)
            assert "valve closed" in page.inner_text("#dev-alerts")
            screenshot(page, "console-device")
            assert log.errors == [], log.errors
            assert log.external == [], log.external
    finally:
        sub.close()


@pytest.mark.parametrize(
    ("path", "ready"), [("/docs", ".swagger-ui .info"), ("/redoc", "redoc-wrap, .redoc-wrap")]
)
def test_api_docs_render_offline(server: LiveServer, path: str, ready: str) -> None:
    with browser_page() as (page, log):
        page.goto(server.base + path)
        page.wait_for_selector(ready, timeout=20_000)
        page.wait_for_timeout(300)
        text = page.inner_text("body")
        assert "/ws/alerts" in text and "1013" in text  # the WebSocket protocols are there
        if path == "/docs":  # the Bearer scheme from HTTPBearer: Swagger UI's Authorize button
            page.click("button.authorize")
            page.wait_for_selector("text=ApiKey  (http, Bearer)", timeout=5_000)
        screenshot(page, f"docs{path.replace('/', '-')}")
        assert log.external == [], log.external
        assert log.errors == [], log.errors


def test_silence_a_device_from_its_page(server: LiveServer, operator_key: str) -> None:
    schema = httpx.get(server.base + "/openapi.json").json()
    assert "post" in schema["paths"]["/api/silences"], "the console's silence form needs it"
    t0 = time.time() - 120
    batch = [reading("console-2", t0 + i, 420.0) for i in range(10)]
    r = httpx.post(server.base + "/api/readings", json=batch, headers=server.headers)
    assert r.json()["accepted"] == 10
    with browser_page() as (page, log):
        sign_in(page, server.base + "/#/device/console-2", operator_key)
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        page.wait_for_selector("[data-testid=silence-form]:not([hidden])", timeout=5_000)
        page.select_option("#silence-duration", "3600")
        page.fill("#silence-author", "e2e operator")
        page.fill("#silence-comment", "sensor being serviced")
        before = time.time()
        page.click("#silence-submit")
        page.wait_for_selector("#silence-current li", timeout=5_000)
        screenshot(page, "console-silence")
        page.goto(server.base + "/#/")
        page.wait_for_selector(
            'tr[data-device-id="console-2"] [data-testid=silenced]', timeout=10_000
        )
        assert log.errors == [] and log.external == [], (log.errors, log.external)
    silences = httpx.get(server.base + "/api/silences", headers=server.headers).json()["silences"]
    mine = [s for s in silences if s["device_id"] == "console-2"]
    assert len(mine) == 1 and mine[0]["author"] == "e2e operator"
    assert mine[0]["status"] == "active"
    from datetime import datetime

    ends = datetime.fromisoformat(mine[0]["ends_at"]).timestamp()
    assert 3500 < ends - before < 3700  # the duration picked in the page


def test_console_sign_in_refuses_bad_keys_and_a_viewer_cannot_acknowledge(
    server: LiveServer,
) -> None:
    """Without a key the console shows only its sign-in box; an unknown key and a gateway
    key are refused there; a viewer sees alerts but its acknowledgement is refused (403)."""
    viewer, gateway = (asyncio.run(make_key(server.base, r)) for r in ("viewer", "gateway"))
    post_leak(server.base, "console-3")
    with browser_page() as (page, _log):
        sign_in(page, server.base + "/", "gl_0000000000000000_" + "x" * 43)
        page.wait_for_selector("[data-testid=signin-error]:has-text('Unknown or revoked')")
        assert page.is_hidden("#main")
        page.fill("#signin-key", gateway)
        page.click("#signin-submit")
        page.wait_for_selector("[data-testid=signin-error]:has-text('gateway key')")
        page.fill("#signin-key", viewer)
        page.click("#signin-submit")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        page.wait_for_selector("[data-testid=who]:has-text('(viewer)')", timeout=5_000)
        row = page.locator("tr[data-testid=alert-row]", has_text="console-3").first
        row.wait_for(timeout=10_000)
        page.wait_for_selector("[data-testid=conn]:has-text('live')")  # the ticket worked
        row.locator("[data-testid=ack-button]").click()
        page.fill("#ack-author", "a viewer")
        page.click("#ack-submit")
        page.wait_for_selector("#ack-error:has-text('operator or admin')", timeout=5_000)
        page.click("#ack-cancel")
        page.click("#signout")
        page.wait_for_selector("#signin-form", state="visible", timeout=5_000)
        assert page.evaluate("sessionStorage.getItem('gasleak.key')") is None


def test_an_unknown_devices_page_says_it_is_not_tracked(
    server: LiveServer, operator_key: str
) -> None:
    """GET /api/devices/{id}/readings of an unknown device is a 404 (as the device view): the
    page showed no banner and empty charts, the history's 404 unhandled (newcomer of 1 Dec
    13:45). It now says the device is not tracked and draws empty charts."""
    with browser_page() as (page, log):
        sign_in(page, server.base + "/#/device/no-such-device", operator_key)
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        page.wait_for_function(
            "document.querySelector('#dev-info').innerText.includes('not tracked now')",
            timeout=10_000,
        )
        page.wait_for_selector("#chart-gas", timeout=5_000)
        uncaught = [e for e in log.errors if e.startswith("uncaught")]
        assert uncaught == [], log.errors  # the 404s themselves are logged by the browser


def test_the_console_lists_every_open_alert_past_the_first_page(
    server: LiveServer, operator_key: str
) -> None:
    """1,005 open threshold alarms (an alarm flood): the console loaded the newest 1,000
    (one page of ``/api/alerts``) and never showed the rest, critical ones included
    (newcomer of 10 Dec: 15,068 of 16,068 not shown). It follows ``next_cursor`` now."""
    t0 = time.time() - 60
    post_all(
        server.base,
        [reading(f"flood-{d:04d}", t0 + k, 30_000.0) for d in range(1005) for k in range(3)],
    )
    listed = httpx.get(
        server.base + "/api/alerts?kind=threshold&limit=1000", timeout=30, headers=auth_headers()
    ).json()
    assert listed["next_cursor"] is not None  # more than one page is open
    with browser_page() as (page, log):
        sign_in(page, server.base + "/", operator_key)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        shown = page.locator('tr[data-testid=alert-row]:has-text("flood-")')
        assert shown.count() == 1005, shown.count()
        assert page.locator('tr[data-testid=alert-row]:has-text("flood-0000")').count() == 1
        assert log.errors == [], log.errors


def test_a_fleet_past_the_tables_rows_lists_alarmed_devices_first_and_says_so() -> None:
    """10,050 devices, the last by id with a critical alarm: the fleet table listed the first
    10,000 by id, left that device out and said nothing of the 50 not shown (newcomer of 10
    Dec). It lists every device with an open alert first and counts the rest."""
    s = start_server()
    try:
        t0 = time.time() - 60
        post_all(s.base, [reading(f"q-{d:05d}", t0, 420.0) for d in range(10_049)])
        post_all(s.base, [reading("zz-alarm", t0, 30_000.0)])
        with browser_page() as (page, log):
            sign_in(page, s.base + "/", TEST_ADMIN_KEY)
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            rows = page.locator("#fleet tr[data-testid=device-row]")
            assert rows.count() == 10_000, rows.count()
            assert page.locator('#fleet tr[data-device-id="zz-alarm"]').count() == 1
            assert rows.first.get_attribute("data-device-id") == "zz-alarm"
            assert page.locator("#fleet-count").inner_text() == "(10000 of 10050)"
            assert "Showing 10000 of 10050 devices" in page.locator("#fleet-source").inner_text()
            assert log.errors == [], log.errors
    finally:
        stop_server(s)
