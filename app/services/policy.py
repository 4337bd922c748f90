"""Alert policy: turns each device's stream of leak probabilities into alert events.

Debounce on raise (probability >= ``raise_p`` for ``raise_n`` consecutive windows, the seed
design's 0.7 x 3) and hysteresis on resolve (below ``clear_p`` for ``clear_n`` consecutive
windows). At most one open alert per device; a leak that returns after resolving is a new
alert with a new ``alert_id``.

Lifecycle of an alert: ``active`` -> ``acknowledged`` (an operator's ack, held until the
alert resolves) -> ``resolved``. A warning escalates to critical once (never back) when the
probability reaches ``critical_p``, the gas concentration reaches ``critical_gas_ppm``, or
the alert has been open ``escalate_after_s`` of reading time; each escalation is an
``alert.updated`` event.

Every device whose state changed is remembered in :attr:`AlertPolicy.dirty` so the caller can
persist exactly those states in the same transaction as the events (restart safety). Counters
only move when they matter (``high_run`` while no alert is open, ``low_run`` while one is),
so a quiet device's state does not change window after window and costs no writes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KIND = "leak"


@dataclass(slots=True)
class DeviceAlertState:
    """Debounce counters and the open alert of one device (``alert_id`` None = no alert)."""

    high_run: int = 0
    low_run: int = 0
    alert_id: str | None = None
    severity: str | None = None
    state: str | None = None  # "active" | "acknowledged" while an alert is open
    raised_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy, for the store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceAlertState:
        """Inverse of :meth:`to_dict`; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def is_default(self) -> bool:
        """True when there is nothing worth persisting."""
        return self.alert_id is None and self.high_run == 0 and self.low_run == 0


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Thresholds of :class:`AlertPolicy` (see :class:`app.config.Settings`)."""

    raise_p: float = 0.7
    raise_n: int = 3
    clear_p: float = 0.3
    clear_n: int = 10
    critical_p: float = 0.9
    critical_gas_ppm: float | None = None
    escalate_after_s: float | None = None


@dataclass
class AlertPolicy:
    """Per-device alert state machine. Not thread-safe: call it from the event loop only."""

    config: PolicyConfig
    model_type: str
    states: dict[str, DeviceAlertState] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def update(
        self, device_id: str, prob: float, ts: float, gas_ppm: float | None = None,
        elevated: bool = False,
    ) -> dict[str, Any] | None:
        """Feed one window's leak probability.

        Args:
            device_id: the device.
            prob: leak probability of its latest window, in [0, 1].
            ts: epoch seconds of the window's last reading.
            gas_ppm: gas concentration of that reading, ppm (None = unknown).
            elevated: the gas still stands clearly above the device's pre-episode level;
                an open alert does not count such a window towards clearing.

        Returns:
            An event body (without ``event_id``; ``ts`` epoch seconds) when the alert is
            raised, escalated (``alert.updated``) or resolved, else None.
        """
        c = self.config
        st = self.states.get(device_id) or self.states.setdefault(device_id, DeviceAlertState())
        before = (st.high_run, st.low_run)
        if st.alert_id is None:
            st.high_run = min(st.high_run + 1, c.raise_n) if prob >= c.raise_p else 0
            event = self._maybe_raise(device_id, st, prob, ts, gas_ppm)
        else:
            st.low_run = st.low_run + 1 if prob < c.clear_p and not elevated else 0
            event = self._maybe_resolve_or_escalate(device_id, st, prob, ts, gas_ppm)
        if event is not None or (st.high_run, st.low_run) != before:
            self.dirty.add(device_id)
        return event

    def _maybe_raise(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> dict[str, Any] | None:
        if st.high_run < self.config.raise_n:
            return None
        st.high_run = 0
        st.alert_id = uuid.uuid4().hex
        st.state = "active"
        st.raised_ts = ts
        reason = self._critical_reason(st, prob, ts, gas)
        st.severity = "critical" if reason else "warning"
        return self._event("alert.raised", device_id, st, prob, ts, gas, reason)

    def _maybe_resolve_or_escalate(
        self, device_id: str, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> dict[str, Any] | None:
        if st.low_run >= self.config.clear_n:
            st.state = "resolved"
            event = self._event("alert.resolved", device_id, st, prob, ts, gas, "all clear")
            self.states[device_id] = DeviceAlertState()
            return event
        if st.severity == "warning":
            reason = self._critical_reason(st, prob, ts, gas)
            if reason:
                st.severity = "critical"
                return self._event("alert.updated", device_id, st, prob, ts, gas, reason)
        return None

    def _critical_reason(
        self, st: DeviceAlertState, prob: float, ts: float, gas: float | None
    ) -> str | None:
        c = self.config
        if prob >= c.critical_p:
            return "probability"
        if gas is not None and c.critical_gas_ppm is not None and gas >= c.critical_gas_ppm:
            return "concentration"
        if (c.escalate_after_s is not None and st.raised_ts is not None
                and ts - st.raised_ts >= c.escalate_after_s):
            return "duration"
        return None

    def acknowledge(self, device_id: str, alert_id: str) -> None:
        """Mark the device's open alert acknowledged (no-op when ``alert_id`` is not open)."""
        st = self.states.get(device_id)
        if st is not None and st.alert_id == alert_id:
            st.state = "acknowledged"
            self.dirty.add(device_id)

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        """States changed since the last call: device -> state dict, or None to delete."""
        out: dict[str, dict[str, Any] | None] = {}
        for d in self.dirty:
            st = self.states.get(d)
            out[d] = None if st is None or st.is_default() else st.to_dict()
        self.dirty.clear()
        return out

    def restore(self, saved: dict[str, dict[str, Any]]) -> None:
        """Load persisted states (at start-up)."""
        for d, data in saved.items():
            self.states[d] = DeviceAlertState.from_dict(data)

    def active(self) -> dict[str, str]:
        """Device id -> open (active or acknowledged) alert id."""
        return {d: s.alert_id for d, s in self.states.items() if s.alert_id}

    def state_of(self, device_id: str) -> dict[str, Any]:
        """The alert state of one device, for the devices endpoint."""
        st = self.states.get(device_id)
        if st is None or st.alert_id is None:
            return {"state": "normal", "alert_id": None, "severity": None}
        return {"state": st.state, "alert_id": st.alert_id, "severity": st.severity}

    def forget(self, device_ids: list[str]) -> None:
        """Drop the state of evicted devices (persisted as deletions)."""
        for d in device_ids:
            if self.states.pop(d, None) is not None:
                self.dirty.add(d)

    def _event(
        self, type_: str, device_id: str, st: DeviceAlertState, prob: float, ts: float,
        gas: float | None, reason: str | None,
    ) -> dict[str, Any]:
        return {
            "type": type_,
            "alert_id": st.alert_id,
            "device_id": device_id,
            "kind": KIND,
            "severity": st.severity,
            "state": st.state,
            "probability": round(float(prob), 6),
            "gas_ppm": None if gas is None else round(float(gas), 3),
            "reason": reason,
            "ack": None,
            "ts": ts,
            "model_type": self.model_type,
        }
