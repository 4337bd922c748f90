"""MQTT ingress end to end: a real Mosquitto broker (deploy/mosquitto/acl, password file),
a real uvicorn server subscribed to it, real MQTT clients as gateway and operator.

Readings published at QoS 1 are stored; a redelivery is dropped and a distinct reading with
the same ``ts`` is not; bad payloads get an error reply naming the field; alerts arrive on
``gasleak/alerts/<id>``; the ACL keeps a gateway to its own topics; the link comes back
after the broker restarts, with the alert raised meanwhile; and the gas-fire slice raises
the same alerts over MQTT as over REST.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
import httpx
import pytest

from tests.conftest import LiveServer, needs_data, start_server, stop_server
from tests.e2e.mosquitto import USERS, Mosquitto, mosquitto  # noqa: F401 (fixture)
from tests.e2e.test_real_replay import FIRE, T0, as_readings, load_rows


def mqtt_env(broker: Mosquitto, **extra: str) -> dict[str, str]:
    """Server settings for the broker, as the service's own user."""
    return {
        "GASLEAK_MQTT_URL": broker.url,
        "GASLEAK_MQTT_USERNAME": "gasleak",
        "GASLEAK_MQTT_PASSWORD": USERS["gasleak"],
        **extra,
    }


@asynccontextmanager
async def client(
    broker: Mosquitto, user: str, *, topics: tuple[str, ...] = (), session: str | None = None
) -> AsyncIterator[tuple[aiomqtt.Client, list[tuple[str, dict[str, Any]]]]]:
    """A connected client as ``user``; messages on ``topics`` (QoS 1) collect in the list.
    ``session`` names a persistent session (kept by the broker across reconnects)."""
    got: list[tuple[str, dict[str, Any]]] = []
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=USERS[user],
        identifier=session,
        clean_session=False if session else None,
    ) as c:
        for t in topics:
            await c.subscribe(t, qos=1)

        async def collect() -> None:
            async for m in c.messages:
                assert isinstance(m.payload, bytes)
                got.append((m.topic.value, json.loads(m.payload)))

        task = asyncio.create_task(collect())
        try:
            yield c, got
        finally:
            task.cancel()


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def ready(http: httpx.AsyncClient, want: bool = True) -> dict[str, Any] | None:
    """/readyz when its MQTT check says ``want``, else None."""
    r = await http.get("/readyz")
    body: dict[str, Any] = r.json()
    mqtt = body["checks"].get("mqtt")
    return body if mqtt is not None and mqtt["ok"] is want else None


async def seen(http: httpx.AsyncClient, device: str) -> int:
    """The device's readings_seen (0 when unknown)."""
    r = await http.get(f"/api/devices/{device}")
    return int(r.json().get("readings_seen") or 0) if r.status_code == 200 else 0


def pub(reading: dict[str, Any]) -> bytes:
    return json.dumps(reading).encode()


@pytest.fixture
def server(mosquitto: Mosquitto) -> Any:  # noqa: F811
    """A server on the broker with the safety rules only (no model: starts fast)."""
    s = start_server(mqtt_env(mosquitto, GASLEAK_MODEL_ENABLED="false"))
    yield s
    stop_server(s)


def test_mqtt_ingest_dedupe_errors_alerts_acl(mosquitto: Mosquitto, server: LiveServer) -> None:  # noqa: F811
    asyncio.run(_ingest_scenario(mosquitto, server))


async def _ingest_scenario(broker: Mosquitto, server: LiveServer) -> None:
    one = {"ts": T0, "gas_ppm": 420.0, "temperature_c": 21.0, "humidity_pct": 45.0}
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=10, headers=server.headers) as http,
        client(broker, "ops", topics=("gasleak/alerts/+", "gasleak/errors/+")) as (_, ops),
        client(broker, "dev-1") as (gw, _),
    ):
        body = await until(lambda: ready(http), "/readyz with the MQTT link up")
        assert body["ready"] and "connected to" in body["checks"]["mqtt"]["detail"]

        # a reading without device_id (the topic names it) is stored
        await gw.publish("gasleak/readings/dev-1", pub(one), qos=1)
        await until(lambda: seen(http, "dev-1"), "the first reading")
        # the same reading again (a QoS 1 redelivery) is dropped; the same ts with another
        # value is a distinct reading and is kept, as over REST
        await gw.publish("gasleak/readings/dev-1", pub(one), qos=1)
        await gw.publish("gasleak/readings/dev-1", pub({**one, "gas_ppm": 421.0}), qos=1)
        assert await until(lambda: _is(seen(http, "dev-1"), 2), "the distinct reading") == 2
        mqtt = (await http.get("/api/status")).json()["mqtt"]
        assert mqtt["duplicates"] == 1 and mqtt["messages"] == 3, mqtt
        assert (await seen(http, "dev-1")) == 2

        # bad payloads: an error reply on gasleak/errors/dev-1 naming the field
        bad = [
            {**one, "ts": T0 + 1, "gas_ppm": "lots"},  # a string where a number belongs
            {**one, "ts": T0 + 1, "device_id": "dev-2"},  # another device than the topic's
            [{**one, "ts": T0 + 1}, {**one, "ts": T0 + 2, "humidity_pct": "wet"}],
        ]
        for b in bad:
            await gw.publish("gasleak/readings/dev-1", pub(b), qos=1)  # type: ignore[arg-type]
        await gw.publish("gasleak/readings/dev-1", b"{not json", qos=1)
        # a repeated key is refused by name, as over REST (it was stored with the last value)
        dup = (
            b'{"ts": %d, "gas_ppm": 400, "gas_ppm": 20000, "temperature_c": 21, '
            b'"humidity_pct": 45}' % (T0 + 1)
        )
        await gw.publish("gasleak/readings/dev-1", dup, qos=1)

        def replies(n: int) -> list[dict[str, Any]] | None:
            got = [m for t, m in ops if t == "gasleak/errors/dev-1"]
            return got if len(got) >= n else None

        errors = await until(lambda: replies(5), "five error replies")
        assert errors[0]["error"] == "invalid_body"
        assert errors[0]["detail"][0]["field"] == "gas_ppm"
        assert errors[1]["detail"][0]["field"] == "device_id"
        assert errors[1]["detail"][0]["type"] == "topic_mismatch"
        assert errors[2]["accepted"] == 1
        assert errors[2]["rejected"][0]["index"] == 1
        assert errors[2]["rejected"][0]["errors"][0]["field"] == "humidity_pct"
        assert errors[3]["detail"][0]["field"] == "(body)"
        assert "not valid JSON" in errors[3]["detail"][0]["reason"]
        assert errors[4]["detail"][0]["field"] == "gas_ppm"
        assert errors[4]["detail"][0]["type"] == "duplicate_key"
        # a failed T/RH probe (-45 °C): accepted for its gas, the reply's warnings name the
        # field on the errors topic, which counts no bad message
        await gw.publish(
            "gasleak/readings/dev-1", pub({**one, "ts": T0 + 2.5, "temperature_c": -45.0}), qos=1
        )

        errors = await until(lambda: replies(6), "the warnings reply")
        assert errors[5]["accepted"] == 1 and errors[5]["rejected"] == [], errors[5]
        assert errors[5]["warnings"][0]["warnings"][0]["field"] == "temperature_c"
        status = (await http.get("/api/status")).json()
        assert status["mqtt"]["bad_messages"] == 5, status["mqtt"]
        metrics = (await http.get("/metrics")).text
        assert "gasleak_mqtt_bad_messages_total 5.0" in metrics
        assert "gasleak_mqtt_duplicates_total 1.0" in metrics
        assert "gasleak_mqtt_connected 1.0" in metrics

        # a reading over the high set point: the stored alert event is published
        await gw.publish(
            "gasleak/readings/dev-1", pub({**one, "ts": T0 + 3, "gas_ppm": 20_000.0}), qos=1
        )
        # (the readings refused for their gas and the -45 °C raised dev-1's sensor_fault)
        alerts = await until(
            lambda: [m for t, m in ops if t == "gasleak/alerts/dev-1" and m["kind"] == "threshold"],
            "the alert on MQTT",
        )
        stored = (await http.get("/api/events", params={"device_id": "dev-1"})).json()["events"]
        stored = [e for e in stored if e["kind"] == "threshold"]
        assert alerts[0]["type"] == "alert.raised" and alerts[0]["kind"] == "threshold"
        assert alerts[0]["severity"] == "critical" and alerts[0]["gas_ppm"] == 20_000.0
        assert alerts[0]["event_id"] == stored[0]["event_id"]
        assert alerts[0]["alert_id"] == stored[0]["alert_id"]

        # the ACL: dev-1 may not publish for dev-2 (dropped by the broker), nor read its
        # alerts; anonymous clients are refused
        await gw.publish("gasleak/readings/dev-2", pub({**one, "device_id": "dev-2"}), qos=1)
        await gw.publish("gasleak/readings/dev-1", pub({**one, "ts": T0 + 4}), qos=1)
        await until(lambda: _is(seen(http, "dev-1"), 6), "dev-1's last reading")
        assert (await http.get("/api/devices/dev-2")).status_code == 404
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port):
                pass


async def _is(value: Any, want: int) -> int | None:
    got = await value
    return got if got == want else None


def test_mqtt_reconnects_and_publishes_the_alert_raised_while_the_broker_was_away(
    mosquitto: Mosquitto,  # noqa: F811
    server: LiveServer,
) -> None:
    asyncio.run(_reconnect_scenario(mosquitto, server))


async def _reconnect_scenario(broker: Mosquitto, server: LiveServer) -> None:
    topics = ("gasleak/alerts/+",)
    async with httpx.AsyncClient(base_url=server.base, timeout=10, headers=server.headers) as http:
        await until(lambda: ready(http), "/readyz with the MQTT link up")
        async with client(broker, "ops", topics=topics, session="ops-panel"):
            pass  # the broker now keeps the panel's subscription and its QoS 1 messages
        broker.stop()
        body = await until(lambda: ready(http, False), "/readyz to report the link down")
        assert body["failing"] == ["mqtt"]
        # the service goes on: REST is answered at once and the alert is stored
        reading = {"device_id": "dev-9", "ts": T0, "gas_ppm": 20_000.0}
        reading |= {"temperature_c": 21.0, "humidity_pct": 45.0}
        r = await http.post("/api/readings", json=reading)
        assert r.json() == {"accepted": 1, "rejected": [], "warnings": []}
        events = (await http.get("/api/events")).json()["events"]
        assert [e["device_id"] for e in events] == ["dev-9"]
        broker.start()
        await until(lambda: ready(http), "/readyz after the broker is back")
        async with client(broker, "ops", session="ops-panel") as (_, got):
            alerts = await until(lambda: list(got), "the alert raised while away")
        assert alerts[0][0] == "gasleak/alerts/dev-9"
        assert alerts[0][1]["event_id"] == events[0]["event_id"]
        async with client(broker, "dev-1") as (gw, _):
            one = {"ts": T0, "gas_ppm": 420.0, "temperature_c": 21.0, "humidity_pct": 45.0}
            await gw.publish("gasleak/readings/dev-1", pub(one), qos=1)
            await until(lambda: seen(http, "dev-1"), "a reading after the reconnect")
        status = (await http.get("/api/status")).json()["mqtt"]
        assert status["connects"] >= 2 and status["connected"], status


def _alert_sequence(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each alert as (kind, opening reading time, its events' (type, severity, state,
    reason)), ordered by opening time then kind.

    The time of a later event of an alert is left out: the service's alerts depend on
    timing as well as data (the signal level is held once the alert opens, after scoring),
    and an unpaced run once put a leak's all clear one window later on one path. Raising is
    compared to the reading (the opening time). Model and rule events interleave by timing
    (scored later vs at once), not by data.
    """
    alerts: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for e in events:
        key = (e["kind"], e["episode"]["opened_at"])
        alerts.setdefault(key, []).append((e["type"], e["severity"], e["state"], e["reason"]))
    return sorted((opened, kind, tuple(seq)) for (kind, opened), seq in alerts.items())


@needs_data
@pytest.mark.slow
def test_mqtt_gateway_raises_the_same_alerts_as_rest_on_the_gas_fire(
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    rest = start_server()
    try:
        mqtt = start_server(mqtt_env(mosquitto))
        try:
            asyncio.run(_same_alerts(mosquitto, rest, mqtt))
        finally:
            stop_server(mqtt)
    finally:
        stop_server(rest)


async def _same_alerts(broker: Mosquitto, rest: LiveServer, mqtt: LiveServer) -> None:
    fire = as_readings("fire", load_rows(*FIRE))
    expected = len(fire) - 59  # windows: one per reading once the first 60 are in
    async with (
        httpx.AsyncClient(base_url=rest.base, timeout=30, headers=rest.headers) as a,
        httpx.AsyncClient(base_url=mqtt.base, timeout=30, headers=mqtt.headers) as b,
        client(broker, "ops", topics=("gasleak/alerts/+",)) as (_, published),
        client(broker, "fire") as (gw, _),
    ):
        await until(lambda: ready(b), "the MQTT link")
        # Chunk by chunk, each scored before the next, on both paths alike: a device's
        # signal level is held from when its leak alert opens (the sink, after scoring), so
        # how many readings were learned before that depends on timing, not only on data.
        for k in range(0, len(fire), 50):
            chunk, due = fire[k : k + 50], max(0, min(len(fire), k + 50) - 59)
            r = await a.post("/api/readings", json=chunk)
            assert r.json() == {"accepted": len(chunk), "rejected": [], "warnings": []}
            await until(lambda d=due: _scored(a, d), "REST windows scored", timeout=120)
            body = [{f: v for f, v in x.items() if f != "device_id"} for x in chunk]
            await gw.publish("gasleak/readings/fire", json.dumps(body).encode(), qos=1)
            await until(lambda d=due: _scored(b, d), "MQTT windows scored", timeout=120)
        sequences = []
        for http in (a, b):
            await until(lambda h=http: _scored(h, expected), "every window scored", timeout=120)
            await asyncio.sleep(0.5)
            events = (await http.get("/api/events", params={"limit": 1000})).json()["events"]
            sequences.append(events)
        await until(
            lambda: len([t for t, _ in published]) >= len(sequences[1]), "the published alerts"
        )
    ra, rb = (_alert_sequence(s) for s in sequences)
    assert ra == rb, (ra, rb)
    kinds = {(e["type"], e["kind"]) for e in sequences[0]}
    assert ("alert.raised", "leak") in kinds and ("alert.raised", "threshold") in kinds, kinds
    # and the MQTT server published every one of them on gasleak/alerts/fire
    assert [m["event_id"] for t, m in published if t == "gasleak/alerts/fire"] == [
        e["event_id"] for e in sequences[1]
    ]


async def _scored(http: httpx.AsyncClient, expected: int) -> bool:
    status = (await http.get("/api/status")).json()
    assert status["readings_rejected"] == 0, status
    return bool(status["windows_scored"] >= expected)
