"""Webhooks end to end: a real server posts every event of the real gas-fire slice to two
loopback receivers; one answers 503 for a while, then comes back and still gets every
event, signed; the healthy one is never held up by it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import SILENCE_END, needs_data, start_server, stop_server
from tests.e2e.test_real_replay import FIRE, as_readings, load_rows

SECRET = "s3cret-for-tests"


class Receiver:
    """An http.server on loopback that records every request and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.ok: list[dict] = []  # bodies answered 2xx
        self.attempts = 0
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("x-gasleak-signature", "")):
                    receiver.bad_signatures += 1
                receiver.attempts += 1
                status = receiver.status
                if status == 200:
                    event = json.loads(body)
                    assert self.headers["x-gasleak-event-id"] == str(event["event_id"])
                    receiver.ok.append(event)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(pred, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@needs_data
@pytest.mark.slow
def test_receiver_down_then_back_gets_every_event_signed_and_others_are_not_delayed() -> None:
    healthy, flaky = Receiver(), Receiver()
    flaky.status = 503
    env = {
        "GASLEAK_WEBHOOK_URLS": json.dumps([flaky.url, healthy.url]),
        "GASLEAK_WEBHOOK_SECRET": SECRET,
        "GASLEAK_WEBHOOK_BACKOFF_BASE_S": "0.1",
        "GASLEAK_WEBHOOK_BACKOFF_MAX_S": "0.8",
    }
    server = start_server(env)
    try:
        readings = as_readings("fire", load_rows(*FIRE))
        with httpx.Client(base_url=server.base, timeout=30, headers=server.headers) as http:
            for k in range(0, len(readings), 100):
                assert http.post("/api/readings", json=readings[k : k + 100]).status_code == 200
            wait_until(
                lambda: http.get("/api/status").json()["windows_scored"] >= len(readings) - 59
            )
            events = http.get("/api/events", params={"limit": 1000}).json()["events"]
            assert len(events) >= 2, "the fire slice should raise and resolve at least once"
            wait_until(lambda: len(healthy.ok) == len(events), 20)
            assert flaky.ok == [] and flaky.attempts >= 2  # still down, retried, not blocking
            pending = http.get(
                "/api/webhooks/deliveries", params={"url": flaky.url, "status": "pending"}
            ).json()
            assert len(pending["deliveries"]) == len(events)
            first = pending["deliveries"][0]
            assert first["attempts"] >= 1 and first["last_status"] == 503
            assert first["last_error"] == "HTTP 503"

            flaky.status = 200  # the receiver comes back
            wait_until(lambda: len(flaky.ok) == len(events), 30)
            want = {flaky.url: {"delivered": len(events)}, healthy.url: {"delivered": len(events)}}
            # the receiver has the body before the service has its answer: wait for the record
            wait_until(lambda: http.get("/api/webhooks/deliveries").json()["receivers"] == want, 10)
            state = http.get("/api/webhooks/deliveries", params={"limit": 1000}).json()
    finally:
        stop_server(server)
        healthy.close()
        flaky.close()
    assert flaky.ok == events and healthy.ok == events  # every event, once, in order
    assert flaky.bad_signatures == healthy.bad_signatures == 0
    retried = [d for d in state["deliveries"] if d["url"] == flaky.url and d["attempts"] > 1]
    assert retried and all(d["delivered_at"] for d in state["deliveries"])


@pytest.mark.slow
def test_a_silence_on_a_glob_keeps_the_receiver_quiet_while_the_alert_is_stored() -> None:
    hook = Receiver()
    env = {
        "GASLEAK_WEBHOOK_URLS": json.dumps([hook.url]),
        "GASLEAK_WEBHOOK_SECRET": SECRET,
        "GASLEAK_MODEL_ENABLED": "false",
    }
    server = start_server(env)
    try:
        with httpx.Client(base_url=server.base, timeout=30, headers=server.headers) as http:
            r = http.post(
                "/api/silences",
                json={
                    "device_id": "kitchen-*",
                    "comment": "oven",
                    "author": "ann",
                    "ends_at": SILENCE_END,
                },
            )
            assert r.status_code == 201
            t0 = time.time() - 60
            for device in ("kitchen-01", "hall-01"):
                body = [
                    {
                        "device_id": device,
                        "ts": t0 + i,
                        "gas_ppm": g,
                        "temperature_c": 21.0,
                        "humidity_pct": 45.0,
                    }
                    for i, g in enumerate([420.0, 6_000.0, 14_000.0])
                ]
                assert http.post("/api/readings", json=body).json()["accepted"] == 3
            events = http.get("/api/events").json()["events"]
            wait_until(lambda: len(hook.ok) == 2, 20)
            time.sleep(0.5)  # a silenced event, if it were sent, would have arrived by now
            listed = http.get("/api/alerts", params={"device_id": "kitchen-01"}).json()["alerts"]
    finally:
        stop_server(server)
        hook.close()
    assert [(e["device_id"], e["type"], e["silenced"]) for e in events] == [
        ("kitchen-01", "alert.raised", True),
        ("kitchen-01", "alert.updated", True),
        ("hall-01", "alert.raised", False),
        ("hall-01", "alert.updated", False),
    ]
    assert hook.ok == events[2:] and hook.attempts == 2  # kitchen-01's never left the service
    assert [(a["state"], a["silenced"]) for a in listed] == [("active", True)]
