"""Hub over a real SQLite store: written before fan-out, bounded queues, filters, resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from app.services.hub import AlertHub
from app.store import Store


def body(device: str, ts: float = 1.7e9, severity: str = "warning", kind: str = "leak") -> dict:
    return {"type": "alert.raised", "alert_id": f"{device}-{ts}", "device_id": device,
            "kind": kind, "severity": severity, "state": "active", "probability": 0.8,
            "ts": ts, "model_type": "m"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await s.migrate()
    yield s
    await s.close()


async def hub_on(store: Store, queue_max: int = 10, page: int = 500) -> AlertHub:
    hub = AlertHub(store=store, queue_max=queue_max, replay_page=page)
    await hub.start()
    return hub


async def test_event_is_in_the_store_when_a_subscriber_gets_it(store: Store) -> None:
    hub = await hub_on(store)
    seen_in_store = []

    def listener(events: list[dict]) -> None:  # called at fan-out time
        seen_in_store.append([e["event_id"] for e in events])

    hub.listeners.append(listener)
    async with hub.subscribe() as sub:
        [e] = await hub.publish([body("a", 1_767_225_600.0)])
        got = sub.queue.get_nowait()
    assert got == e and e["event_id"] == 1 and e["ts"] == "2026-01-01T00:00:00.000Z"
    assert await store.events_after(0) == [e]
    assert seen_in_store == [[1]]


async def test_slow_subscriber_overflows_alone(store: Store) -> None:
    hub = await hub_on(store, queue_max=2)
    async with hub.subscribe() as slow, hub.subscribe() as fast:
        got = []
        for i in range(5):
            await hub.publish([body("d", 1.7e9 + i)])
            got.append((await fast.queue.get())["event_id"])
        assert got == [1, 2, 3, 4, 5]
        assert slow.overflowed.is_set() and slow.queue.qsize() == 2
        assert not fast.overflowed.is_set()
        assert hub.overflows == 1
    assert hub.subscribers == 0


async def test_resume_replays_from_the_store_then_live_without_gap_or_duplicate(
    store: Store,
) -> None:
    hub = await hub_on(store, page=2)  # small pages: the replay crosses page boundaries
    for i, d in enumerate("ababab"):
        await hub.publish([body(d, 1.7e9 + i)])
    hub = await hub_on(store, page=2)  # a restarted service numbers on from the store
    assert hub.last_event_id == 6
    async with hub.subscribe(["a"], since=1) as sub:
        await hub.publish([body("a", 2e9), body("b", 2e9 + 1)])
        replayed = [e["event_id"] async for e in hub.replay(sub)]
        live = [sub.queue.get_nowait()["event_id"] for _ in range(sub.queue.qsize())]
    assert replayed == [3, 5] and live == [7]


async def test_filters_by_kind_and_minimum_severity(store: Store) -> None:
    hub = await hub_on(store)
    async with hub.subscribe(kinds=["threshold"]) as by_kind, \
            hub.subscribe(min_severity="critical") as by_sev:
        await hub.publish([body("a"), body("b", kind="threshold"),
                           body("c", severity="critical")])
        assert [by_kind.queue.get_nowait()["device_id"]] == ["b"] and by_kind.queue.empty()
        assert [by_sev.queue.get_nowait()["device_id"]] == ["c"] and by_sev.queue.empty()
    async with hub.subscribe(since=0, min_severity="critical") as sub:
        assert [e["device_id"] async for e in hub.replay(sub)] == ["c"]


async def test_a_failed_write_is_retried_and_nothing_is_pushed_before_it_lands(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = await hub_on(store)
    real, calls = store.append, []

    async def flaky(*args: object, **kwargs: object) -> list[int]:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("disk full")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "append", flaky)
    async with hub.subscribe() as sub:
        [e] = await hub.publish([body("a")])
        assert sub.queue.qsize() == 1
    assert len(calls) == 3 and hub.write_failures == 2 and e["event_id"] == 1


async def test_a_permanent_store_error_is_raised_not_retried_forever(store: Store) -> None:
    hub = await hub_on(store)
    first = body("a")
    await hub.publish([first])
    with pytest.raises(IntegrityError):  # the same alert_id raised twice: a bug, not an outage
        await hub.publish([first])
    assert hub.write_failures == 1 and hub.last_event_id == 1
    assert [e["event_id"] for e in await store.events_after(0)] == [1]  # rolled back whole
