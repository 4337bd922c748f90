"""Webhook retry schedule and signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.alerting.events import AlertEvent, AlertState, EventType, Kind, Severity
from app.config import Settings
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


#: A leak alert raised: the first event of the deliveries below.
RAISED = AlertEvent(
    type=EventType.RAISED,
    alert_id="a",
    device_id="d",
    kind=Kind.LEAK,
    severity=Severity.WARNING,
    state=AlertState.ACTIVE,
    ts=1.7e9,
)
#: Long enough that the first attempt comes well before it on a loaded box (0.5 s was not:
#: the first attempt sometimes came after it, leaving no retry to see).
EXPIRE_S = 2.0


async def test_unreachable_receiver_is_retried_then_expired(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    raised = RAISED
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
        retry=RetryPolicy(base_s=0.05, max_s=0.1, expire_s=EXPIRE_S),
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
    assert rows[0]["last_attempt_at"] <= rows[0]["created_at"] + EXPIRE_S + 1.0
    await store.close()


class RawReceiver:
    """A loopback TCP server that reads one HTTP request per connection and answers with
    ``head`` then ``body()`` chunks, counting the body bytes it got out before the client
    hung up."""

    def __init__(self, head: bytes, body: Callable[[], AsyncIterator[bytes]]) -> None:
        self.head = head
        self.body = body
        self.requests = 0
        self.body_bytes_sent = 0
        self.hung_up = asyncio.Event()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(h.split(b":")[1])
            for h in head.split(b"\r\n")
            if h.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        self.requests += 1
        try:
            writer.write(self.head)
            async for chunk in self.body():
                writer.write(chunk)
                await writer.drain()
                self.body_bytes_sent += len(chunk)
        except (ConnectionError, OSError):
            self.hung_up.set()
        finally:
            writer.close()

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def _one_delivery(tmp_path: Path, url: str) -> Store:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    event = RAISED
    now = time.time()
    await store.append(
        [(event, event.to_wire(published_at=now))], states={}, now=now, webhook_urls=[url]
    )
    return store


async def _attempt(store: Store, url: str, **kw: object) -> dict:
    """Run a worker until the delivery has had one attempt; its row."""
    worker = ReceiverWorker(
        store,
        url,
        secret=b"k",
        retry=RetryPolicy(base_s=60, max_s=60),
        **kw,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(20):
            while not (rows := await store.deliveries.list(url=url))[0]["attempts"]:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return rows[0]


async def test_a_huge_answer_is_not_read_past_a_few_kib(tmp_path: Path) -> None:
    async def zeros() -> AsyncIterator[bytes]:
        for _ in range(300 * 16):  # 300 MiB in 64 KiB chunks
            yield b"\0" * 65536

    rx = RawReceiver(b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n", zeros)
    url = await rx.start()
    store = await _one_delivery(tmp_path, url)
    row = await _attempt(store, url, timeout_s=10.0)
    assert row["status"] == "delivered" and row["last_status"] == 200
    await asyncio.wait_for(rx.hung_up.wait(), 10)  # the worker dropped the connection
    assert rx.body_bytes_sent < 64 * 2**20  # socket buffers at most, not 300 MiB
    await rx.close()
    await store.close()


async def test_a_trickled_answer_ends_at_the_attempt_deadline(tmp_path: Path) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(1000):  # one byte every 0.2 s: each read is quick, the whole is not
            await asyncio.sleep(0.2)
            yield b"x"

    rx = RawReceiver(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", trickle)
    url = await rx.start()
    store = await _one_delivery(tmp_path, url)
    t0 = time.monotonic()
    row = await _attempt(store, url, timeout_s=1.0)
    assert time.monotonic() - t0 < 5
    assert row["status"] == "pending" and row["last_error"].startswith("TimeoutError"), row
    await rx.close()
    await store.close()


async def test_redirects_are_not_followed_and_unlisted_hosts_not_contacted(
    tmp_path: Path,
) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    target = RawReceiver(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nothing)
    target_url = await target.start()
    rx = RawReceiver(
        f"HTTP/1.1 302 Found\r\nLocation: {target_url}\r\nContent-Length: 0\r\n\r\n".encode(),
        nothing,
    )
    url = await rx.start()
    store = await _one_delivery(tmp_path, url)
    row = await _attempt(store, url, timeout_s=5.0)
    assert row["last_status"] == 302 and "redirects are not followed" in row["last_error"]
    assert rx.requests == 1 and target.requests == 0
    await store.close()

    (tmp_path / "second").mkdir()
    store = await _one_delivery(tmp_path / "second", target_url)
    row = await _attempt(store, target_url, timeout_s=5.0, allowed_hosts=["hooks.example.com"])
    assert row["last_error"].startswith("PermissionError") and target.requests == 0
    await store.close()
    for r in (rx, target):
        await r.close()


def test_settings_refuse_a_webhook_url_outside_the_allow_list() -> None:
    with pytest.raises(ValidationError, match="webhook_allowed_hosts"):
        Settings(webhook_urls=["http://10.0.0.1/hook"], webhook_allowed_hosts=["hooks.example.com"])
    ok = Settings(
        webhook_urls=["https://Hooks.Example.com/x"], webhook_allowed_hosts=["hooks.example.com"]
    )  # noqa: E501
    assert ok.webhook_urls


def refusing_receiver(
    seen: list[int], refuses: Callable[[int], bool]
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A one-request-per-connection HTTP receiver for ``asyncio.start_server``: records each
    delivery's ``X-Gasleak-Event-Id`` in ``seen`` and answers 400 where ``refuses(id)``,
    else 200."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode().lower().split("\r\n")
        fields = dict(h.split(": ", 1) for h in head[1:] if ": " in h)
        await reader.readexactly(int(fields["content-length"]))
        event_id = int(fields["x-gasleak-event-id"])
        seen.append(event_id)
        status = b"400 Bad Request" if refuses(event_id) else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    return serve


async def test_an_event_the_receiver_refuses_does_not_hold_back_later_ones(
    tmp_path: Path,
) -> None:
    """The receiver answers 400 to the first event and 200 to the rest: the later events are
    delivered while the refused one waits for its retry (newcomer: it held them for a day)."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    seen: list[int] = []

    server = await asyncio.start_server(refusing_receiver(seen, lambda i: i == 1), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    raised = RAISED
    events = [raised, raised.with_(type=EventType.UPDATED), raised.with_(type=EventType.UPDATED)]
    now = time.time()
    await store.append(
        [(e, e.to_wire(published_at=now)) for e in events], states={}, now=now, webhook_urls=[url]
    )
    worker = ReceiverWorker(
        store, url, secret=b"k", timeout_s=2.0, retry=RetryPolicy(base_s=60.0, max_s=60.0)
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while (await store.deliveries.counts()).get(url, {}).get("delivered", 0) < 2:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        server.close()
    rows = {r["event_id"]: r for r in await store.deliveries.list(url=url)}
    assert seen == [1, 2, 3]  # tried in event order, the refusal skipped over
    assert rows[1]["status"] == "pending" and rows[1]["last_status"] == 400
    assert rows[1]["next_attempt_at"] > time.time()  # retried later, on its own schedule
    assert rows[2]["status"] == rows[3]["status"] == "delivered"
    await store.close()


@pytest.mark.parametrize(("refused", "page"), [(4, 3), (100, 100)])
async def test_a_page_of_refused_events_does_not_hold_back_a_later_one(
    tmp_path: Path, refused: int, page: int
) -> None:
    """The receiver refuses (400) the first ``refused`` events, as many as the worker reads
    at a time, or more: the event after them is still delivered at once. The worker read the
    100 oldest pending deliveries and skipped the refused ones not yet due, so 100 refused
    events took the whole page and nothing newer went out until one was due again (the
    backoff, here 60 s; up to a day of them)."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.migrate()
    seen: list[int] = []

    server = await asyncio.start_server(
        refusing_receiver(seen, lambda i: i <= refused), "127.0.0.1", 0
    )
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    events = [RAISED] + [RAISED.with_(type=EventType.UPDATED)] * refused
    now = time.time()
    await store.append(
        [(e, e.to_wire(published_at=now)) for e in events], states={}, now=now, webhook_urls=[url]
    )
    worker = ReceiverWorker(
        store, url, secret=b"k", timeout_s=2.0, retry=RetryPolicy(base_s=60.0, max_s=60.0)
    )
    worker.page = page
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(15):
            while (await store.deliveries.counts()).get(url, {}).get("delivered", 0) < 1:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        server.close()
    rows = {r["event_id"]: r for r in await store.deliveries.list(url=url, limit=1000)}
    assert seen == list(range(1, refused + 2))  # each tried once, in event order
    assert rows[refused + 1]["status"] == "delivered"
    assert all(rows[i]["status"] == "pending" for i in range(1, refused + 1))
    assert await store.deliveries.next_due(url) == min(
        rows[i]["next_attempt_at"] for i in range(1, refused + 1)
    )
    await store.close()
