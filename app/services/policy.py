"""Alert policy: turns each device's stream of leak probabilities into alert events.

Debounce on raise (probability >= ``raise_p`` for ``raise_n`` consecutive windows, the seed
design's 0.7 x 3) and hysteresis on resolve (below ``clear_p`` for ``clear_n`` consecutive
windows). At most one active alert per device; a leak that returns after resolving is a new
alert with a new ``alert_id``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DeviceAlertState:
    """Debounce counters and the active alert of one device."""

    high_run: int = 0
    low_run: int = 0
    alert_id: str | None = None
    severity: str | None = None
    peak: float = 0.0


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Thresholds of :class:`AlertPolicy` (see :class:`app.config.Settings`)."""

    raise_p: float = 0.7
    raise_n: int = 3
    clear_p: float = 0.3
    clear_n: int = 10
    critical_p: float = 0.9


@dataclass
class AlertPolicy:
    """Per-device alert state machine. Not thread-safe: call it from the event loop only."""

    config: PolicyConfig
    model_type: str
    states: dict[str, DeviceAlertState] = field(default_factory=dict)

    def update(self, device_id: str, prob: float, ts: float) -> dict[str, Any] | None:
        """Feed one window's leak probability.

        Args:
            device_id: the device.
            prob: leak probability of its latest window, in [0, 1].
            ts: epoch seconds of the window's last reading.

        Returns:
            An event body (without ``event_id``) when the alert is raised or resolved,
            else None.
        """
        c = self.config
        st = self.states.setdefault(device_id, DeviceAlertState())
        st.high_run = st.high_run + 1 if prob >= c.raise_p else 0
        st.low_run = st.low_run + 1 if prob < c.clear_p else 0
        if st.alert_id is None:
            if st.high_run >= c.raise_n:
                st.alert_id = uuid.uuid4().hex
                st.peak = prob
                st.severity = "critical" if prob >= c.critical_p else "warning"
                return self._event("alert.raised", device_id, st, prob, ts)
            return None
        st.peak = max(st.peak, prob)
        if st.low_run >= c.clear_n:
            event = self._event("alert.resolved", device_id, st, prob, ts)
            st.alert_id = st.severity = None
            st.peak = 0.0
            return event
        return None

    def active(self) -> dict[str, str]:
        """Device id -> active alert id."""
        return {d: s.alert_id for d, s in self.states.items() if s.alert_id}

    def state_of(self, device_id: str) -> dict[str, Any]:
        """The alert state of one device, for the devices endpoint."""
        st = self.states.get(device_id)
        if st is None or st.alert_id is None:
            return {"state": "normal", "alert_id": None, "severity": None}
        return {"state": "active", "alert_id": st.alert_id, "severity": st.severity}

    def forget(self, device_ids: list[str]) -> None:
        """Drop the state of evicted devices."""
        for d in device_ids:
            self.states.pop(d, None)

    def _event(
        self, type_: str, device_id: str, st: DeviceAlertState, prob: float, ts: float
    ) -> dict[str, Any]:
        return {
            "type": type_,
            "alert_id": st.alert_id,
            "device_id": device_id,
            "kind": "leak",
            "severity": st.severity,
            "probability": round(float(prob), 6),
            "ts": ts,
            "model_type": self.model_type,
        }
