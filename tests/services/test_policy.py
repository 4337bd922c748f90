"""Alert policy: debounce on raise, hysteresis on resolve, one active alert per device."""

from __future__ import annotations

from app.services.policy import AlertPolicy, PolicyConfig


def run(policy: AlertPolicy, probs: list[float], device: str = "d") -> list[dict]:
    events = [policy.update(device, p, float(i)) for i, p in enumerate(probs)]
    return [e for e in events if e]


def make() -> AlertPolicy:
    return AlertPolicy(PolicyConfig(raise_p=0.7, raise_n=3, clear_p=0.3, clear_n=2,
                                    critical_p=0.9), model_type="m")


def test_needs_three_consecutive_windows() -> None:
    assert run(make(), [0.8, 0.8, 0.1, 0.8, 0.8, 0.1]) == []
    events = run(make(), [0.1, 0.8, 0.75, 0.71])
    assert len(events) == 1
    e = events[0]
    assert e["type"] == "alert.raised" and e["severity"] == "warning" and e["ts"] == 3.0
    assert e["kind"] == "leak" and e["probability"] == 0.71


def test_one_active_alert_then_hysteresis_then_new_alert() -> None:
    p = make()
    events = run(p, [0.95] * 10 + [0.5] * 5 + [0.2, 0.5, 0.2, 0.2] + [0.8] * 3)
    types = [e["type"] for e in events]
    assert types == ["alert.raised", "alert.resolved", "alert.raised"]
    assert events[0]["severity"] == "critical"
    assert events[0]["alert_id"] == events[1]["alert_id"] != events[2]["alert_id"]
    assert events[1]["ts"] == 18.0


def test_devices_are_independent() -> None:
    p = make()
    for i in range(3):
        assert p.update("a", 0.9, i) is None or i == 2
        assert p.update("b", 0.1, i) is None
    assert set(p.active()) == {"a"}
    assert p.state_of("b")["state"] == "normal"
