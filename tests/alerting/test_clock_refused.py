"""A device whose readings are all refused for a stamp too far ahead is made known: one
``clock`` sensor fault, then ``silent`` on the same episode, and accepted readings end it."""

from __future__ import annotations

from app.alerting.safety import SafetyConfig, SafetyRules

T0 = 1_767_225_600.0


def test_the_clock_fault_of_refused_stamps_is_raised_once_and_silence_follows() -> None:
    rules = SafetyRules(SafetyConfig(silent_s=60, off_delay_s=2))
    rules.watch(["gw"], now=0.0)  # as SafetyService.on_ahead does
    [first] = rules.clock_refused("gw", at=T0, detail="stamped 400 s ahead")
    assert (first.type, first.kind, first.reason, first.detail, first.ts) == (
        "alert.raised",
        "sensor_fault",
        "clock",
        "stamped 400 s ahead",
        T0,
    )
    assert rules.clock_refused("gw", at=T0 + 1, detail="again") == []  # raised once
    [quiet] = rules.silent(61.0, wall_ts=T0 + 61)  # no reading was ever accepted
    assert (quiet.type, quiet.reason, quiet.alert_id) == ("alert.updated", "silent", first.alert_id)
    out = []
    for i in range(4):  # its clock put right: accepted readings end the fault
        out += rules.check("gw", T0 + 100 + i, 420.0, 21.0, 45.0, now=100.0 + i)
    assert [(e.type, e.alert_id) for e in out] == [("alert.resolved", first.alert_id)]


def test_a_device_that_keeps_sending_stamps_ahead_is_not_silent() -> None:
    """Newcomer: stamps 400 s ahead gave ``silent`` ("no reading for 315 s") beside the
    ``clock`` fault while the device kept sending. Silence is judged by receive time: each
    refused reading is heard (``SafetyRules.heard``, as ``SafetyService.on_ahead`` does);
    once it really stops, ``silent`` follows, and a reading heard again ends it."""
    rules = SafetyRules(SafetyConfig(silent_s=60, off_delay_s=2))
    for now in range(0, 200, 10):  # one refused reading every 10 s
        rules.heard(["gw"], now=float(now))
        rules.clock_refused("gw", at=T0 + now, detail="stamped 400 s ahead")
        assert rules.silent(float(now) + 5, wall_ts=T0 + now + 5) == []
    [quiet] = rules.silent(255.0, wall_ts=T0 + 255)  # it stopped at 190 s
    assert (quiet.type, quiet.reason) == ("alert.updated", "silent")
    rules.heard(["gw"], now=260.0)
    [back] = rules.clock_refused("gw", at=T0 + 260, detail="again")
    assert (back.type, back.reason, back.alert_id) == ("alert.updated", "clock", quiet.alert_id)
    assert rules.open_alerts("gw")["sensor_fault"].conditions == ["clock"]  # not silent
    assert rules.silent(300.0, wall_ts=T0 + 300) == []
