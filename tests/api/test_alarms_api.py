"""Alarm management through the real app in process (store, lifespan, sweeps), with the
model switched off so only the safety rules raise: latching, silences, device profiles,
reminders, the silent-device sweep."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.alerting.profiles import DEFAULT_PROFILE
from app.alerting.safety import FAULTS
from app.config import Settings
from app.main import create_app
from app.schemas.devices import FaultCondition
from app.services.hub import EventFilter
from tests.conftest import SILENCE_END, auth_headers, reading

T0 = 1_767_225_600.0
Client = httpx.AsyncClient
HOOK = "http://127.0.0.1:9/hook"  # nobody listens: deliveries stay pending, which we count


@pytest.fixture
def make_client(tmp_path: Path) -> Callable[..., Any]:
    def make(**kw: Any) -> Any:
        settings = Settings(db_path=tmp_path / "a.db", model_enabled=False, **kw)

        async def gen() -> AsyncIterator[Client]:
            app = create_app(settings)
            async with LifespanManager(app, startup_timeout=60) as m:
                transport = httpx.ASGITransport(app=m.app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://t", headers=auth_headers()
                ) as c:
                    c.gasleak = app.state.gasleak  # type: ignore[attr-defined]
                    yield c

        return gen()

    return make


async def post(c: Client, device: str, gases: list[float], t0: float = T0) -> None:
    r = await c.post(
        "/api/readings", json=[reading(device, t0 + i, g) for i, g in enumerate(gases)]
    )
    assert r.json()["rejected"] == [], r.text


async def events(c: Client, device: str) -> list[dict[str, Any]]:
    return (await c.get("/api/events", params={"device_id": device, "limit": 1000})).json()[
        "events"
    ]


async def test_critical_alarm_latches_until_acknowledged_with_the_model_off(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client():
        # two readings: one alone between clean ones is also a spike sensor_fault
        await post(c, "tank-1", [420.0 + i for i in range(70)] + [13_000.0] * 2 + [420.0] * 80)
        status = (await c.get("/api/status")).json()
        assert status["model_status"]["is_trained"] is False and status["windows_scored"] == 0
        evs = await events(c, "tank-1")
        assert [(e["type"], e["severity"], e["state"], e["reason"]) for e in evs] == [
            ("alert.raised", "critical", "active", "high"),
            ("alert.updated", "critical", "cleared_unacked", "cleared_unacked"),
        ]
        assert evs[1]["ts"] == "2026-01-01T00:02:12.000Z"  # 60 s off-delay after the clear
        assert evs[0]["model_type"] == "safety rules" and "12500" in evs[0]["detail"]
        aid = evs[0]["alert_id"]
        device = (await c.get("/api/devices/tank-1")).json()
        assert (device["alert_state"], device["alert_id"]) == ("cleared_unacked", aid)
        assert status["active_alerts"] == 1
        listed = (await c.get("/api/alerts", params={"state": "cleared_unacked"})).json()
        [alert] = listed["alerts"]
        assert alert["episode"]["peak_gas_ppm"] == 13_000.0
        assert alert["episode"]["peak_at"] == "2026-01-01T00:01:10.000Z"
        assert alert["episode"]["last_gas_ppm"] == 420.0
        r = await c.post(f"/api/alerts/{aid}/ack", json={"author": "ann", "comment": "vented"})
        assert r.status_code == 200 and r.json()["state"] == "resolved"
        assert [e["type"] for e in r.json()["events"]][-2:] == [
            "alert.acknowledged",
            "alert.resolved",
        ]
        assert (await c.get("/api/devices/tank-1")).json()["alert_state"] == "normal"


async def test_silence_on_a_glob_keeps_webhooks_quiet_but_stores_the_alert(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client(webhook_urls=[HOOK]):
        bad = await c.post(
            "/api/silences", json={"ends_at": SILENCE_END, "comment": "x", "author": "y"}
        )
        assert bad.status_code == 422  # no matcher: a silence of everything is refused
        for glob in ("*", "**", "?*", "[!~]*"):  # globs that match every device id: the same
            everything = {"device_id": glob, "ends_at": SILENCE_END}
            r = await c.post("/api/silences", json={**everything, "comment": "x", "author": "y"})
            assert r.status_code == 422 and "matches every id" in r.text, glob
        r = await c.post(
            "/api/silences",
            json={
                "device_id": "kitchen-*",
                "ends_at": SILENCE_END,
                "comment": "oven service",
                "author": "ann",
            },
        )
        assert r.status_code == 201 and r.json()["status"] == "active"
        sid = r.json()["silence_id"]
        await post(c, "kitchen-01", [6000.0, 6000.0])
        await post(c, "hall-01", [6000.0, 6000.0])
        [k] = await events(c, "kitchen-01")
        [h] = await events(c, "hall-01")
        assert (k["silenced"], h["silenced"]) == (True, False)
        deliveries = (await c.get("/api/webhooks/deliveries")).json()["deliveries"]
        assert [d["event_id"] for d in deliveries] == [h["event_id"]]
        [stored] = (await c.get("/api/alerts", params={"device_id": "kitchen-01"})).json()["alerts"]
        assert stored["silenced"] is True and stored["state"] == "active"
        gone = await c.delete(f"/api/silences/{sid}")
        assert gone.status_code == 200 and gone.json()["status"] == "expired"
        assert [s["status"] for s in (await c.get("/api/silences")).json()["silences"]] == [
            "expired"
        ]  # expired silences stay listed
        # the still-open alert raised during the silence is announced at once, and stored
        [_, told] = await events(c, "kitchen-01")
        assert (told["type"], told["reason"], told["silenced"]) == (
            "alert.updated",
            "silence_ended",
            False,
        )
        assert (told["alert_id"], told["state"]) == (k["alert_id"], "active")
        deliveries = (await c.get("/api/webhooks/deliveries")).json()["deliveries"]
        assert len(deliveries) == 2
        await post(c, "kitchen-01", [14_000.0], t0=T0 + 5)  # escalation, no longer silenced
        deliveries = (await c.get("/api/webhooks/deliveries")).json()["deliveries"]
        assert len(deliveries) == 3
        assert len(await events(c, "hall-01")) == 1  # never silenced: nothing to announce
        assert (await c.delete("/api/silences/nope")).status_code == 404
        # a second DELETE returns it as it is and records nothing (it was audited twice as
        # "silence.expire": README newcomer of 9 Dec)
        again = await c.delete(f"/api/silences/{sid}")
        assert again.status_code == 200 and again.json() == gone.json()
        audit = (await c.get("/api/audit", params={"action": "silence.expire"})).json()
        assert [e["target"] for e in audit["entries"]] == [sid], audit


async def test_an_alert_raised_in_a_silence_is_announced_when_it_expires(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client():
        ends = time.time() + 1.5
        r = await c.post(
            "/api/silences",
            json={
                "device_id": "attic-1",
                "ends_at": datetime.fromtimestamp(ends, UTC).isoformat(),
                "comment": "x",
                "author": "y",
            },
        )
        assert r.status_code == 201, r.text
        await post(c, "attic-1", [6000.0, 6000.0])
        async with asyncio.timeout(15):  # the sweep runs every second
            while len(evs := await events(c, "attic-1")) < 2:
                await asyncio.sleep(0.1)
        assert [(e["type"], e["reason"], e["silenced"]) for e in evs] == [
            ("alert.raised", "low", True),
            ("alert.updated", "silence_ended", False),
        ]


async def test_device_profiles_set_points_and_registry(make_client: Callable[..., Any]) -> None:
    async for c in make_client():
        r = await c.put(
            "/api/devices/propane-1",
            json={
                "name": "Boiler",
                "location": "Basement",
                "gas": "propane",
                "low_pct_lel": 5,
                "high_pct_lel": 15,
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["lel_ppm"] == 17_000.0 and r.json()["set_points_ppm"] == [850.0, 2550.0]
        bad = await c.patch("/api/devices/x-1", json={"low_pct_lel": 5})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "gas"
        assert (await c.put("/api/devices/x-1", json={"gas": "unobtainium"})).status_code == 422
        await post(c, "propane-1", [1000.0, 1000.0])
        await post(c, "methane-default", [1000.0])  # global 5,000 ppm set point: nothing
        [e] = await events(c, "propane-1")
        assert (e["kind"], e["severity"], e["gas_pct_lel"]) == ("threshold", "warning", 5.882)
        assert await events(c, "methane-default") == []
        page = (await c.get("/api/devices", params={"limit": 1})).json()
        assert page["total"] == 2 and [d["device_id"] for d in page["devices"]] == [
            "methane-default"
        ]  # registered by its first reading, default profile
        assert page["devices"][0]["profile"]["gas"] is None
        nxt = (await c.get("/api/devices", params={"cursor": page["next_cursor"]})).json()
        assert [d["device_id"] for d in nxt["devices"]] == ["propane-1"]
        hot = (await c.get("/api/devices", params={"state": "active", "kind": "threshold"})).json()
        assert [d["device_id"] for d in hot["devices"]] == ["propane-1"]
        assert hot["devices"][0]["gas_pct_lel"] == pytest.approx(100 * 1000 / 17_000)
        r = await c.patch(
            "/api/devices/propane-1",
            params={"reason": "sensor swap"},
            json={"name": "Boiler 2", "enabled": False},
        )
        assert (r.json()["profile"]["name"], r.json()["profile"]["gas"]) == ("Boiler 2", "propane")
        # switched off: its open alert is closed at once, naming who and why (not frozen)
        assert (r.json()["alert_state"], r.json()["alerts"]) == ("normal", [])
        [_, closed] = await events(c, "propane-1")
        assert (closed["type"], closed["reason"], closed["alert_id"]) == (
            "alert.resolved",
            "device_disabled",
            e["alert_id"],
        )
        assert (
            closed["detail"].startswith("device disabled by ") and "sensor swap" in closed["detail"]
        )
        await post(c, "propane-1", [3000.0], t0=T0 + 10)  # switched off: nothing new
        assert len(await events(c, "propane-1")) == 2
        [row] = (await c.get("/api/alerts", params={"device_id": "propane-1"})).json()["alerts"]
        assert row["state"] == "resolved"


async def test_a_counts_device_has_no_ppm_set_point_and_errors_name_the_field(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client():
        r = await c.put("/api/devices/adc-1", json={"unit": "counts"})
        assert r.status_code == 200, r.text
        view = r.json()
        assert (view["unit"], view["set_points"], view["set_points_ppm"]) == ("counts", None, None)
        # clean air in counts: no alarm; a 24-bit ADC's full scale is in range for counts
        await post(c, "adc-1", [6000.0, 20_000.0, 8_388_607.0])
        assert await events(c, "adc-1") == []
        assert (await c.put("/api/devices/mv-1", json={"unit": "mV"})).status_code == 200
        await post(c, "mv-1", [-250.0])  # a negative voltage is a mV reading
        r = await c.post("/api/readings", json=reading("mv-1", T0 + 1, -2e5))
        err = r.json()["detail"][0]
        assert r.status_code == 422 and (err["field"], err["type"]) == ("gas_ppm", "unit_range")
        assert "unit mV" in err["reason"] and "below -100,000" in err["reason"], err
        for body, field in (
            ({"unit": "counts", "low_pct_lel": 5}, "low_pct_lel"),
            ({"unit": "counts", "low_set_point": 100}, "high_set_point"),
            ({"unit": "%LEL", "high_set_point": 100, "low_set_point": 50}, "low_set_point"),
            ({"unit": "ppm", "low_set_point": 50}, "high_set_point"),
            (
                {"unit": "ppm", "gas": "methane", "low_pct_lel": 5, "low_set_point": 10},
                "low_pct_lel",
            ),
            ({"unit": "mV", "low_set_point": 9, "high_set_point": 5}, "low_set_point"),
        ):
            bad = await c.put("/api/devices/adc-2", json=body)
            assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == field, body
        bad = await c.put("/api/devices/adc-2", json={"unit": "mg/m3"})
        assert bad.status_code == 422 and "unit" in bad.text
        r = await c.patch("/api/devices/adc-1", json={"low_set_point": 3e4, "high_set_point": 4e4})
        assert r.json()["set_points"] == [30_000.0, 40_000.0], r.text
        await post(c, "adc-1", [35_000.0], t0=T0 + 5)
        [e] = await events(c, "adc-1")
        assert e["detail"] == "gas 35000 counts >= set point 30000 counts"
        # the event and the stored alert name the unit; gas_ppm is for ppm devices only
        assert (e["gas"], e["gas_unit"], e["gas_ppm"]) == (35_000.0, "counts", None)
        assert (e["episode"]["peak_gas"], e["episode"]["peak_gas_ppm"]) == (35_000.0, None)
        alert = (await c.get(f"/api/alerts/{e['alert_id']}")).json()
        assert (alert["gas"], alert["gas_unit"], alert["gas_ppm"]) == (35_000.0, "counts", None)
        r = await c.put("/api/devices/lel-1", json={"unit": "%LEL"})
        assert r.json()["set_points"] == [10.0, 25.0] and r.json()["set_points_ppm"] is None


async def test_a_raw_devices_threshold_alarm_clears_from_its_zero_through_the_app(
    make_client: Callable[..., Any],
) -> None:
    """A tester, live: a 16-bit ADC centred at 32,768 counts (``zero``) with set points
    36,045 / 40,960 counts: 37,000 for 10 s then clean air, and the warning was still
    active 30 min later (its clear limit, ``36,045 * 0.8``, lay under the zero); an mV device
    with set points -800 / -400 mV at a steady -700 mV was cleared and raised again every
    600 s (its limit, -640 mV, lay inside the alarm zone). The profile's zero reaches the
    rules: the ADC clears 60 s after the gas is back, the -700 mV warning stays one alarm."""
    async for c in make_client():
        adc = {"unit": "counts", "zero": 32768, "low_set_point": 36045, "high_set_point": 40960}
        assert (await c.put("/api/devices/adc", json=adc)).status_code == 200
        await post(c, "adc", [32_768.0] * 30 + [37_000.0] * 10 + [32_768.0] * 1800)
        evs = await events(c, "adc")
        assert [(e["type"], e["kind"], e["reason"]) for e in evs] == [
            ("alert.raised", "threshold", "low"),
            ("alert.resolved", "threshold", "all clear"),
        ]
        assert evs[1]["ts"] == "2026-01-01T00:01:40.000Z"  # T0 + 40 s + the 60 s off-delay
        assert evs[1]["detail"] == "gas below 35389.6 counts for 60 s"
        assert (await c.get("/api/devices/adc")).json()["alert_state"] == "normal"
        neg = {"unit": "mV", "low_set_point": -800, "high_set_point": -400}
        assert (await c.put("/api/devices/neg", json=neg)).status_code == 200
        await post(c, "neg", [-1_000.0] * 30 + [-700.0] * 1800)
        assert [(e["type"], e["reason"]) for e in await events(c, "neg")] == [
            ("alert.raised", "low")
        ]


async def test_a_unit_change_with_open_alerts_is_refused_unless_forced(
    make_client: Callable[..., Any],
) -> None:
    """Newcomer: a unit change with an alert open resolved a threshold warning as "all
    clear", relabelled its values with the new unit, dropped a held low-set-point reading,
    and kept the set points' numbers (counts 100/200 became 100/200 mV); set points outside
    the unit's range were accepted."""
    async for c in make_client():
        points = {"unit": "counts", "low_set_point": 100, "high_set_point": 200}
        for d in ("adc-8", "adc-9"):
            assert (await c.put(f"/api/devices/{d}", json=points)).status_code == 200
        await post(c, "adc-9", [20.0, 150.0, 160.0])  # a warning, confirmed
        await post(c, "adc-8", [20.0, 150.0])  # held: awaits its next reading
        [raised] = await events(c, "adc-9")
        # counts set points have no mV value: removed on purpose (else a 409 of its own)
        mv = {"unit": "mV", "low_set_point": None, "high_set_point": None}
        for d, named in (("adc-9", raised["alert_id"]), ("adc-8", "awaiting confirmation")):
            r = await c.patch(f"/api/devices/{d}", json=mv)
            assert r.status_code == 409, r.text
            err = r.json()["detail"][0]
            assert err["field"] == "unit" and named in err["reason"] and "counts" in err["reason"]
        view = (await c.get("/api/devices/adc-9")).json()
        assert (view["unit"], view["alert_state"]) == ("counts", "active")  # nothing changed
        r = await c.patch("/api/devices/adc-9", json=mv, params={"force": "true"})
        assert r.status_code == 200, r.text
        assert (r.json()["unit"], r.json()["set_points"], r.json()["alerts"]) == ("mV", None, [])
        [_, end] = await events(c, "adc-9")  # resolved in the unit it was raised in
        assert (end["type"], end["reason"], end["gas_unit"]) == (
            "alert.resolved",
            "unit_changed",
            "counts",
        )
        assert "from counts to mV" in end["detail"], end
        r = await c.patch("/api/devices/adc-8", json=mv, params={"force": "true"})
        held = await events(c, "adc-8")  # the held reading is raised, not dropped
        assert [(e["type"], e["reason"], e["gas"], e["gas_unit"]) for e in held] == [
            ("alert.raised", "low", 150.0, "counts"),
            ("alert.resolved", "unit_changed", 150.0, "counts"),
        ]
        # set points outside the unit's range: 422 naming the field, the unit and the range
        r = await c.patch("/api/devices/adc-9", json={"low_set_point": -2e5, "high_set_point": 5})
        err = r.json()["detail"][0]
        assert r.status_code == 422 and err["field"] == "low_set_point", r.text
        assert "unit mV" in err["reason"] and "[-100,000, 100,000] mV" in err["reason"], err
        # the new unit's set points may come with the change
        r = await c.patch(
            "/api/devices/adc-9",
            json={"unit": "counts", "low_set_point": 1000, "high_set_point": 2000},
        )
        assert r.json()["set_points"] == [1000.0, 2000.0], r.text
        # removing a raw device's set points leaves no rule to clear its threshold alarm
        # (it ended "all clear" at the next reading): the same 409 unless forced
        await post(c, "adc-9", [100.0, 1_500.0, 1_600.0], t0=T0 + 10)
        none = {"low_set_point": None, "high_set_point": None}
        r = await c.patch("/api/devices/adc-9", json=none)
        assert r.status_code == 409 and r.json()["detail"][0]["field"] == "low_set_point", r.text
        r = await c.patch("/api/devices/adc-9", json=none, params={"force": "true"})
        assert (r.status_code, r.json()["set_points"], r.json()["alerts"]) == (200, None, [])
        end = (await events(c, "adc-9"))[-1]
        assert (end["type"], end["reason"]) == ("alert.resolved", "set_points_removed"), end


async def test_a_prefixed_gateway_key_cannot_fill_the_device_cap(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client(max_devices=10, max_devices_per_key=3):
        made = await c.post(
            "/api/keys", json={"role": "gateway", "name": "gw-a", "device_prefix": "a-"}
        )
        assert made.status_code == 201, made.text
        gw = auth_headers(made.json()["key"])
        r = await c.post(
            "/api/readings", json=[reading(f"a-{i}", T0, 400.0) for i in range(5)], headers=gw
        )
        body = r.json()
        assert body["accepted"] == 3, body
        assert [(x["index"], x["errors"][0]["type"]) for x in body["rejected"]] == [
            (3, "key_device_quota"),
            (4, "key_device_quota"),
        ]
        await post(c, "b-1", [400.0])  # another key's new device still gets a buffer
        # dangerous gas from a device refused for the quota or the cap still raises the
        # threshold alarm at once (newcomer: 30,000 ppm refused as device_cap raised nothing)
        r = await c.post("/api/readings", json=[reading("a-9", T0 + 1, 30_000.0)], headers=gw)
        assert r.json()["rejected"][0]["errors"][0]["type"] == "key_device_quota"
        fill = [reading(f"b-{i}", T0 + 1, 400.0) for i in range(2, 8)]
        assert (await c.post("/api/readings", json=fill)).json()["accepted"] == 6  # cap: 10
        r = await c.post("/api/readings", json=[reading("c-9", T0 + 2, 30_000.0)])
        assert r.json()["rejected"][0]["errors"][0]["type"] == "device_cap"
        for dev, why in (("a-9", "device quota"), ("c-9", "device cap")):
            [e] = await events(c, dev)
            assert (e["type"], e["kind"], e["severity"]) == (
                "alert.raised",
                "threshold",
                "critical",
            )
            assert why in (e["detail"] or ""), e
        # readings stamped over 5 min ahead obey the same cap and quota (newcomer: 3,000 of
        # them registered 3,000 devices past both): a tracked device is let through, a new
        # one is refused with the cap's or the quota's error beside its ts error, is not
        # registered and gets no clock fault, but its dangerous gas still raises the alarm
        ahead = time.time() + 400
        r = await c.post(
            "/api/readings",
            json=[reading("a-0", ahead, 400.0), reading("a-5", ahead, 30_000.0)],
            headers=gw,
        )
        assert [[x["type"] for x in b["errors"]] for b in r.json()["rejected"]] == [
            ["value_error"],
            ["value_error", "key_device_quota"],
        ], r.text
        r = await c.post("/api/readings", json=[reading("c-5", ahead, 30_000.0)])
        assert [x["type"] for x in r.json()["rejected"][0]["errors"]] == [
            "value_error",
            "device_cap",
        ], r.text
        for dev, why in (("a-5", "device quota"), ("c-5", "device cap")):
            assert (await c.get(f"/api/devices/{dev}")).status_code == 404
            [e] = await events(c, dev)
            assert (e["kind"], e["severity"]) == ("threshold", "critical"), e
            assert why in e["detail"] and "ahead" in e["detail"], e
        [e] = await events(c, "a-0")  # tracked: its clock fault is raised
        assert (e["kind"], e["reason"]) == ("sensor_fault", "clock"), e


async def test_an_alarm_of_a_device_refused_under_the_cap_clears_with_its_clean_gas(
    make_client: Callable[..., Any],
) -> None:
    """A device refused under the device cap raised its critical alarm on 20,000 ppm, but its
    clean readings, refused too, never counted towards the all-clear: acknowledged, the
    alarm stayed open for good (newcomer of 2 Dec). They do now; a refused device without an
    alarm keeps no state."""
    async for c in make_client(max_devices=1, alert_off_delay_s=0.0):
        await post(c, "tracked", [420.0])
        r = await c.post(
            "/api/readings", json=[reading("capped", T0 + i, 20_000.0) for i in (1, 2)]
        )
        assert {x["errors"][0]["type"] for x in r.json()["rejected"]} == {"device_cap"}
        [raised] = await events(c, "capped")
        assert (raised["type"], raised["severity"]) == ("alert.raised", "critical")
        clean = [reading("capped", T0 + 3 + i, 420.0) for i in range(5)]
        assert (await c.post("/api/readings", json=clean)).json()["accepted"] == 0
        aid = raised["alert_id"]
        r = await c.post(f"/api/alerts/{aid}/ack", json={"author": "ann", "comment": "vented"})
        assert r.status_code == 200 and r.json()["state"] == "resolved", r.text
        assert [(e["type"], e["state"]) for e in await events(c, "capped")] == [
            ("alert.raised", "active"),
            ("alert.updated", "cleared_unacked"),
            ("alert.acknowledged", "acknowledged"),
            ("alert.resolved", "resolved"),
        ]
        await c.post("/api/readings", json=[reading("other", T0 + 9, 420.0)])
        assert await events(c, "other") == []


async def test_a_device_disabled_with_an_open_alert_before_is_closed_at_start_up(
    make_client: Callable[..., Any],
) -> None:
    async for c in make_client():
        await post(c, "old-1", [6000.0, 6000.0])
        # as the old code left it: disabled in the store, its alert still open
        await c.gasleak.store.devices.put(
            "old-1", {**DEFAULT_PROFILE.to_dict(), "enabled": False}, T0
        )
    async for c in make_client():
        [_, closed] = await events(c, "old-1")
        assert (closed["type"], closed["reason"]) == ("alert.resolved", "device_disabled")


async def test_reminders_repeat_until_acknowledged(make_client: Callable[..., Any]) -> None:
    async for c in make_client(reminder_interval_s=0.4, webhook_urls=[HOOK]):
        await post(c, "r-1", [20_000.0])
        await post(c, "r-2", [20_000.0])
        await c.post(
            "/api/silences",
            json={
                "device_id": "r-2",
                "ends_at": SILENCE_END,
                "comment": "x",
                "author": "y",
            },
        )
        async with asyncio.timeout(20):
            while len([e for e in await events(c, "r-1") if e["type"] == "alert.reminder"]) < 2:
                await asyncio.sleep(0.1)
        reminders = [e for e in await events(c, "r-1") if e["type"] == "alert.reminder"]
        assert reminders[0]["reason"] == "reminder" and reminders[0]["severity"] == "critical"
        sent = {
            d["event_id"]
            for d in (await c.get("/api/webhooks/deliveries", params={"limit": 1000})).json()[
                "deliveries"
            ]
        }
        assert {e["event_id"] for e in reminders} <= sent  # reminders go to webhooks too
        aid = (await events(c, "r-1"))[0]["alert_id"]
        await c.post(f"/api/alerts/{aid}/ack", json={"author": "ann"})
        n = len(await events(c, "r-1"))
        await asyncio.sleep(1.0)  # two more reminder periods
        assert len(await events(c, "r-1")) == n  # acknowledged: no more reminders
        assert [e["type"] for e in await events(c, "r-2")] == ["alert.raised"]  # silenced


async def test_silent_device_raises_its_fault_through_the_app(
    make_client: Callable[..., Any],
) -> None:
    """The silence sweep; and the set-point sweep: a device silent after one reading over
    the low set point (held for its next reading) has its warning raised, not dropped."""
    async for c in make_client(silent_s=0.4, threshold_confirm_max_s=0.2):
        await post(c, "quiet-1", [420.0])
        await post(c, "hot-1", [420.0, 6_000.0])
        async with asyncio.timeout(10):
            while not (evs := await events(c, "quiet-1")):
                await asyncio.sleep(0.05)
            while not (hot := [e for e in await events(c, "hot-1") if e["kind"] == "threshold"]):
                await asyncio.sleep(0.05)
        assert [(e["type"], e["kind"], e["reason"]) for e in evs] == [
            ("alert.raised", "sensor_fault", "silent")
        ]
        assert [(e["type"], e["reason"], e["ts"]) for e in hot] == [
            ("alert.raised", "low", "2026-01-01T00:00:01.000Z")
        ]
        waited = re.search(r"not confirmed: no reading for ([0-9.]+) s", hot[0]["detail"])
        assert waited and 0.2 <= float(waited[1]) < 10, hot[0]["detail"]  # the time it took


async def test_a_device_slower_than_the_silence_limit_is_silent_only_past_its_own_rhythm(
    make_client: Callable[..., Any],
) -> None:
    """Newcomer of 2 Dec: a device reporting every 320 s had ``silent`` raised at its first
    interval and open for good (one global ``silent_s``). A device is silent past 3 of its
    own intervals now (:data:`app.alerting.safety.SILENT_INTERVALS`): a 10-min device and
    a device waking every 15 min with 5 readings 1 s apart are not silent 0.4 s after
    their last reading, a 1 Hz device is."""
    async for c in make_client(silent_s=0.4):
        rows = [reading("slow-1", T0 + 600.0 * i, 420.0) for i in range(4)]
        rows += [
            reading("wake-1", T0 + 900.0 * b + i, 420.0 + i) for b in range(3) for i in range(5)
        ]
        rows += [reading("fast-1", T0 + i, 420.0 + i % 3) for i in range(5)]
        assert (await c.post("/api/readings", json=rows)).json()["rejected"] == []
        async with asyncio.timeout(10):
            while not await events(c, "fast-1"):
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # more sweeps (every 0.1 s): past 0.4 s, short of 1,800 s
        assert [(e["kind"], e["reason"]) for e in await events(c, "fast-1")] == [
            ("sensor_fault", "silent")
        ]
        assert await events(c, "slow-1") == []
        assert await events(c, "wake-1") == []


async def test_a_device_back_from_an_outage_keeps_its_own_silence_limit(
    make_client: Callable[..., Any],
) -> None:
    """Newcomer of 2 Dec: an outage confirmed one reading late (a backfill's jump rule,
    ``SignalStates.restart_at``) left the readings since it uncounted, so the outage passed
    for a reporting rhythm: a 1 Hz device back from a 10-min outage was found silent only
    after 3 x 10 min for its next 59 readings. Its limit is its own 1-s rhythm's now."""
    async for c in make_client(silent_s=0.4):
        rows = [reading("back-1", T0 + i, 420.0 + i % 3) for i in range(200)]
        rows += [reading("back-1", T0 + 799 + i, 420.0 + i % 3) for i in range(5)]
        assert (await c.post("/api/readings", json=rows)).json()["rejected"] == []
        async with asyncio.timeout(10):
            while not await events(c, "back-1"):
                await asyncio.sleep(0.05)
        assert [(e["kind"], e["reason"]) for e in await events(c, "back-1")] == [
            ("sensor_fault", "silent")
        ]


async def test_a_store_outage_while_registering_does_not_cost_readings_or_alerts(
    make_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    async for c in make_client():
        state = c.gasleak  # type: ignore[attr-defined]
        real, calls = state.store.devices.add, []

        async def down_once(ids: Any, now: float, calls: list = calls, real: Any = real) -> None:
            calls.append(list(ids))
            if len(calls) == 1:
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            await real(ids, now)

        monkeypatch.setattr(state.store.devices, "add", down_once)
        await post(c, "new-1", [6_000.0] * 2)  # registration fails: reading and alert still land
        assert [e["type"] for e in await events(c, "new-1")] == ["alert.raised"]
        assert (await c.get("/api/devices")).json()["total"] == 0
        await post(c, "new-1", [6_000.0], t0=T0 + 2)  # the next reading registers it
        assert calls == [["new-1"], ["new-1"]]
        assert [d["device_id"] for d in (await c.get("/api/devices")).json()["devices"]] == [
            "new-1"
        ]


async def test_a_glob_of_every_device_is_allowed_with_a_kind(
    make_client: Callable[..., Any],
) -> None:
    """Every device but one kind is what a kind alone already allows."""
    async for c in make_client():
        r = await c.post(
            "/api/silences",
            json={"device_id": "*", "kind": "leak", "ends_at": SILENCE_END}
            | {"comment": "x", "author": "y"},
        )
        assert r.status_code == 201 and r.json()["status"] == "active"


async def test_a_lel_devices_drifting_zero_is_stored_and_watched(
    make_client: Callable[..., Any],
) -> None:
    """Newcomer: a %LEL transmitter's readings of -0.1 %LEL (a drifting zero) were refused
    as unit_range, 9 % of them. NAMUR NE 43: accepted to -2.5 %LEL; below -1.25 %LEL an
    out_of_range sensor fault says to recalibrate; below -2.5 %LEL refused, naming why."""
    async for c in make_client():
        assert (await c.put("/api/devices/lel-2", json={"unit": "%LEL"})).status_code == 200
        await post(c, "lel-2", [0.0, -0.1, -0.2, -0.1])
        assert await events(c, "lel-2") == []  # a drifting zero is no fault
        r = await c.post("/api/readings", json=reading("lel-2", T0 + 4, -3.0))
        err = r.json()["detail"][0]
        assert r.status_code == 422 and (err["field"], err["type"]) == ("gas_ppm", "unit_range")
        assert "unit %LEL" in err["reason"] and "below -2.5" in err["reason"], err
        # refused, but its device reported: its out_of_range fault names the refusal
        [e] = await events(c, "lel-2")
        assert (e["kind"], e["reason"], e["gas"]) == ("sensor_fault", "out_of_range", None)
        assert "reading refused for its gas" in e["detail"] and "below -2.5" in e["detail"]
        await post(c, "lel-2", [-2.0], t0=T0 + 5)
        assert len(await events(c, "lel-2")) == 1  # the same condition, told once
        assert (await c.put("/api/devices/lel-3", json={"unit": "%LEL"})).status_code == 200
        await post(c, "lel-3", [0.0, -0.1, -2.0])
        [e] = await events(c, "lel-3")
        assert (e["kind"], e["reason"], e["gas"], e["gas_unit"]) == (
            "sensor_fault",
            "out_of_range",
            -2.0,
            "%LEL",
        )
        assert "recalibrate" in e["detail"], e
        view = (await c.get("/api/devices/lel-2")).json()
        assert view["last_reading"]["gas_ppm"] == -2.0 and view["gas_pct_lel"] == -2.0, view
        hist = await c.get(
            "/api/devices/lel-2/readings",
            params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:01:00Z"},
        )
        assert hist.status_code == 200, hist.text
        gases = [p["gas_ppm_min"] for p in hist.json()["points"]]
        assert gases == [0.0, -0.1, -0.2, -0.1, -2.0], hist.text  # stored as sent


async def test_an_oxygen_deficiency_on_a_falling_device_raises_warning_then_critical(
    make_client: Callable[..., Any],
) -> None:
    """A newcomer's lab oxygen cell read as 10.0 mV at 20.9 %vol (zero 10, polarity
    falling) under an inert-gas seep: a slow fall is not a leak to the model, and set points
    on a falling device were refused, so an O2 deficiency had no alarm at all. Set points
    9.33 / 8.61 mV (19.5 %vol, OSHA's oxygen-deficient atmosphere, and 18.0 %vol) alarm at
    or below them: warning, then critical; the critical alarm latches, and the all-clear
    waits for the gas to be back above the deadband (20 % of the warning set point's
    distance from the zero: 9.464 mV) for the off-delay, not merely above the set point."""
    async for c in make_client():
        o2 = {
            "unit": "mV",
            "zero": 10.0,
            "polarity": "falling",
            "low_set_point": 9.33,
            "high_set_point": 8.61,
        }
        assert (await c.put("/api/devices/o2", json=o2)).status_code == 200
        # clean, depleting, under the warning, under the critical, back inside the
        # deadband (9.4 mV: above the set point, not above 9.464), then clean air
        gas = [10.0] * 30 + [9.5] * 10 + [9.2] * 10 + [8.5] * 10 + [9.4] * 300 + [10.0] * 100
        await post(c, "o2", gas)
        evs = await events(c, "o2")
        got = [(e["type"], e["severity"], e["reason"], e["ts"][11:19]) for e in evs]
        assert got == [
            ("alert.raised", "warning", "low", "00:00:40"),
            ("alert.updated", "critical", "escalated", "00:00:50"),
            ("alert.updated", "critical", "cleared_unacked", "00:07:00"),  # 06:00 + 60 s
        ], got
        assert evs[0]["detail"] == (
            "gas 9.2 mV, at or below the warning set point 9.33 mV "
            "(low_set_point; falling device: lower readings are more gas)"
        )
        assert evs[1]["detail"].startswith("gas 8.5 mV, at or below the critical set point 8.61")
        assert evs[2]["detail"] == "gas above 9.464 mV for 60 s; latched until acknowledged"
        assert evs[2]["episode"]["peak_gas"] == 8.5  # the worst reading: the lowest
        # a warning alone clears by itself, above the same deadband
        assert (await c.put("/api/devices/o2b", json=o2)).status_code == 200
        await post(c, "o2b", [10.0] * 30 + [9.3] * 20 + [9.45] * 100 + [9.9] * 100)
        got = [
            (e["type"], e["severity"], e["reason"], e["ts"][11:19]) for e in await events(c, "o2b")
        ]
        assert got == [
            ("alert.raised", "warning", "low", "00:00:30"),
            ("alert.resolved", "warning", "all clear", "00:03:30"),  # 02:30 + 60 s
        ], got


async def test_a_toxic_gas_ppm_device_takes_set_points_in_ppm(
    make_client: Callable[..., Any],
) -> None:
    """A ppm device could only have %LEL set points of a flammable gas or the global 5,000 /
    12,500 ppm: an H2S cell got no threshold alarm at 10 or 50 ppm (newcomer of 1 Dec
    14:10: a 20 ppm leak raised only the model's leak alert). A ppm device may give its own
    set points in ppm."""
    async for c in make_client():
        r = await c.put("/api/devices/h2s-1", json={"low_set_point": 10, "high_set_point": 50})
        assert r.status_code == 200, r.text
        assert r.json()["set_points"] == [10.0, 50.0] == r.json()["set_points_ppm"], r.text
        await post(c, "h2s-1", [0.0, 0.1, 0.0, 8.0, 20.0, 21.0, 60.0])
        got = [(e["type"], e["kind"], e["severity"], e["reason"]) for e in await events(c, "h2s-1")]
        assert got == [
            ("alert.raised", "threshold", "warning", "low"),
            ("alert.updated", "threshold", "critical", "escalated"),
        ], got


async def test_two_fault_conditions_on_one_reading_are_both_in_the_events_and_the_alert(
    make_client: Callable[..., Any],
) -> None:
    """The tester's ``faults2.py``: 420 ppm, then 65,000 ppm reached in 1 s and held for 300
    readings. ``rate_of_change`` raised the sensor_fault and ``out_of_range`` (over the
    60,000 ppm range) was never announced: not on the event log, not in the alert's
    events. Now it is an ``alert.updated`` of the same alert, on the same reading."""
    async for c in make_client():
        await post(c, "sat-fast", [420.0] * 60 + [65_000.0] * 300)
        faults = [e for e in await events(c, "sat-fast") if e["kind"] == "sensor_fault"]
        assert [(e["type"], e["reason"], e["ts"]) for e in faults] == [
            ("alert.raised", "rate_of_change", "2026-01-01T00:01:00.000Z"),
            ("alert.updated", "out_of_range", "2026-01-01T00:01:00.000Z"),
        ]
        alert = (await c.get(f"/api/alerts/{faults[0]['alert_id']}")).json()
        assert [e["reason"] for e in alert["events"]] == ["rate_of_change", "out_of_range"]
        assert alert["state"] == "active"


async def test_a_ppb_device_has_its_limits_and_set_points_in_ppb(
    make_client: Callable[..., Any],
) -> None:
    """The tester's ``units.py``: a ppb sensor (3,000 ppb clean, own set points 10,000 /
    50,000) could only be declared ppm, so its 70,000 ppb gas was a sensor fault (over the
    60,000 ppm range, and a 58,000 /s rise over the 50,000 ppm/s limit). Declared ``ppb``,
    it alarms on its set points and has no fault; a methane ppb device without set points
    of its own gets 10 / 25 %LEL in ppb, and its %LEL; a reading over 100 % by volume
    (1,000,000,000 ppb) is refused naming the unit; ``zero`` is refused as for ppm."""
    async for c in make_client():
        r = await c.put(
            "/api/devices/ppb-a",
            json={"unit": "ppb", "low_set_point": 10_000, "high_set_point": 50_000},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["unit"], r.json()["set_points"]) == ("ppb", [10_000.0, 50_000.0])
        assert r.json()["set_points_ppm"] is None  # only for ppm, as the events' gas_ppm
        await post(c, "ppb-a", [3000.0] * 60 + [12_000.0] * 60 + [70_000.0] * 30 + [3000.0] * 5)
        got = [(e["type"], e["kind"], e["severity"], e["reason"]) for e in await events(c, "ppb-a")]
        assert got == [
            ("alert.raised", "threshold", "warning", "low"),
            ("alert.updated", "threshold", "critical", "escalated"),
        ], got
        e = (await events(c, "ppb-a"))[1]
        assert (e["gas"], e["gas_unit"], e["gas_ppm"]) == (70_000.0, "ppb", None)
        r = await c.put("/api/devices/ch4-ppb", json={"unit": "ppb", "gas": "methane"})
        assert r.json()["set_points"] == [4_400_000.0, 11_000_000.0], r.text
        await post(c, "ch4-ppb", [400_000.0] * 3 + [2_200_000.0])
        view = (await c.get("/api/devices/ch4-ppb")).json()
        assert (view["last_reading"]["gas_ppm"], view["gas_pct_lel"]) == (2_200_000.0, 5.0)
        assert await events(c, "ch4-ppb") == []
        r = await c.post("/api/readings", json=reading("ch4-ppb", T0 + 10, 2e9))
        err = r.json()["detail"][0]
        assert (r.status_code, err["field"], err["type"]) == (422, "gas_ppm", "unit_range")
        assert "unit ppb" in err["reason"] and "1,000,000,000" in err["reason"], err
        r = await c.put("/api/devices/z", json={"unit": "ppb", "zero": 5})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "zero", r.text


async def test_a_min_severity_silence_and_the_severity_filter_follow_the_alerts_peak(
    make_client: Callable[..., Any],
) -> None:
    """Latching off, 13,000 ppm, then 6,000 ppm, then clean air: a threshold alarm raised
    critical, de-escalated to warning and resolved as a warning. A ``min_severity=critical``
    silence kept only the raise quiet: the de-escalation and the all-clear of the alarm it
    silenced went to webhooks, and ``GET /api/alerts?severity=critical`` did not list the
    alarm (its current severity is warning). Both now judge the alert by its peak severity,
    the rule of ``/ws/alerts?min_severity=``."""
    async for c in make_client(latch_critical=False, webhook_urls=[HOOK]):
        r = await c.post(
            "/api/silences",
            json={
                "device_id": "boiler-*",
                "min_severity": "critical",
                "ends_at": SILENCE_END,
                "comment": "burner service",
                "author": "ann",
            },
        )
        assert r.status_code == 201, r.text
        await post(c, "boiler-1", [420.0] * 60 + [13_000.0] * 30 + [6_000.0] * 90 + [420.0] * 90)
        await post(c, "boiler-2", [420.0] * 60 + [6_000.0] * 30 + [420.0] * 90)
        crit = await events(c, "boiler-1")
        assert [(e["type"], e["severity"], e["reason"], e["silenced"]) for e in crit] == [
            ("alert.raised", "critical", "high", True),
            ("alert.updated", "warning", "de-escalated", True),
            ("alert.resolved", "warning", "all clear", True),
        ]
        warn = await events(c, "boiler-2")  # never critical: the silence does not match
        assert [(e["type"], e["silenced"]) for e in warn] == [
            ("alert.raised", False),
            ("alert.resolved", False),
        ]
        deliveries = (await c.get("/api/webhooks/deliveries")).json()["deliveries"]
        assert sorted(d["event_id"] for d in deliveries) == [e["event_id"] for e in warn]

        async def listed(c: Client, *severity: str) -> list[tuple[str, str, str]]:
            page = await c.get(
                "/api/alerts",
                params={"device_id": ["boiler-1", "boiler-2"], "severity": list(severity)},
            )
            assert page.status_code == 200, page.text
            rows = page.json()["alerts"]
            return [(a["device_id"], a["severity"], a["peak_severity"]) for a in rows]

        assert await listed(c, "critical") == [("boiler-1", "warning", "critical")]
        assert await listed(c, "warning") == [("boiler-2", "warning", "warning")]
        assert await listed(c, "warning", "critical") == [
            ("boiler-2", "warning", "warning"),
            ("boiler-1", "warning", "critical"),
        ]


async def test_the_device_view_lists_an_open_sensor_faults_conditions(
    make_client: Callable[..., Any],
) -> None:
    """The device view listed an open sensor_fault as kind, severity and state only: which
    faults were open (420 -> 65,000 ppm in 1 s is ``rate_of_change`` and ``out_of_range``)
    took a look at the alert's events. Its ``conditions`` are now in the view (null for the
    other kinds)."""
    async for c in make_client():
        await post(c, "sat-view", [420.0] * 60 + [65_000.0])
        view = (await c.get("/api/devices/sat-view")).json()
        by_kind = {a["kind"]: a for a in view["alerts"]}
        assert by_kind["sensor_fault"]["conditions"] == ["rate_of_change", "out_of_range"], view
        assert by_kind["threshold"]["conditions"] is None, view
        await post(c, "sat-view", [65_000.0] * 4, t0=T0 + 61)  # a plausible rate, still over
        view = (await c.get("/api/devices/sat-view")).json()
        [fault] = [a for a in view["alerts"] if a["kind"] == "sensor_fault"]
        assert fault["conditions"] == ["out_of_range"], view
        schema = (await c.get("/openapi.json")).json()["components"]["schemas"]
        assert "conditions" in schema["OpenAlertOut"]["properties"]
        assert get_args(FaultCondition) == FAULTS  # the schema's names are the rules'
        await post(c, "sat-view", [420.0] * 70, t0=T0 + 65)  # back in range, plausible
        view = (await c.get("/api/devices/sat-view")).json()
        assert {a["kind"] for a in view["alerts"]} == {"threshold"}, view  # fault resolved


async def _silence(c: Client, device: str, ends_at: str = SILENCE_END) -> str:
    """Create a silence of ``device`` (an id or glob) until ``ends_at``; its id."""
    r = await c.post(
        "/api/silences",
        json={"device_id": device, "ends_at": ends_at, "comment": "bump tests", "author": "ann"},
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["silence_id"]
    return sid


async def _all_events(c: Client) -> list[dict[str, Any]]:
    """Every stored event, oldest first (``/api/events`` pages of 1,000)."""
    out: list[dict[str, Any]] = []
    while page := (
        await c.get(
            "/api/events", params={"since": out[-1]["event_id"] if out else 0, "limit": 1000}
        )
    ).json()["events"]:
        out += page
    return out


async def _alarms(c: Client, prefix: str, n: int, gas: float) -> None:
    """One alarm on each of ``n`` devices ``prefix-0`` ... (two readings each, one POST: a
    low set point wants a second reading)."""
    rows = [reading(f"{prefix}-{i}", T0 + t, gas) for t in (0, 1) for i in range(n)]
    r = await c.post("/api/readings", json=rows)
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


@pytest.mark.parametrize(("silenced", "page"), [(7, 3), (600, 500)])
async def test_reminders_reach_an_alarm_behind_a_page_of_silenced_ones(
    make_client: Callable[..., Any], silenced: int, page: int
) -> None:
    """A tester's 600 latched critical alarms under a silence took every one of the 500
    rows a reminder pass read (the longest unnotified first; a silenced alarm's
    notification time never moves), so a new unsilenced critical alarm got no reminder at
    all (3 with 400). Every due alarm is reminded now, in pages (``page_size``)."""
    async for c in make_client(reminder_interval_s=0.4):
        c.gasleak.alerts.page_size = page
        await _silence(c, "bay-*")
        await _alarms(c, "bay", silenced, 20_000.0)
        await asyncio.sleep(0.5)  # every bay alarm due, and older than the real one
        await post(c, "real-1", [20_000.0])
        async with asyncio.timeout(15):
            while len([e for e in await events(c, "real-1") if e["type"] == "alert.reminder"]) < 2:
                await asyncio.sleep(0.1)
        bay = await events(c, "bay-0")
        assert [(e["type"], e["silenced"]) for e in bay] == [("alert.raised", True)]


@pytest.mark.parametrize(("n", "page"), [(7, 3), (700, 500)])
async def test_every_alarm_whose_silence_ended_is_announced(
    make_client: Callable[..., Any], n: int, page: int
) -> None:
    """A tester's 700 alarms under one silence: when it ended, 500 ``silence_ended``
    updates came out and 200 never did; and while 700 older alarms stayed under another
    silence, a new alarm whose own silence ended was never announced. Now the announcement
    pages through all of them (``page_size``)."""
    async for c in make_client():
        c.gasleak.alerts.page_size = page
        sid = await _silence(c, "b-*")
        await _alarms(c, "b", n, 6000.0)
        await _silence(c, "a-*")
        await _alarms(c, "a", n, 6000.0)
        assert (await c.delete(f"/api/silences/{sid}")).status_code == 200
        ended = [e for e in await _all_events(c) if e["reason"] == "silence_ended"]
        assert sorted(e["device_id"] for e in ended) == sorted(f"b-{i}" for i in range(n))
        own = await _silence(c, "x-1")
        await post(c, "x-1", [6000.0, 6000.0])
        assert (await c.delete(f"/api/silences/{own}")).status_code == 200
        assert [(e["type"], e["reason"]) for e in await events(c, "x-1")] == [
            ("alert.raised", "low"),
            ("alert.updated", "silence_ended"),
        ]


async def test_an_alarm_heard_raised_then_resolved_under_a_silence_is_told_resolved(
    make_client: Callable[..., Any],
) -> None:
    """A tester's warning was heard raised; then a silence was created, the gas cleared and
    the ``alert.resolved`` was stored silenced; when the silence was deleted nothing was
    announced, so subscribers and webhooks kept a phantom active alarm. Now its resolution
    is announced when the silence ends (``reason`` ``silence_ended``, to the hub and to
    webhooks), with the alert's resolution time; an alarm raised and resolved under the
    silence (never heard) is not."""
    async for c in make_client(webhook_urls=[HOOK]):
        hub = c.gasleak.log.hub
        async with hub.subscribe(EventFilter.of(min_severity="warning")) as sub:
            await post(c, "sr-1", [6000.0, 6000.0])
            sid = await _silence(c, "sr-*")
            await post(c, "sr-2", [6000.0, 6000.0])  # raised and resolved under the silence
            for dev in ("sr-1", "sr-2"):
                await post(c, dev, [400.0] * 120, t0=T0 + 2)
            [raised, quiet] = await events(c, "sr-1")
            assert (quiet["type"], quiet["silenced"]) == ("alert.resolved", True)
            [stored] = (await c.get("/api/alerts", params={"device_id": "sr-1"})).json()["alerts"]
            assert stored["state"] == "resolved"
            assert (await c.delete(f"/api/silences/{sid}")).status_code == 200
            [_, _, told] = await events(c, "sr-1")
            assert (told["type"], told["state"], told["reason"], told["silenced"]) == (
                "alert.resolved",
                "resolved",
                "silence_ended",
                False,
            )
            assert told["alert_id"] == raised["alert_id"] and told["ts"] == quiet["ts"]
            assert [e["silenced"] for e in await events(c, "sr-2")] == [True, True]
            heard = []
            async with asyncio.timeout(5):
                async for e in sub:
                    heard.append((e["device_id"], e["type"], e["reason"]))
                    if e["event_id"] == told["event_id"]:
                        break
            assert heard == [
                ("sr-1", "alert.raised", "low"),
                ("sr-1", "alert.resolved", "silence_ended"),
            ]
        deliveries = (await c.get("/api/webhooks/deliveries")).json()["deliveries"]
        assert sorted(d["event_id"] for d in deliveries) == [
            raised["event_id"],
            told["event_id"],
        ]
        [after] = (await c.get("/api/alerts", params={"device_id": "sr-1"})).json()["alerts"]
        assert (after["resolved_at"], after["silenced"]) == (stored["resolved_at"], False)
        assert (await c.delete(f"/api/silences/{sid}")).status_code == 200  # again: nothing
        assert len(await events(c, "sr-1")) == 3


async def test_readings_during_a_forced_unit_change_open_no_alarm_in_the_old_unit(
    make_client: Callable[..., Any],
) -> None:
    """A %LEL device posting 30 in a tight loop, forced back to ppm: a reading taken while
    the change awaited its alerts' resolution was still judged in %LEL, and opened a new
    critical threshold alarm "30 %LEL >= set point 25 %LEL" right after, latched (README
    newcomer of 10 Dec: 2 of 3 runs). Here the reading comes exactly then (posted from
    inside the resolution): the device ends in ppm with no open alert."""
    async for c in make_client():
        assert (
            await c.put("/api/devices/lel-1", json={"unit": "%LEL", "gas": "methane"})
        ).is_success
        await post(c, "lel-1", [30.0, 30.0, 30.0])
        assert (await c.get("/api/devices/lel-1")).json()["alerts"], "no alarm at 30 %LEL"
        devices = c.gasleak.devices  # type: ignore[attr-defined]
        close = devices.close_alerts
        during: list[int] = []

        async def close_then_a_reading_arrives(
            d: str,
            detail: str,
            why: str,
            close: Any = close,
            during: list[int] = during,
            c: Client = c,
        ) -> object:
            out = await close(d, detail, why)
            if not during:  # one more reading, read in whatever unit holds now
                during.append(1)
                await post(c, "lel-1", [30.0, 30.0], t0=T0 + 10)
            return out

        devices.close_alerts = close_then_a_reading_arrives
        r = await c.put("/api/devices/lel-1", params={"force": "true"}, json={})
        assert r.status_code == 200 and r.json()["unit"] == "ppm", r.text
        view = (await c.get("/api/devices/lel-1")).json()
        assert view["alerts"] == [], view["alerts"]
        opened = [e for e in await events(c, "lel-1") if e["type"] == "alert.raised"]
        ended = [e for e in await events(c, "lel-1") if e["type"] == "alert.resolved"]
        assert len(ended) == len(opened) and all(e["reason"] == "unit_changed" for e in ended)
