"""Disabling a device closes its open alerts: the leak policy's and the safety rules'
``close`` resolve them at once, with the reason and detail given (an alert left open would
never change again, since a disabled device is neither scored nor checked)."""

from __future__ import annotations

from app.alerting.leak import AlertPolicy, PolicyConfig
from app.alerting.safety import SafetyConfig, SafetyRules

T0 = 1_767_225_600.0


def test_the_leak_policy_closes_an_open_alert_and_forgets_its_counters() -> None:
    policy = AlertPolicy(
        PolicyConfig(raise_p=0.7, raise_n=3, clear_p=0.3, clear_n=2, raise_min_s=0.0),
        model_type="m",
    )
    raised = [e for i in range(3) if (e := policy.update("d", 0.9, T0 + i, 900.0))]
    assert [e.type for e in raised] == ["alert.raised"]
    closed = policy.close("d", ts=T0 + 60, reason="device_disabled", detail="by ann: swap")
    assert closed is not None
    assert (closed.type, closed.state, closed.alert_id) == (
        "alert.resolved",
        "resolved",
        raised[0].alert_id,
    )
    assert (closed.reason, closed.detail, closed.gas_ppm) == (
        "device_disabled",
        "by ann: swap",
        900,
    )
    assert policy.open_alert("d") is None and "d" in policy.take_dirty()
    assert policy.close("d", ts=T0 + 61, reason="r", detail="x") is None


def test_the_safety_rules_close_every_open_kind_latched_ones_too() -> None:
    rules = SafetyRules(SafetyConfig(stuck_readings=3))
    out = []
    for i in range(5):
        # a live temperature (it moves once), then every channel frozen: stuck
        out += rules.check("d", T0 + i, 20_000.0, 21.0 if i else 20.5, 45.0, now=float(i))
    assert {(e.kind, e.type) for e in out} == {
        ("threshold", "alert.raised"),
        ("sensor_fault", "alert.raised"),
    }
    closed = rules.close("d", ts=T0 + 60, reason="device_disabled", detail="by ann")
    assert sorted((e.kind, e.type, e.state, e.reason) for e in closed) == [
        ("sensor_fault", "alert.resolved", "resolved", "device_disabled"),
        ("threshold", "alert.resolved", "resolved", "device_disabled"),
    ]
    assert rules.open_alerts("d") == {} and rules.close("d", ts=T0, reason="r", detail="x") == []
