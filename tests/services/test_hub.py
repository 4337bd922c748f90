"""Event log and fan-out hub over a real SQLite store: stored before anyone sees it, retries,
outbox rows, silences, bounded queues, filters, and the subscription iterator's resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from app.alerting.events import AlertEvent, AlertState, EventType, Kind, Severity
from app.alerting.silences import Silence, Silences
from app.services.eventlog import EventLog
from app.services.hub import EventFilter, Hub, Subscription
from app.store import Store

T = 1_767_225_600.0


def raised(device: str, ts: float = T, severity: str = "warning", kind: str = "leak") -> AlertEvent:
    return AlertEvent(
        type=EventType.RAISED,
        alert_id=f"{device}-{ts}",
        device_id=device,
        kind=Kind(kind),
        severity=Severity(severity),
        state=AlertState.ACTIVE,
        ts=ts,
        probability=0.8,
        model_type="m",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await s.migrate()
    yield s
    await s.close()


async def log_on(
    store: Store,
    queue_max: int = 10,
    page: int = 500,
    silences: Silences | None = None,
    urls: tuple[str, ...] = (),
) -> EventLog:
    async def replay(after: int, upto: int, f: EventFilter, limit: int) -> list[dict[str, Any]]:
        return await store.events_after(
            after,
            upto=upto,
            device_ids=f.device_ids,
            kinds=f.kinds,
            include_silenced=f.include_silenced,
            min_severity=f.min_severity and f.min_severity.value,
            limit=limit,
        )

    log = EventLog(
        store=store,
        hub=Hub(queue_max=queue_max, replay=replay, replay_page=page),
        silences=silences,
        webhook_urls=urls,
        clock=lambda: T + 5,
    )
    await log.start()
    return log


async def drain(sub: Subscription, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        async for e in sub:
            out.append(e)
            if len(out) == n:
                break
    return out


async def test_event_is_in_the_store_when_a_subscriber_gets_it(store: Store) -> None:
    log = await log_on(store)
    seen_in_store: list[list[dict[str, Any]]] = []

    log.listeners.append(lambda events: seen_in_store.append(events))
    async with log.hub.subscribe() as sub:
        [e] = await log.publish([raised("a")])
        [got] = await drain(sub, 1)
    assert got == e and e["event_id"] == 1 and e["ts"] == "2026-01-01T00:00:00.000Z"
    assert e["published_at"] == "2026-01-01T00:00:05.000Z" and e["silenced"] is False
    assert await store.events_after(0) == [e]  # the stored row is exactly what was pushed
    row = await store.get_alert("a-" + str(T))
    assert row is not None and (row["state"], row["notified_at"]) == ("active", T + 5)
    assert seen_in_store == [[e]]


async def test_a_burst_beyond_the_queue_is_read_from_the_store_in_order_then_live(
    store: Store,
) -> None:
    """A subscriber whose queue overflows is not ended: it gets what was queued, then the
    rest from the store (pages of 4 here), events published meanwhile included, then live
    events through its queue again. Every id once, in order. Before 2 Dec the overflow
    ended it (a burst of 2,500 alarms closed every subscriber: a tester)."""
    log = await log_on(store, queue_max=2, page=4)
    hub = log.hub
    async with hub.subscribe() as sub, hub.subscribe(EventFilter.of(["odd"])) as few:
        await log.publish([raised("odd" if i % 2 else "even", T + i) for i in range(1, 31)])
        assert sub.catching_up and few.catching_up and hub.overflows == 2
        assert sub.queue.qsize() == 2  # nothing queued past the overflow
        got = [e["event_id"] for e in await drain(sub, 10)]
        await log.publish([raised("odd", T + 31)])  # while catching up: read from the store
        got += [e["event_id"] for e in await drain(sub, 21)]
        assert got == list(range(1, 32)) and sub.resume_id == 31
        nxt = asyncio.create_task(anext(aiter(sub)))
        await asyncio.sleep(0.05)  # it finds nothing newer in the store: live again
        assert not sub.catching_up and not nxt.done()
        [e] = await log.publish([raised("odd", T + 32)])
        async with asyncio.timeout(5):
            assert (await nxt) == e
        # a filtered subscriber: only its events, the same way
        odd = [x["event_id"] for x in await drain(few, 17)]
        assert odd == [*range(1, 32, 2), 32]
        assert sub.ended is None and few.ended is None
    assert hub.subscribers == 0


async def test_a_subscriber_whose_backlog_keeps_growing_ends_with_its_resume_id(
    store: Store,
) -> None:
    """While catching up, a subscriber whose backlog grew over 3 consecutive windows
    (``behind_s`` / 3 each) ends (``ended == "behind"``), with the ``since`` to resume
    with; a resume gets the rest with no gap or duplicate. Another subscriber that keeps
    reading is not ended."""
    now = [0.0]
    log = await log_on(store, queue_max=2, page=4)
    log.hub.behind_s, log.hub.clock = 3.0, lambda: now[0]
    async with log.hub.subscribe() as slow, log.hub.subscribe() as fast:
        await log.publish([raised("d", T + i) for i in range(5)])
        got = [e["event_id"] for e in await drain(slow, 3)]  # 2 queued, 1 from the store
        assert got == [1, 2, 3] and slow.catching_up
        fast_got = [e["event_id"] for e in await drain(fast, 5)]
        async with asyncio.timeout(5):
            it = aiter(slow)
            for w in range(3):  # each window: 3 more events, 1 read
                now[0] += 1.0
                await log.publish([raised("d", T + 10 + 3 * w + i) for i in range(3)])
                fast_got += [e["event_id"] for e in await drain(fast, 3)]
                if w < 2:
                    got.append((await anext(it))["event_id"])
            with pytest.raises(StopAsyncIteration):
                await anext(it)
        assert slow.ended == "behind" and slow.resume_id == got[-1] == 5
        assert fast.ended is None and fast_got == list(range(1, 15))
    async with log.hub.subscribe(since=slow.resume_id) as again:
        got += [e["event_id"] for e in await drain(again, 9)]
    assert got == list(range(1, 15))


async def test_resume_replays_from_the_store_then_live_without_gap_or_duplicate(
    store: Store,
) -> None:
    log = await log_on(store, page=2)  # small pages: the replay crosses page boundaries
    for i, d in enumerate("ababab"):
        await log.publish([raised(d, T + i)])
    log = await log_on(store, page=2)  # a restarted service numbers on from the store
    assert log.last_event_id == 6
    async with log.hub.subscribe(EventFilter.of(["a"]), since=1) as sub:
        await log.publish([raised("a", 2e9), raised("b", 2e9 + 1)])
        got = [e["event_id"] for e in await drain(sub, 3)]
    assert got == [3, 5, 7] and sub.resume_id == 7


async def test_filters_by_kind_and_minimum_severity(store: Store) -> None:
    log = await log_on(store)
    hub = log.hub
    async with (
        hub.subscribe(EventFilter.of(kinds=["threshold"])) as by_kind,
        hub.subscribe(EventFilter.of(min_severity="critical")) as by_sev,
    ):
        await log.publish(
            [raised("a"), raised("b", kind="threshold"), raised("c", severity="critical")]
        )
        assert [e["device_id"] for e in await drain(by_kind, 1)] == ["b"]
        assert by_kind.queue.empty()
        assert [e["device_id"] for e in await drain(by_sev, 1)] == ["c"] and by_sev.queue.empty()
    async with hub.subscribe(EventFilter.of(min_severity="critical"), since=0) as sub:
        assert [e["device_id"] for e in await drain(sub, 1)] == ["c"]


async def test_a_minimum_severity_is_judged_on_the_alerts_peak_live_replayed_and_restarted(
    store: Store,
) -> None:
    """A critical alert de-escalated to warning, then resolved: a ``min_severity=critical``
    subscriber gets all three events (it got only the raise: a tester), live and
    replayed alike; a warning alert that never was critical stays out. The hub forgets an
    alert's peak at its resolution, and a restarted hub learns the open alerts' peaks from
    the store."""
    log = await log_on(store)
    hub = log.hub
    crit = raised("c", severity="critical")
    down = crit.with_(type=EventType.UPDATED, severity=Severity.WARNING, reason="de-escalated")
    end = down.with_(type=EventType.RESOLVED, state=AlertState.RESOLVED, reason="all clear")
    flt = EventFilter.of(min_severity="critical")
    async with hub.subscribe(flt) as live:
        await log.publish([crit, raised("w")])
        await log.publish([down])
        assert hub.peaks == {crit.alert_id: Severity.CRITICAL, "w-" + str(T): Severity.WARNING}
        await log.publish([end])
        got = [(e["device_id"], e["type"]) for e in await drain(live, 3)]
        assert live.queue.empty()
    assert got == [("c", "alert.raised"), ("c", "alert.updated"), ("c", "alert.resolved")]
    assert hub.peaks == {"w-" + str(T): Severity.WARNING}  # c resolved: forgotten
    async with hub.subscribe(flt, since=0) as replayed:
        assert [(e["device_id"], e["type"]) for e in await drain(replayed, 3)] == got
    # a restart while a critical alert is open: the new hub knows its peak
    crit2 = raised("d", severity="critical")
    await log.publish([crit2])
    log = await log_on(store)
    assert log.hub.peaks[crit2.alert_id] == Severity.CRITICAL
    assert crit.alert_id not in log.hub.peaks
    async with log.hub.subscribe(flt) as sub:
        [e] = await log.publish([crit2.with_(type=EventType.UPDATED, severity=Severity.WARNING)])
        assert [x["event_id"] for x in await drain(sub, 1)] == [e["event_id"]]


async def test_silenced_events_are_stored_flagged_without_deliveries(store: Store) -> None:
    silences = Silences([Silence("s1", T, T + 3600, "service", "ann", T, device="kitchen-*")])
    log = await log_on(store, silences=silences, urls=("http://hook",))
    async with (
        log.hub.subscribe() as plain,
        log.hub.subscribe(EventFilter.of(include_silenced=True)) as everything,
    ):
        await log.publish([raised("kitchen-01"), raised("hall-01")])
        assert [e["device_id"] for e in await drain(everything, 2)] == ["kitchen-01", "hall-01"]
        assert [e["device_id"] for e in await drain(plain, 1)] == ["hall-01"]
    stored = await store.events_after(0)
    assert [(e["device_id"], e["silenced"]) for e in stored] == [
        ("kitchen-01", True),
        ("hall-01", False),
    ]
    deliveries = await store.deliveries.list(limit=10)
    assert [d["event_id"] for d in deliveries] == [2]  # none for the silenced event
    assert (await store.get_alert(f"kitchen-01-{T}") or {})["silenced"] is True


async def test_a_failed_write_is_retried_and_nothing_is_pushed_before_it_lands(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = await log_on(store)
    real, calls = store.append, []

    async def flaky(*args: object, **kwargs: object) -> list[int]:
        calls.append(1)
        assert log.hub.last_event_id == 0  # nothing fanned out while the write is failing
        if len(calls) < 3:
            raise OSError("disk full")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "append", flaky)
    async with log.hub.subscribe() as sub:
        [e] = await log.publish([raised("a")])
        assert sub.queue.qsize() == 1
    assert len(calls) == 3 and log.write_failures == 2 and e["event_id"] == 1
    assert [x["event_id"] for x in await store.events_after(0)] == [1]


async def test_a_permanent_store_error_is_raised_not_retried_forever(store: Store) -> None:
    log = await log_on(store)
    first = raised("a")
    await log.publish([first])
    with pytest.raises(IntegrityError):  # the same alert_id raised twice: a bug, not an outage
        await log.publish([first])
    assert log.write_failures == 1 and log.last_event_id == 1
    assert [e["event_id"] for e in await store.events_after(0)] == [1]  # rolled back whole


async def test_a_burst_of_events_reaches_a_subscriber_in_a_few_loop_turns() -> None:
    """The fan-out wakes a waiting subscriber for the loop's next turn, and events queued
    together are then sent one after another in that turn: a send wrapped in
    ``asyncio.wait_for`` ran as a task of its own, so each queued event cost the loop extra
    turns (a burst of 15 reached the subscriber over 0.1-0.4 s while ingestion kept the
    loop busy), and the wait for the first event took three turns (README Performance).
    The sender gives the loop a turn after every ``SENDS_PER_TURN`` (8) sends, so that 500
    subscribers do not hold it for a whole burst each (newcomer of 5 Dec)."""
    from app.routers.alerts import _send_events

    async def nothing(*_: Any) -> list[dict[str, Any]]:
        return []

    hub = Hub(queue_max=100, replay=nothing)
    sent: list[int] = []

    class Socket:
        async def send_text(self, text: str) -> None:
            sent.append(json.loads(text)["event_id"])

        async def close(self, **_: Any) -> None:
            pass

    async def valid() -> bool:
        return True

    burst = [
        {"event_id": i, "device_id": "d1", "kind": "leak", "severity": "warning"}
        for i in range(1, 21)
    ]
    async with hub.subscribe() as sub:
        sender = asyncio.create_task(_send_events(Socket(), sub, valid))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the sender waits for live events
        hub.fan_out(burst)
        for _ in range(4):  # the sender's turns: 8 sends a turn (SENDS_PER_TURN), one spare
            await asyncio.sleep(0)
        got = list(sent)
        sender.cancel()
        await asyncio.wait({sender}, timeout=5)  # wait_for could swallow the cancel (3.11)
    assert got == list(range(1, 21))


async def test_the_socket_of_a_subscriber_falling_behind_is_closed_with_its_resume_id() -> None:
    """The WebSocket sender closes a subscriber whose catch-up fell behind (events arrive
    faster than it takes them: 2 per frame sent) with 1013 and the ``since`` to resume
    with: the last id it sent. ``Hub.dropped`` counts it."""
    from app.routers.alerts import _send_events

    log: list[dict[str, Any]] = []

    async def replay(after: int, upto: int, f: EventFilter, limit: int) -> list[dict[str, Any]]:
        return [e for e in log if after < e["event_id"] <= upto][:limit]

    now = [0.0]

    def clock() -> float:
        now[0] += 0.5  # every look at the clock: half a second later
        return now[0]

    hub = Hub(queue_max=2, replay=replay, replay_page=2, behind_s=3.0, clock=clock)

    def publish(n: int) -> None:
        first = len(log) + 1
        events = [
            {"event_id": i, "device_id": "d1", "kind": "leak", "severity": "warning"}
            for i in range(first, first + n)
        ]
        log.extend(events)
        hub.fan_out(events)

    sent: list[int] = []
    closed: list[tuple[int, str]] = []

    class Socket:
        async def send_text(self, text: str) -> None:
            sent.append(json.loads(text)["event_id"])
            publish(2)  # two new events for every one it takes

        async def close(self, code: int, reason: str) -> None:
            closed.append((code, reason))

    async def valid() -> bool:
        return True

    async with hub.subscribe() as sub:
        publish(5)
        async with asyncio.timeout(5):
            await _send_events(Socket(), sub, valid, hub)  # type: ignore[arg-type]
    assert sub.ended == "behind" and sent == list(range(1, len(sent) + 1))
    assert closed == [(1013, f"falling behind; resume with since={sent[-1]}")]
    assert hub.dropped == 1 and hub.overflows == 1


async def test_a_stalled_since_0_subscriber_holds_one_small_page(store: Store) -> None:
    """A subscriber resuming with since=0 that takes one event and stops holds the page
    that event came from, no more: the page was 500 events, about 2.3 MB a non-reading
    /ws/alerts subscriber after 2,000 alarms (newcomer of 2 Dec: 200 such sockets took the
    server from 469 to 926 MB). The default page is 50, in the hub and in the settings."""
    from app.config import Settings

    assert Settings().replay_page == Hub(queue_max=1, replay=None).replay_page == 50  # type: ignore[arg-type]
    log = await log_on(store, page=Settings().replay_page)
    await log.publish([raised(f"d{i}") for i in range(300)])
    pages: list[int] = []
    replay = log.hub.replay

    async def counted(after: int, upto: int, f: EventFilter, limit: int) -> list[dict[str, Any]]:
        page = await replay(after, upto, f, limit)
        pages.append(len(page))
        return page

    log.hub.replay = counted
    async with log.hub.subscribe(since=0) as sub:
        it = sub.__aiter__()
        first = await anext(it)
        assert first["event_id"] == 1 and pages == [50]
        await it.aclose()
