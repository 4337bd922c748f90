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


def lifecycle(**kw: object) -> AlertPolicy:
    cfg = dict(raise_p=0.7, raise_n=3, clear_p=0.3, clear_n=2, critical_p=0.9,
               critical_gas_ppm=5000.0, escalate_after_s=100.0)
    return AlertPolicy(PolicyConfig(**{**cfg, **kw}), model_type="m")  # type: ignore[arg-type]


def test_escalates_once_on_probability_concentration_or_age() -> None:
    for updates, reason in (([(0.8, 1000.0)] * 3 + [(0.95, 1000.0)], "probability"),
                            ([(0.8, 1000.0)] * 3 + [(0.8, 6000.0)], "concentration")):
        p = lifecycle()
        events = [p.update("d", prob, float(i), gas) for i, (prob, gas) in enumerate(updates)]
        events += [p.update("d", 0.99, 10.0, 9000.0)]  # already critical: no second update
        kinds = [(e["type"], e["severity"], e["reason"]) for e in events if e]
        assert kinds == [("alert.raised", "warning", None), ("alert.updated", "critical", reason)]
    p = lifecycle()
    events = [p.update("d", 0.8, float(t), 1000.0) for t in (0, 1, 2, 50, 101, 102)]
    assert [e["reason"] for e in events if e] == [None, "duration"]


def test_raise_can_be_critical_by_concentration_and_resolve_is_all_clear() -> None:
    p = lifecycle()
    events = [p.update("d", 0.75, float(i), 8000.0) for i in range(3)]
    assert events[2]["severity"] == "critical" and events[2]["reason"] == "concentration"
    done = [p.update("d", 0.1, 10.0 + i, 400.0) for i in range(2)]
    assert done[1]["type"] == "alert.resolved" and done[1]["reason"] == "all clear"
    assert done[1]["state"] == "resolved" and p.state_of("d")["state"] == "normal"


def test_ack_holds_until_resolve_and_never_silences_a_new_alert() -> None:
    p = lifecycle(escalate_after_s=None)
    first = [e for e in (p.update("d", 0.8, float(i)) for i in range(3)) if e][0]
    p.acknowledge("d", "not-this-alert")
    assert p.state_of("d")["state"] == "active"
    p.acknowledge("d", first["alert_id"])
    assert p.state_of("d")["state"] == "acknowledged"
    upd = p.update("d", 0.95, 3.0)
    assert upd["type"] == "alert.updated" and upd["state"] == "acknowledged"
    events = [p.update("d", prob, 4.0 + i) for i, prob in enumerate([0.1, 0.1, 0.8, 0.8, 0.8])]
    new = [e for e in events if e]
    assert [e["type"] for e in new] == ["alert.resolved", "alert.raised"]
    assert new[1]["state"] == "active" and new[1]["alert_id"] != first["alert_id"]


def test_only_changed_states_are_dirty_and_restore_round_trips() -> None:
    p = lifecycle()
    for i in range(5):
        p.update("quiet", 0.1, float(i))
    assert p.take_dirty() == {}  # a quiet device costs no writes
    p.update("d", 0.8, 0.0)
    assert p.take_dirty() == {"d": {"high_run": 1, "low_run": 0, "alert_id": None,
                                    "severity": None, "state": None, "raised_ts": None}}
    p.update("d", 0.8, 1.0)
    p.update("d", 0.8, 2.0)
    saved = p.take_dirty()
    assert saved["d"]["alert_id"] and saved["d"]["state"] == "active"
    for i in range(3):
        p.update("d", 0.85, 3.0 + i)  # steady high probability during the alert: no change
    assert p.take_dirty() == {}
    q = lifecycle()
    q.restore({k: v for k, v in saved.items() if v})
    assert q.active() == p.active()
    p.update("d", 0.1, 9.0)
    q.update("d", 0.1, 9.0)
    resolved = p.update("d", 0.1, 10.0)
    assert resolved is not None and resolved["type"] == "alert.resolved"
    assert q.update("d", 0.1, 10.0) == resolved  # the restored state carries on identically
    p.update("e", 0.8, 0.0)
    p.take_dirty()
    p.forget(["e"])
    assert p.take_dirty() == {"e": None}
