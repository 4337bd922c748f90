"""The one typed alert event, its enums, and its one serialisation to the wire.

Every event the service stores, pushes on ``/ws/alerts`` and sends to webhooks is an
:class:`AlertEvent` turned into JSON by :meth:`AlertEvent.to_wire`; nothing downstream fills
in keys. The wire keys are those documented in README ("Alert events"): the original ones,
plus ``gas_pct_lel``, ``silenced`` and ``episode`` (issue 10), and ``gas`` / ``gas_unit``.

Gas values are in the deciding device's own unit (its profile's ``unit``: ppm, ppb, %LEL,
counts or mV), named by ``gas_unit``: ``gas`` and the episode's ``*_gas`` keys carry them. The older
keys ``gas_ppm`` and the episode's ``*_gas_ppm`` are kept for ppm devices only and are null
for any other unit (a value in mV labelled ppm was a lie; newcomer); they are deprecated in
favour of ``gas`` + ``gas_unit``. ``gas_unit`` null: an alert stored before units were kept
(its value in ``gas_ppm`` as it was stored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.schemas.readings import iso


class Kind(StrEnum):
    """What raised an alert: the model (leak) or a safety rule (threshold, sensor_fault)."""

    LEAK = "leak"
    THRESHOLD = "threshold"
    SENSOR_FAULT = "sensor_fault"


class Severity(StrEnum):
    """Alert severity, ordered by :attr:`rank`."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 critical."""
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def higher(severity: Severity, peak: Severity | None) -> Severity:
    """The more severe of ``severity`` and ``peak`` (None: ``severity``): an alert's peak
    severity after an event of ``severity``."""
    return severity if peak is None or severity.rank > peak.rank else peak


def reaches(severity: Severity, peak: Severity | None, min_severity: Severity | None) -> bool:
    """The one minimum-severity rule: whether an event of ``severity``, whose alert's
    highest severity before it was ``peak`` (None: no earlier event known), passes
    ``min_severity`` (None: every event). It is judged on the alert, not the event alone:
    once an alert has reached ``min_severity``, all its later events pass (a critical alarm
    de-escalated to warning is followed to its end). ``/ws/alerts?min_severity=``
    (:meth:`app.services.hub.EventFilter.wants`, and its replay query
    ``Store.events_after``), silences (:meth:`app.alerting.silences.Silence.matches`) and
    ``GET /api/alerts?severity=`` (on the stored ``peak_severity``) all follow it."""
    return min_severity is None or higher(severity, peak).rank >= min_severity.rank


class AlertState(StrEnum):
    """An alert's state. ``cleared_unacked``: a latched critical threshold alarm whose gas has
    cleared but which nobody has acknowledged yet (README "Alarm states")."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED_UNACKED = "cleared_unacked"
    RESOLVED = "resolved"


class EventType(StrEnum):
    """What happened to the alert."""

    RAISED = "alert.raised"
    UPDATED = "alert.updated"
    ACKNOWLEDGED = "alert.acknowledged"
    RESOLVED = "alert.resolved"
    REMINDER = "alert.reminder"


OPEN_STATES = frozenset({AlertState.ACTIVE, AlertState.ACKNOWLEDGED, AlertState.CLEARED_UNACKED})


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def ppm_or_none(x: float | None, unit: str | None) -> float | None:
    """``x`` for the deprecated ``*_gas_ppm`` keys: itself when ``unit`` is ppm (or unknown:
    stored before units were kept), None for any other unit (ppb, %LEL, counts, mV)."""
    return x if unit in (None, "ppm") else None


@dataclass(frozen=True, slots=True)
class Ack:
    """Who acknowledged an alert, and why."""

    author: str
    comment: str


_EPISODE_FIELDS = (
    "opened_ts",
    "opened_gas_ppm",
    "opened_probability",
    "last_probability",
    "last_gas_ppm",
    "peak_probability",
    "peak_gas_ppm",
    "peak_ts",
    "by_probability",
)


@dataclass(frozen=True, slots=True)
class Episode:
    """Context of one alert episode as an event carries it: first, last and peak values,
    and the opening reading (a snapshot of :class:`EpisodeStats`).

    ``peak_gas_ppm`` is the highest gas concentration of the episode and ``peak_ts`` that
    reading's time, epoch s; ``peak_probability`` the highest leak probability for
    ``kind="leak"`` (a leak episode without gas values takes ``peak_ts`` at it). A leak's peak
    was once taken at its highest probability only, which saturates near 1: an alert raised
    at 600 ppm kept that peak through 4,800 ppm (newcomer).
    Probabilities are in [0, 1] (None without a model); gas in the device's unit (the
    event's ``gas_unit``; the attribute names keep ``_ppm`` for the stored form).
    """

    opened_ts: float
    opened_gas_ppm: float | None
    opened_probability: float | None
    last_probability: float | None
    last_gas_ppm: float | None
    peak_probability: float | None
    peak_gas_ppm: float | None
    peak_ts: float
    by_probability: bool = False

    def to_wire(self, unit: str | None = "ppm") -> dict[str, Any]:
        """The ``episode`` object of events and alerts; gas values in ``unit`` under the
        ``*_gas`` keys, and under the deprecated ``*_gas_ppm`` keys only for ppm
        (:func:`ppm_or_none`)."""
        first, last, peak = (
            _r(x, 3) for x in (self.opened_gas_ppm, self.last_gas_ppm, self.peak_gas_ppm)
        )
        return {
            "opened_at": iso(self.opened_ts),
            "opened_gas_ppm": ppm_or_none(first, unit),
            "first_probability": _r(self.opened_probability, 6),
            "last_probability": _r(self.last_probability, 6),
            "peak_probability": _r(self.peak_probability, 6),
            "first_gas_ppm": ppm_or_none(first, unit),
            "last_gas_ppm": ppm_or_none(last, unit),
            "peak_gas_ppm": ppm_or_none(peak, unit),
            "first_gas": first,
            "last_gas": last,
            "peak_gas": peak,
            "peak_at": iso(self.peak_ts),
        }


@dataclass(slots=True)
class EpisodeStats:
    """The running context of an open episode, updated in place per reading or window
    (cheap: no object per reading); :meth:`freeze` makes the :class:`Episode` of an event."""

    opened_ts: float
    opened_gas_ppm: float | None
    opened_probability: float | None
    last_probability: float | None
    last_gas_ppm: float | None
    peak_probability: float | None
    peak_gas_ppm: float | None
    peak_ts: float
    by_probability: bool = False

    @classmethod
    def open(
        cls, ts: float, prob: float | None, gas: float | None, *, by_probability: bool
    ) -> EpisodeStats:
        """The context at the reading (or window) that opens an alert."""
        return cls(ts, gas, prob, prob, gas, prob, gas, ts, by_probability)

    def observe(
        self, ts: float, prob: float | None, gas: float | None, *, sign: float = 1.0
    ) -> bool:
        """One more reading (or window) of the episode; True when it is a new peak.
        ``sign`` -1: the peak is the lowest gas (a falling device's threshold alarm, whose
        worst reading is its lowest one)."""
        self.last_probability, self.last_gas_ppm = prob, gas
        higher = gas is not None and (
            self.peak_gas_ppm is None or sign * gas > sign * self.peak_gas_ppm
        )
        if not self.by_probability:
            if higher:
                self.peak_probability, self.peak_gas_ppm, self.peak_ts = prob, gas, ts
            return higher
        more_p = prob is not None and (
            self.peak_probability is None or prob > self.peak_probability
        )
        if more_p:
            self.peak_probability = prob
            if self.peak_gas_ppm is None and gas is None:
                self.peak_ts = ts
        if higher:
            self.peak_gas_ppm, self.peak_ts = gas, ts
        return higher or more_p

    def freeze(self) -> Episode:
        """An immutable copy for an event."""
        return Episode(*(getattr(self, f) for f in _EPISODE_FIELDS))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpisodeStats:
        """From the stored form (``dataclasses.asdict``); unknown keys are ignored."""
        return cls(**{k: d[k] for k in _EPISODE_FIELDS if k in d})


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of one alert.

    Args:
        type, alert_id, device_id, kind, severity: what and whom.
        state: the alert's state after this event.
        ts: epoch seconds of the reading (or the ack / reminder wall time) behind the event.
        probability: leak probability of the deciding window, [0, 1]; None for safety rules.
        gas_ppm: gas of the deciding reading, in ``gas_unit`` (the attribute keeps its old
            name, the store's column; on the wire it is ``gas``, and ``gas_ppm`` only for a
            ppm device). gas_unit: the device's unit (``app.alerting.profiles.UNITS``; None:
            stored before units were kept). gas_pct_lel: the gas in % of the device's gas
            LEL (None when the gas is not configured; see ``profiles.py``).
        reason: short machine-readable cause; detail: human-readable cause.
        ack: for ``alert.acknowledged``. model_type: "PyTorch LSTM+SVM", "Pure SVM",
            "safety rules", or None (acknowledgements, reminders).
        episode: first/last/peak context of the alert so far.
        silenced: a silence matched the event when it was stored (not sent to webhooks).
    """

    type: EventType
    alert_id: str
    device_id: str
    kind: Kind
    severity: Severity
    state: AlertState
    ts: float
    probability: float | None = None
    gas_ppm: float | None = None
    gas_pct_lel: float | None = None
    reason: str | None = None
    detail: str | None = None
    ack: Ack | None = None
    gas_unit: str | None = "ppm"
    model_type: str | None = None
    episode: Episode | None = None
    silenced: bool = False

    def with_(self, **changes: Any) -> AlertEvent:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_wire(self, *, published_at: float, event_id: int | None = None) -> dict[str, Any]:
        """The JSON object of this event (``event_id`` first when given); times RFC 3339."""
        out: dict[str, Any] = {} if event_id is None else {"event_id": event_id}
        out.update(
            {
                "type": self.type.value,
                "alert_id": self.alert_id,
                "device_id": self.device_id,
                "kind": self.kind.value,
                "severity": self.severity.value,
                "state": self.state.value,
                "probability": _r(self.probability, 6),
                "gas": _r(self.gas_ppm, 3),
                "gas_unit": self.gas_unit,
                "gas_ppm": ppm_or_none(_r(self.gas_ppm, 3), self.gas_unit),
                "gas_pct_lel": _r(self.gas_pct_lel, 3),
                "reason": self.reason,
                "detail": self.detail,
                "ack": None
                if self.ack is None
                else {"author": self.ack.author, "comment": self.ack.comment},
                "ts": iso(self.ts),
                "model_type": self.model_type,
                "episode": None if self.episode is None else self.episode.to_wire(self.gas_unit),
                "silenced": self.silenced,
                "published_at": iso(published_at),
            }
        )
        return out
