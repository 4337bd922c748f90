"""One view of a device's open alerts across every kind (leak, threshold, sensor_fault).

Used by ``GET /api/devices/{id}``, ``GET /api/devices``, ``/api/status`` and the evictor, so
they cannot disagree (issue 8: after one 20,000 ppm reading the status counted two alerts
while the device said "normal").
"""

from __future__ import annotations

from dataclasses import dataclass

from app.alerting.events import AlertState, Kind, Severity
from app.alerting.leak import AlertPolicy
from app.alerting.safety import SafetyRules

#: Worst first: the device's summary state is the first of these among its open alerts.
_STATE_ORDER = (AlertState.ACTIVE, AlertState.CLEARED_UNACKED, AlertState.ACKNOWLEDGED)


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """One open alert of a device. ``conditions``: a sensor_fault's fault conditions
    holding now (:data:`app.alerting.safety.FAULTS` order), None for the other kinds."""

    alert_id: str
    kind: Kind
    severity: Severity
    state: AlertState
    conditions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DeviceAlertView:
    """Open alerts per device, read from the leak policy and the safety rules."""

    policy: AlertPolicy
    rules: SafetyRules

    def of(self, device_id: str) -> list[OpenAlert]:
        """The device's open alerts, leak first, then threshold, then sensor_fault (with
        the fault conditions holding now)."""
        out = []
        leak = self.policy.open_alert(device_id)
        if leak is not None and leak.alert_id and leak.severity and leak.state:
            out.append(
                OpenAlert(leak.alert_id, Kind.LEAK, Severity(leak.severity), AlertState(leak.state))
            )
        for kind, ep in sorted(self.rules.open_alerts(device_id).items()):
            held = tuple(ep.conditions) if kind == Kind.SENSOR_FAULT else None
            out.append(
                OpenAlert(
                    ep.alert_id, Kind(kind), Severity(ep.severity), AlertState(ep.state), held
                )
            )
        return out

    def leak_reference(
        self, device_id: str, z_hold: float, min_log_ratio: float
    ) -> dict[str, float] | None:
        """The open leak alert's kept level, scale and clear bound
        (:meth:`app.alerting.leak.DeviceAlertState.reference`), or None."""
        st = self.policy.open_alert(device_id)
        return None if st is None else st.reference(z_hold, min_log_ratio)

    def raise_windows(self, device_id: str, ts: float) -> int:
        """High windows in a row the leak policy needs of the device at reading time ``ts``
        (epoch s) to raise: ``raise_n``, more once it has shown short bursts
        (:meth:`app.alerting.leak.AlertPolicy.needed_run`)."""
        st = self.policy.states.get(device_id)
        return self.policy.config.raise_n if st is None else self.policy.needed_run(st, ts)

    def summary(self, device_id: str) -> tuple[str, OpenAlert | None]:
        """("normal", None), or the worst state and the most severe open alert."""
        alerts = self.of(device_id)
        if not alerts:
            return "normal", None
        state = next(s for s in _STATE_ORDER if any(a.state == s for a in alerts))
        return state.value, max(alerts, key=lambda a: a.severity.rank)

    def count(self) -> int:
        """Open alerts of every kind over all devices."""
        return len(self.policy.active()) + self.rules.count_open()

    def devices(self) -> set[str]:
        """Devices with at least one open alert of any kind (kept by the evictor)."""
        return set(self.policy.active()) | self.rules.with_open()
