"""The MQTT ingress' pure parts: broker URLs, the redelivery memory, the alert outbox's
fall back to the store when it overflows (no event lost, none published twice)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.config import Settings
from app.schemas.readings import Reading
from app.services.mqtt import AlertOutbox, Broker, RecentReadings


def test_broker_url_and_credentials() -> None:
    b = Broker.parse("mqtts://broker.example", None, None)
    assert (b.host, b.port, b.tls) == ("broker.example", 8883, True)
    b = Broker.parse("mqtt://u:p@10.0.0.2:1884", "svc", "secret")
    assert (b.port, b.username, b.password, str(b)) == (
        1884,
        "svc",
        "secret",
        "mqtt://10.0.0.2:1884",
    )
    assert Broker.parse("mqtt://u:p@h", None, None).password == "p"
    with pytest.raises(ValueError, match="mqtt://host"):
        Broker.parse("http://h", None, None)


def test_settings_refuse_a_bad_mqtt_url_and_take_empty_as_none() -> None:
    with pytest.raises(ValueError, match="mqtt_url"):
        Settings(mqtt_url="tcp://broker")
    with pytest.raises(ValueError, match="mqtt_url"):
        Settings(mqtt_url="mqtt://broker:notaport")
    assert Settings(mqtt_url="").mqtt_url is None


def _r(ts: float | None, gas: float = 400.0, device: str = "d") -> Reading:
    return Reading(device_id=device, ts=ts, gas_ppm=gas, temperature_c=20.0, humidity_pct=40.0)


def test_recent_readings_match_device_ts_and_values_only() -> None:
    recent = RecentReadings(3)
    recent.add([_r(1.6e9), _r(1.6e9 + 1), _r(None)])
    assert recent.seen(_r(1.6e9))
    assert not recent.seen(_r(1.6e9, gas=401.0))  # same ts, other value: a distinct reading
    assert not recent.seen(_r(1.6e9, device="e"))
    assert not recent.seen(_r(None))  # no ts: stamped on receipt, never a known redelivery
    recent.add([_r(1.6e9 + 2), _r(1.6e9 + 3)])  # the oldest goes
    assert not recent.seen(_r(1.6e9)) and recent.seen(_r(1.6e9 + 3))
    off = RecentReadings(0)
    off.add([_r(1.6e9)])
    assert not off.seen(_r(1.6e9))


def _ev(i: int, silenced: bool = False) -> dict[str, Any]:
    return {"event_id": i, "device_id": "d", "silenced": silenced}


async def _drain(box: AlertOutbox, published: list[int]) -> None:
    while True:
        for e in await asyncio.wait_for(box.next_batch(), 1):
            if e["event_id"] > box.cursor:
                published.append(e["event_id"])
                box.done(e)


async def test_outbox_falls_back_to_the_store_and_publishes_each_event_once() -> None:
    store: list[dict[str, Any]] = []
    reads = []

    async def read(after: int) -> list[dict[str, Any]]:
        reads.append(after)
        return [e for e in store if e["event_id"] > after and not e["silenced"]][:2]

    box = AlertOutbox(read, cursor=0, max_events=3)
    published: list[int] = []

    def commit(*ids: int, silenced: bool = False) -> None:
        events = [_ev(i, silenced) for i in ids]
        store.extend(events)  # stored first, then the listener is told, as in EventLog
        box.notify(events)

    commit(1, 2)
    commit(3, silenced=True)  # left out, as /ws/alerts leaves it out
    commit(4, 5, 6)  # 2 + 3 > 3: the queue is dropped, the store read instead
    assert box.overflowed and box.overflows == 1
    drain = asyncio.create_task(_drain(box, published))
    await asyncio.sleep(0.05)
    commit(7)  # queued again once the outbox has caught up
    await asyncio.sleep(0.05)
    drain.cancel()
    assert published == [1, 2, 4, 5, 6, 7]
    assert reads[0] == 0 and not box.overflowed
