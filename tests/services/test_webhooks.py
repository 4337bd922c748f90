"""Webhook retry schedule and signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path

from app.alerting.events import AlertEvent, AlertState, EventType, Kind, Severity
from app.services.webhooks import ReceiverWorker, RetryPolicy, encode, sign
from app.store import Store
from tests.conftest import free_port


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    p = RetryPolicy(base_s=1.0, max_s=8.0)
    for attempts, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        delays = [p.delay(attempts) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not a fixed schedule


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = encode({"event_id": 1, "device_id": "ü"})
    assert body == '{"event_id":1,"device_id":"ü"}'.encode()
    want = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == f"sha256={want}"
    assert sign(b"other", body) != sign(b"k", body)


async def test_unreachable_receiver_is_retried_then_expired(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    raised = AlertEvent(
        type=EventType.RAISED,
        alert_id="a",
        device_id="d",
        kind=Kind.LEAK,
        severity=Severity.WARNING,
        state=AlertState.ACTIVE,
        ts=1.7e9,
    )
    resolved = raised.with_(type=EventType.RESOLVED, state=AlertState.RESOLVED)
    now = time.time()
    await store.append(
        [(e, e.to_wire(published_at=now)) for e in (raised, resolved)],
        states={},
        now=now,
        webhook_urls=[url],
    )  # pending, as after a restart
    worker = ReceiverWorker(
        store,
        url,
        secret=b"k",
        timeout_s=1.0,
        retry=RetryPolicy(base_s=0.05, max_s=0.1, expire_s=0.5),
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while (await store.deliveries.counts()).get(url) != {"expired": 2}:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
    rows = await store.deliveries.list(url=url)
    assert rows[0]["attempts"] >= 2  # retried with backoff until its expiry
    assert rows[1]["attempts"] >= 1  # waited its turn (in order), then was past its expiry too
    assert all(
        r["last_status"] is None and r["last_error"].startswith("ConnectError") for r in rows
    )
    assert rows[0]["last_attempt_at"] <= rows[0]["created_at"] + 0.5 + 1.0
    await store.close()
