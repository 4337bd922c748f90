"""The store on SQLite and PostgreSQL: events, alert projection, policy state, deliveries,
readings history, and ids that keep increasing across reopenings."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.alerting.events import Ack, AlertEvent, AlertState, EventType, Kind, Severity
from app.store import Store

T0 = 1_767_225_600.0


def ev(
    type_: str,
    alert: str = "a1",
    device: str = "d1",
    severity: str = "warning",
    state: str = "active",
    ts: float = T0,
    kind: str = "leak",
    ack: dict | None = None,
    reason: str | None = None,
    silenced: bool = False,
) -> tuple[AlertEvent, dict[str, Any]]:
    e = AlertEvent(
        type=EventType(type_),
        alert_id=alert,
        device_id=device,
        kind=Kind(kind),
        severity=Severity(severity),
        state=AlertState(state),
        ts=ts,
        probability=0.8,
        gas_ppm=900.0,
        reason=reason,
        ack=None if ack is None else Ack(**ack),
        silenced=silenced,
    )
    return e, e.to_wire(published_at=T0)


async def test_events_get_increasing_ids_and_project_onto_the_alert(store: Store) -> None:
    ids = await store.append(
        [ev("alert.raised"), ev("alert.updated", severity="critical")], states={}, now=T0
    )
    assert ids == [1, 2]
    ack = {"author": "ann", "comment": "on it"}
    ids += await store.append(
        [ev("alert.acknowledged", severity="critical", state="acknowledged", ack=ack, ts=T0 + 5)],
        states={},
        now=T0,
    )
    ids += await store.append(
        [ev("alert.resolved", severity="critical", state="resolved", ts=T0 + 9)], states={}, now=T0
    )
    assert ids == [1, 2, 3, 4]
    a = await store.get_alert("a1")
    assert a is not None
    assert (a["state"], a["severity"], a["ack_author"], a["ack_comment"]) == (
        "resolved",
        "critical",
        "ann",
        "on it",
    )
    assert (a["opened_ts"], a["ack_at"], a["resolved_ts"], a["last_event_id"]) == (
        T0,
        T0 + 5,
        T0 + 9,
        4,
    )
    events = await store.events_of_alert("a1")
    assert [e["event_id"] for e in events] == [1, 2, 3, 4]
    assert events[2]["ack"] == ack and events[0] == {"event_id": 1, **ev("alert.raised")[1]}
    assert await store.get_alert("nope") is None


async def test_event_ids_keep_increasing_after_reopen(db_url: str) -> None:
    s = Store(db_url)
    await s.migrate()
    await s.append([ev("alert.raised")], states={}, now=T0)
    await s.close()
    s = Store(db_url)
    await s.migrate()  # idempotent on an up-to-date schema
    assert await s.last_event_id() == 1
    assert await s.append([ev("alert.raised", alert="a2")], states={}, now=T0) == [2]
    await s.close()


async def test_events_after_filters_and_bounds(store: Store) -> None:
    await store.append(
        [
            ev("alert.raised", alert="a", device="x"),
            ev("alert.raised", alert="b", device="y", severity="critical"),
            ev("alert.raised", alert="c", device="x", kind="threshold"),
            ev("alert.resolved", alert="a", device="x", state="resolved"),
        ],
        states={},
        now=T0,
    )
    ids = lambda es: [e["event_id"] for e in es]  # noqa: E731
    assert ids(await store.events_after(0)) == [1, 2, 3, 4]
    assert ids(await store.events_after(1, upto=3)) == [2, 3]
    assert ids(await store.events_after(0, device_ids=["x"])) == [1, 3, 4]
    assert ids(await store.events_after(0, kinds=["threshold"])) == [3]
    assert ids(await store.events_after(0, min_severity="critical")) == [2]
    assert ids(await store.events_after(0, limit=2)) == [1, 2]


async def test_device_states_upsert_and_delete_in_the_event_transaction(store: Store) -> None:
    await store.append(
        [],
        states={
            "leak": {"d1": {"high_run": 2}, "d2": {"high_run": 1}},
            "safety": {"d1": {"threshold": {"alert_id": "t"}}},
        },
        now=T0,
    )
    await store.append(
        [],
        states={
            "leak": {"d1": {"high_run": 3, "alert_id": "a"}, "d2": None},
            "safety": {"d1": None},
        },
        now=T0,
    )
    assert await store.states("leak") == {"d1": {"high_run": 3, "alert_id": "a"}}
    assert await store.states("safety") == {}


async def test_list_alerts_filters_and_cursor(store: Store) -> None:
    for i in range(5):
        await store.append(
            [
                ev(
                    "alert.raised",
                    alert=f"a{i}",
                    device=f"d{i % 2}",
                    severity="critical" if i == 4 else "warning",
                    ts=T0 + i,
                )
            ],
            states={},
            now=T0,
        )
    await store.append(
        [ev("alert.resolved", alert="a0", device="d0", state="resolved")], states={}, now=T0
    )
    page1 = await store.list_alerts(limit=2)
    assert [a["alert_id"] for a in page1] == ["a4", "a3"]
    page2 = await store.list_alerts(limit=2, before_seq=page1[-1]["seq"])
    assert [a["alert_id"] for a in page2] == ["a2", "a1"]
    assert [a["alert_id"] for a in await store.list_alerts(device_ids=["d0"])] == ["a4", "a2", "a0"]
    assert [a["alert_id"] for a in await store.list_alerts(states=["resolved"])] == ["a0"]
    assert [a["alert_id"] for a in await store.list_alerts(severities=["critical"])] == ["a4"]
    got = await store.list_alerts(opened_from=T0 + 1, opened_to=T0 + 3)
    assert [a["alert_id"] for a in got] == ["a2", "a1"]


async def test_deliveries_are_created_with_the_event_and_track_attempts(store: Store) -> None:
    urls = ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]
    await store.append(
        [ev("alert.raised"), ev("alert.updated"), ev("alert.updated", silenced=True)],
        states={},
        now=T0,
        webhook_urls=urls,
    )  # a silenced event gets no delivery
    pending = await store.deliveries.pending(urls[0])
    assert [p["event_id"] for p in pending] == [1, 2]
    assert pending[0]["event"]["type"] == "alert.raised"
    d = pending[0]["delivery_id"]
    await store.deliveries.record_attempt(
        d, status="pending", now=T0 + 1, http_status=503, error="HTTP 503", next_attempt_at=T0 + 3
    )
    await store.deliveries.record_attempt(
        d, status="delivered", now=T0 + 3, http_status=200, error=None
    )
    row = (await store.deliveries.list(event_id=1, url=urls[0]))[0]
    assert (row["status"], row["attempts"], row["last_status"], row["delivered_at"]) == (
        "delivered",
        2,
        200,
        T0 + 3,
    )
    assert [p["event_id"] for p in await store.deliveries.pending(urls[0])] == [2]
    assert await store.deliveries.counts() == {
        urls[0]: {"delivered": 1, "pending": 1},
        urls[1]: {"pending": 2},
    }


async def test_readings_history_downsamples_and_prunes(store: Store) -> None:
    now = time.time()
    rows = [("d", now - 100 + i, float(i), 20.0, 50.0) for i in range(100)]
    rows += [("other", now - 50, 1e6, 20.0, 50.0), ("d", now - 10 * 86400, 7.0, 20.0, 50.0)]
    await store.readings.add(rows)
    pts = await store.readings.history("d", start=now - 100, end=now, bucket_s=10)
    assert [p["bucket"] for p in pts] == list(range(10))
    assert [p["n"] for p in pts] == [10] * 10
    assert pts[0]["gas_mean"] == 4.5 and pts[0]["gas_min"] == 0 and pts[9]["gas_max"] == 99
    assert await store.readings.prune(now - 86400) == 1
    assert await store.readings.history("d", start=0, end=now - 200, bucket_s=60) == []


async def test_open_alerts_and_due_reminders(store: Store) -> None:
    await store.append(
        [
            ev("alert.raised", alert="l", kind="leak"),
            ev("alert.raised", alert="t", kind="threshold", severity="critical"),
            ev("alert.raised", alert="f", kind="sensor_fault", reason="stuck"),
            ev("alert.raised", alert="g", kind="sensor_fault", reason="silent"),
            ev("alert.resolved", alert="g", kind="sensor_fault", state="resolved"),
        ],
        states={},
        now=T0,
    )
    got = sorted(await store.open_alerts(), key=lambda a: a["alert_id"])
    assert [(a["alert_id"], a["kind"], a["severity"]) for a in got] == [
        ("f", "sensor_fault", "warning"),
        ("l", "leak", "warning"),
        ("t", "threshold", "critical"),
    ]
    assert await store.due_reminders(notified_before=T0 - 1) == []
    assert [a["alert_id"] for a in await store.due_reminders(notified_before=T0)] == ["t"]
    await store.append(
        [ev("alert.reminder", alert="t", kind="threshold", severity="critical")],
        states={},
        now=T0 + 60,
    )
    assert await store.due_reminders(notified_before=T0 + 59) == []  # notified again at +60


class _States:
    """A state source with a prepared set of changed states (as AlertPolicy.take_dirty)."""

    def __init__(self) -> None:
        self.changed: dict[str, dict[str, Any] | None] = {}

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        out, self.changed = self.changed, {}
        return out


async def test_states_without_events_are_written_in_the_background(store: Store) -> None:
    """publish([]) returns before the commit (no caller waits for an fsync nobody needs);
    the states land soon after, and states changed meanwhile join that write."""
    from app.services.eventlog import EventLog
    from app.services.hub import Hub

    async def no_replay(*_: object) -> list[dict[str, Any]]:
        return []

    src = _States()
    log = EventLog(store=store, hub=Hub(queue_max=10, replay=no_replay), states={"leak": src})
    await log.start()
    async with store.write_lock:  # a writer in flight: the publish must not wait for it
        src.changed = {"d1": {"high_run": 1}}
        assert await log.publish([]) == []
        src.changed["d2"] = {"high_run": 2}
        assert await log.publish([]) == []
        assert await store.states("leak") == {}
    await log.flush_states()
    assert await store.states("leak") == {"d1": {"high_run": 1}, "d2": {"high_run": 2}}
    # an event still commits before publish returns, with the states changed before it
    src.changed = {"d1": None}
    [out] = await log.publish([ev("alert.raised", alert="x")[0]])
    assert out["event_id"] == 1 and await store.states("leak") == {"d2": {"high_run": 2}}


def test_an_in_memory_sqlite_store_is_refused_naming_the_fix() -> None:
    """The writer thread's connection and the readers' would each get their own empty
    in-memory database, so events written would never be read back."""
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        with pytest.raises(ValueError, match="SQLite file"):
            Store(url)
