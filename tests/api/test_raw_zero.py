"""Raw-unit devices with a live zero (``zero``) or an output that falls with gas
(``polarity``): leak detection measures the gas from the zero in the gas direction
(``app.alerting.profiles.detected_gas``), readings and alerts show the values as sent.
A ppb device has no detection axis: its gas is detected in ppb, as sent."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.test_rest import post_scored

#: A fresh device's leak starts after its warm-up (60) and its settling (10 min) at 1 Hz.
CLEAN = 700


async def _events(c: httpx.AsyncClient, device: str) -> list[dict[str, Any]]:
    r = await c.get("/api/events", params={"device_id": device, "limit": 1000})
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def _series(rng: np.random.Generator, at: float, step: float, n_leak: int = 60) -> np.ndarray:
    """``CLEAN`` readings at ``at`` mV then ``n_leak`` at ``at + step``, 5 mV noise sd."""
    g = at + rng.normal(0, 5.0, CLEAN + n_leak)
    g[CLEAN:] += step
    return g


async def test_a_3_pct_lel_leak_on_a_1000_mv_live_zero_is_raised_and_shown_as_sent(
    client: httpx.AsyncClient,
) -> None:
    """A 4-20 mA loop read as 1,000 mV at no gas, 40 mV a %LEL: a 3 %LEL leak (+120 mV,
    +12 % of the reading) was never raised (the gate's +22 % judged the whole reading);
    with ``zero`` 1,000 it is raised. The alert and the device view show the readings as
    sent (~1,120 mV, level ~1,000 mV), the signal section the gas from the zero."""
    t0 = 1_700_000_000.0
    r = await client.put("/api/devices/loop", json={"unit": "mV", "zero": 1000})
    assert r.status_code == 200, r.text
    assert (r.json()["profile"]["zero"], r.json()["profile"]["polarity"]) == (1000.0, "rising")
    await post_scored(client, "loop", _series(np.random.default_rng(1), 1000.0, 120.0), t0)
    raised = [e for e in await _events(client, "loop") if e["type"] == "alert.raised"]
    assert [e["kind"] for e in raised] == ["leak"]
    assert raised[0]["ts"] >= "2023-11-14T22:25:00"  # t0 + 700 s: after the leak's onset
    assert 1090 < raised[0]["gas"] < 1150 and raised[0]["gas_unit"] == "mV"
    assert 1090 < raised[0]["episode"]["peak_gas"] < 1150
    view = (await client.get("/api/devices/loop")).json()
    assert 1090 < view["last_reading"]["gas_ppm"] < 1150
    assert 990 < view["gas_baseline"] < 1010
    assert abs(view["signal"]["level"]) < 10  # the gas from the zero


async def test_a_300_mv_fall_is_raised_on_a_falling_device_and_its_level_stays(
    client: httpx.AsyncClient,
) -> None:
    """An mV output driven 300 mV more negative by gas: never alarmed, and its level
    followed it down. With ``polarity`` falling (zero 2,500 mV) it is raised, and the alert
    shows the reading as sent (~2,200 mV)."""
    t0 = 1_700_000_000.0
    body = {"unit": "mV", "zero": 2500, "polarity": "falling"}
    assert (await client.put("/api/devices/fall", json=body)).status_code == 200
    await post_scored(client, "fall", _series(np.random.default_rng(2), 2500.0, -300.0), t0)
    raised = [e for e in await _events(client, "fall") if e["type"] == "alert.raised"]
    assert [e["kind"] for e in raised] == ["leak"]
    assert 2170 < raised[0]["gas"] < 2230
    assert 2170 < raised[0]["episode"]["peak_gas"] < 2230  # the worst reading: the lowest
    view = (await client.get("/api/devices/fall")).json()
    assert 2490 < view["gas_baseline"] < 2510


async def test_a_clean_live_zero_device_raises_nothing(client: httpx.AsyncClient) -> None:
    """A clean 1,000 mV live-zero device (5 mV noise, a ±10 mV wander over 20 min) for 40
    minutes after its warm-up: no alert of any kind."""
    t = np.arange(2400)
    rng = np.random.default_rng(3)
    g = 1000.0 + 10.0 * np.sin(2 * np.pi * t / 1200) + rng.normal(0, 5.0, t.size)
    assert (await client.put("/api/devices/c", json={"unit": "mV", "zero": 1000})).is_success
    await post_scored(client, "c", g, 1_700_000_000.0)
    assert [e for e in await _events(client, "c") if e["type"] == "alert.raised"] == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"unit": "ppm", "zero": 5}, "zero", "only for a raw unit"),
        ({"unit": "%LEL", "zero": 0.5}, "zero", "only for a raw unit"),
        ({"unit": "%LEL", "polarity": "falling"}, "polarity", "only for a raw unit"),
        ({"unit": "ppm", "gas": "methane", "polarity": "falling"}, "polarity", "raw unit"),
        ({"unit": "mV", "polarity": "down"}, "polarity", "rising"),
        # a falling device's critical set point (high) is the lower one
        (
            {"unit": "mV", "polarity": "falling", "low_set_point": -1, "high_set_point": 2},
            "high_set_point",
            "must be below low_set_point (-1) on a falling device",
        ),
        (
            {
                "unit": "mV",
                "zero": 10,
                "polarity": "falling",
                "low_set_point": 8.61,
                "high_set_point": 9.33,
            },
            "high_set_point",
            "must be below low_set_point (8.61) on a falling device",
        ),
        # at or above a falling device's zero clean air would alarm
        (
            {
                "unit": "mV",
                "zero": 10,
                "polarity": "falling",
                "low_set_point": 10.5,
                "high_set_point": 8.61,
            },
            "low_set_point",
            "must be below zero (10 mV",
        ),
        (
            {"unit": "mV", "polarity": "falling", "low_set_point": 2, "high_set_point": 1},
            "low_set_point",
            "must be below zero (0 mV, the reading at no gas: no zero given)",
        ),
        ({"unit": "mV", "polarity": "falling", "low_set_point": -1}, "high_set_point", "both"),
        (
            {"unit": "mV", "zero": 1000, "low_set_point": 900, "high_set_point": 2000},
            "low_set_point",
            "above zero",
        ),
        ({"unit": "mV", "zero": 1e6}, "zero", "outside the range"),
        # a number in a string is refused, as in readings (it was read as 1000: newcomer)
        ({"unit": "mV", "zero": "1000"}, "zero", "valid number"),
        ({"unit": "mV", "low_set_point": "900", "high_set_point": 2000}, "low_set_point", "number"),
    ],
)
async def test_zero_and_polarity_are_refused_naming_the_field_and_the_reason(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    r = await client.put("/api/devices/v", json=body)
    assert r.status_code == 422, r.text
    text = r.text
    assert field in text and words in text, text
    assert (await client.get("/api/devices/v")).status_code == 404  # nothing was changed


async def test_a_dropout_on_a_falling_device_names_its_numbers_on_the_axis_sent(
    client: httpx.AsyncClient,
) -> None:
    """A newcomer's O2 cell (10.0 mV at 20.9 %vol, zero 10, falling) whose level had
    followed a slow depletion to 7.67 mV got, once the air was restored, a ``dropout`` fault
    saying "gas reads 10.002, at or under 5 % of the device's clean level of 7.67063": the
    5 % is of the level's distance from the zero (on the detection axis), not of 7.67. The
    detail gives both distances, the zero and the level as sent, each with the unit."""
    t0 = 1_700_000_000.0
    body = {"unit": "mV", "zero": 10.0, "polarity": "falling"}
    assert (await client.put("/api/devices/o2-drop", json=body)).is_success
    g = 7.5 + np.random.default_rng(7).normal(0, 0.02, 3600 + 1200 + 1200)
    g[3600:4800] = 10.0
    await post_scored(client, "o2-drop", g, t0, size=500)
    raised = [e for e in await _events(client, "o2-drop") if e["reason"] == "dropout"]
    assert raised, await _events(client, "o2-drop")
    words = re.fullmatch(
        r"gas reads 10 mV, at the device's zero of 10 mV: at or under 5 % of the clean "
        r"level's distance from the zero in the direction of gas \((\S+) mV below it; the "
        r"clean level reads (\S+) mV\) for more than a dropout: .*",
        raised[0]["detail"],
    )
    assert words is not None, raised[0]["detail"]
    assert 2.4 < float(words[1]) < 2.6 and 7.4 < float(words[2]) < 7.6, raised[0]["detail"]


async def test_a_falling_device_takes_set_points_below_its_zero(
    client: httpx.AsyncClient,
) -> None:
    """A lab oxygen cell read as 10.0 mV at 20.9 %vol (zero 10, polarity falling): set points
    at 19.5 / 18.0 %vol (9.33 / 8.61 mV) were refused, "no set points on a falling device",
    so an oxygen deficiency could have no alarm (a newcomer). They are taken, as given, the
    warning (low_set_point) above the critical one (high_set_point); a patch that turns a
    rising device with rising set points to falling is refused, naming the field."""
    body = {
        "unit": "mV",
        "zero": 10.0,
        "polarity": "falling",
        "low_set_point": 9.33,
        "high_set_point": 8.61,
    }
    r = await client.put("/api/devices/o2", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["set_points"] == [9.33, 8.61], r.text
    rising = {"unit": "mV", "zero": 10.0, "low_set_point": 11, "high_set_point": 12}
    assert (await client.put("/api/devices/up", json=rising)).status_code == 200
    r = await client.patch("/api/devices/up", json={"polarity": "falling"})
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["detail"]}
    assert fields == {"low_set_point", "high_set_point"}, r.text


async def test_a_patch_of_polarity_null_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/devices/n", json={"unit": "mV"})).is_success
    r = await client.patch("/api/devices/n", json={"polarity": None})
    assert r.status_code == 422 and "rising or falling" in r.text, r.text


async def test_a_unit_change_clears_the_zero(client: httpx.AsyncClient) -> None:
    body = {"unit": "mV", "zero": 1000, "polarity": "falling"}
    assert (await client.put("/api/devices/u", json=body)).is_success
    r = await client.patch("/api/devices/u", json={"unit": "ppm"})
    assert r.status_code == 200, r.text
    assert (r.json()["profile"]["zero"], r.json()["profile"]["polarity"]) == (None, "rising")


async def test_a_zero_change_restarts_the_warm_up_and_a_leak_alert_needs_force(
    client: httpx.AsyncClient,
) -> None:
    """The learned level is on the old axis: a change of ``zero`` restarts the warm-up
    (as a unit change does). With an open leak alert it is refused (409 naming it) unless
    forced; forced, the leak alert resolves as ``zero_changed``."""
    t0 = 1_700_000_000.0
    assert (await client.put("/api/devices/z", json={"unit": "mV", "zero": 1000})).is_success
    g = _series(np.random.default_rng(4), 1000.0, 200.0)
    await post_scored(client, "z", g, t0)
    assert (await client.get("/api/devices/z")).json()["alert_state"] == "active"
    r = await client.patch("/api/devices/z", json={"zero": 1200})
    assert r.status_code == 409 and "zero_changed" in r.text, r.text
    view = (await client.get("/api/devices/z")).json()
    assert view["profile"]["zero"] == 1000.0 and view["signal"]["state"] == "ready"
    r = await client.patch("/api/devices/z", json={"zero": 1200}, params={"force": "true"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["signal"]["state"] == "warming_up" and view["signal"]["readings_to_warm"] == 60
    assert view["alert_state"] == "normal"
    resolved = [e for e in await _events(client, "z") if e["type"] == "alert.resolved"]
    assert [e["reason"] for e in resolved] == ["zero_changed"]


async def test_a_polarity_change_without_alerts_restarts_the_warm_up(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.put("/api/devices/p", json={"unit": "counts"})).is_success
    g = 819.0 + np.random.default_rng(5).normal(0, 3.0, 80)
    await post_scored(client, "p", g, 1_700_000_000.0)
    assert (await client.get("/api/devices/p")).json()["signal"]["state"] == "ready"
    r = await client.patch("/api/devices/p", json={"zero": 819})
    assert r.json()["signal"]["state"] == "warming_up", r.text


async def test_a_forced_zero_change_during_a_leak_keeps_the_old_level_as_the_reference(
    client: httpx.AsyncClient,
) -> None:
    """A forced zero change (0.5 mV) during a +120 mV leak resolved the alert as
    ``zero_changed``, and the warm-up learned the leak as the new level: never raised again
    (newcomer of 1 Dec 13:45). The old clean level, moved onto the new axis, stays the
    warm-up's reference (as for a forced baseline reset): the leak that goes on is raised
    again once the warm-up ends."""
    t0 = 1_700_000_000.0
    assert (await client.put("/api/devices/zf", json={"unit": "mV", "zero": 1000})).is_success
    rng = np.random.default_rng(6)
    g = _series(rng, 1000.0, 120.0)
    await post_scored(client, "zf", g, t0)
    assert (await client.get("/api/devices/zf")).json()["alert_state"] == "active"
    r = await client.patch("/api/devices/zf", json={"zero": 1000.5}, params={"force": "true"})
    assert r.status_code == 200, r.text
    more = 1120.0 + rng.normal(0, 5.0, 300)  # the leak goes on
    await post_scored(client, "zf", more, t0 + len(g))
    view = (await client.get("/api/devices/zf")).json()
    assert view["alert_state"] == "active", view
    assert view["signal"]["level"] < 20.0, view["signal"]  # the old clean level, kept
    events = await _events(client, "zf")
    assert [e["type"] for e in events if e["kind"] == "leak"].count("alert.raised") == 2


async def test_a_ppb_device_at_hundreds_of_ppm_is_detected_as_the_same_gas_in_ppm(
    client: httpx.AsyncClient,
) -> None:
    """The same leak (400 ppm clean, +200 ppm) sent by a ppm device and, x 1,000, by a ppb
    device: one leak alert each, at about the same reading (the ppb device's gas is
    detected in ppb, as sent: far above 1 unit the gate's ratio hardly depends on the unit);
    the ppb one shows its gas, its level and its gate in ppb (x 1,000)."""
    t0 = 1_700_000_000.0
    assert (await client.put("/api/devices/twin-ppb", json={"unit": "ppb"})).is_success
    g = _series(np.random.default_rng(4), 400.0, 200.0)
    await post_scored(client, "twin-ppm", g, t0)
    await post_scored(client, "twin-ppb", g * 1000.0, t0)
    ppm, ppb = (await _events(client, "twin-ppm"), await _events(client, "twin-ppb"))
    raised = [[e for e in ev if e["type"] == "alert.raised"] for ev in (ppm, ppb)]
    assert [[e["kind"] for e in r] for r in raised] == [["leak"], ["leak"]], (ppm, ppb)
    a, b = raised[0][0], raised[1][0]
    at = [datetime.fromisoformat(e["ts"]).timestamp() - t0 for e in (a, b)]
    assert CLEAN <= at[0] < CLEAN + 60 and abs(at[1] - at[0]) <= 3, at
    assert 1000.0 * 560 < b["gas"] < 1000.0 * 640 and (b["gas_unit"], b["gas_ppm"]) == (
        "ppb",
        None,
    )
    va, vb = [(await client.get(f"/api/devices/{d}")).json() for d in ("twin-ppm", "twin-ppb")]
    assert vb["signal"]["level"] == pytest.approx(1000.0 * va["signal"]["level"], rel=1e-3)
    assert vb["gas_baseline"] == pytest.approx(1000.0 * va["gas_baseline"], rel=1e-3)
    assert vb["gas_baseline"] == pytest.approx(vb["signal"]["level"], rel=1e-6)


async def test_a_ppb_sensor_near_0_is_a_dropout_fault_as_in_ppm(
    client: httpx.AsyncClient,
) -> None:
    """A clean 420 ppm sensor that reads 10 ppm for 20 min (2.4 % of its level: a sensor at
    0) raises the ``dropout`` fault; sent in ppb by a ppb device it must too. The rule
    compared the reading as sent (10,000 ppb) with the level learned on the detection axis
    (420 ppm), so the ppb device raised nothing. The detail names the level as sent."""
    t0 = 1_700_000_000.0
    assert (await client.put("/api/devices/drop-ppb", json={"unit": "ppb"})).is_success
    g = 420 + np.random.default_rng(5).normal(0, 3, 3600 + 1200 + 1200)
    g[3600:4800] = 10.0
    await post_scored(client, "drop-ppm", g, t0, size=500)
    await post_scored(client, "drop-ppb", g * 1000.0, t0, size=500)
    for d in ("drop-ppm", "drop-ppb"):
        got = [(e["kind"], e["type"], e["reason"]) for e in await _events(client, d)]
        assert got == [
            ("sensor_fault", "alert.raised", "dropout"),
            ("sensor_fault", "alert.resolved", "all clear"),
        ], (d, got)
    [raised, _] = await _events(client, "drop-ppb")
    level = re.search(r"gas reads 10000 ppb, .* clean level of (\S+) ppb ", raised["detail"])
    assert level is not None and 400_000 < float(level[1]) < 440_000, raised["detail"]  # ppb
