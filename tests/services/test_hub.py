"""Fan-out: bounded queues, a full subscriber is cut off without delaying others, replay."""

from __future__ import annotations

from app.services.hub import AlertHub


def body(device: str, ts: float = 1.7e9) -> dict:
    return {"type": "alert.raised", "alert_id": "x", "device_id": device, "kind": "leak",
            "severity": "warning", "probability": 0.8, "ts": ts, "model_type": "m"}


async def test_slow_subscriber_overflows_alone() -> None:
    hub = AlertHub(queue_max=2, recent_max=100)
    async with hub.subscribe() as slow, hub.subscribe() as fast:
        got = []
        for i in range(5):
            hub.publish(body("d"))
            got.append((await fast.queue.get())["event_id"])
        assert got == [1, 2, 3, 4, 5]
        assert slow.overflowed.is_set() and slow.queue.qsize() == 2
        assert not fast.overflowed.is_set()
        assert hub.overflows == 1
    assert hub.subscribers == 0


async def test_filter_and_since_replay_without_gap_or_duplicate() -> None:
    hub = AlertHub(queue_max=10, recent_max=100)
    for d in "abab":
        hub.publish(body(d))
    async with hub.subscribe(["a"], since=1) as sub:
        hub.publish(body("a"))
        hub.publish(body("b"))
        ids = [sub.queue.get_nowait()["event_id"] for _ in range(sub.queue.qsize())]
    assert ids == [3, 5]


async def test_event_ids_increase_and_ts_is_rfc3339() -> None:
    hub = AlertHub(queue_max=10, recent_max=2)
    events = [hub.publish(body("a", 1_767_225_600.0)) for _ in range(3)]
    assert [e["event_id"] for e in events] == [1, 2, 3]
    assert events[0]["ts"] == "2026-01-01T00:00:00.000Z"
    assert [e["event_id"] for e in hub.recent] == [2, 3]
