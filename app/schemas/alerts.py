"""Wire models for alerts, alert events, acknowledgements and webhook deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.alerting.events import AlertState, EventType, Kind, Severity
from app.schemas.readings import DEVICE_ID_PATTERN
from app.schemas.times import LINE, TEXT

#: Largest event id, cursor or ``since`` accepted: the store's 64-bit signed integer
#: (SQLite INTEGER, PostgreSQL BIGINT); a larger number is refused naming the field.
MAX_ID = 2**63 - 1

#: The unit of an event's or alert's gas values (``app.alerting.profiles.UNITS``).
GasUnit = Literal["ppm", "ppb", "%LEL", "counts", "mV"]

__all__ = ["AlertState", "EventType", "Kind", "Severity"]


class Ack(BaseModel):
    """Who acknowledged an alert and why."""

    author: str
    comment: str


class EpisodeOut(BaseModel):
    """First, last and peak values of an alert episode, and the reading that opened it.

    The peak is the highest leak probability for ``kind="leak"``, the highest gas for the
    safety rules; ``peak_at`` is its reading time.
    """

    opened_at: str = Field(
        description="RFC 3339 time of the reading that opened the alert, on its device's "
        "time line: the reading's ts, or the server's receipt time when that stamp was "
        "refused as out of order or the device's clock is stuck or reset (sensor_fault "
        '"clock")'
    )
    opened_gas_ppm: float | None = Field(
        description="Deprecated: first_gas when the device's unit is ppm, else null"
    )
    first_probability: float | None
    last_probability: float | None
    peak_probability: float | None
    first_gas_ppm: float | None = Field(
        description="Deprecated: first_gas when the device's unit is ppm, else null"
    )
    last_gas_ppm: float | None = Field(
        description="Deprecated: last_gas when the device's unit is ppm, else null"
    )
    peak_gas_ppm: float | None = Field(
        description="Deprecated: peak_gas when the device's unit is ppm, else null"
    )
    first_gas: float | None = Field(
        None, description="Gas of the opening reading, in the event's or alert's gas_unit"
    )
    last_gas: float | None = Field(None, description="Gas of the latest reading, in gas_unit")
    peak_gas: float | None = Field(None, description="Highest gas of the episode, in gas_unit")
    peak_at: str


class EventOut(BaseModel):
    """One alert event, as pushed on ``/ws/alerts``, sent to webhooks and stored
    (serialised by ``app.alerting.events.AlertEvent.to_wire``).

    Delivery is at least once (a resumed subscriber or a retried webhook may see an event
    again): drop any event whose ``event_id`` you have already handled.
    """

    model_config = ConfigDict(extra="allow")

    event_id: int = Field(
        description="Strictly increasing, across restarts too; use it to "
        "drop repeats and to resume with ?since="
    )
    type: EventType
    alert_id: str = Field(description="Stable id shared by all events of one alert")
    device_id: str
    kind: Kind
    severity: Severity
    state: AlertState = Field(description="The alert's state after this event")
    probability: float | None = Field(
        None, ge=0, le=1, description="Leak probability of the deciding window"
    )
    gas: float | None = Field(
        None, description="Gas of the deciding reading, in gas_unit (the device's own unit)"
    )
    gas_unit: GasUnit | None = Field(
        None,
        description="Unit of gas and of the episode's *_gas values: the device profile's "
        "unit (ppm, ppb, %LEL, counts or mV); null for an event stored before units were kept",
    )
    gas_ppm: float | None = Field(
        None,
        description="Deprecated (use gas + gas_unit): gas when gas_unit is ppm, null for "
        "any other unit",
    )
    gas_pct_lel: float | None = Field(
        None,
        description="The gas in % of the LEL of the "
        "device's gas; null when its gas is not configured or its unit is raw",
    )
    reason: str | None = Field(
        None,
        description='Why: leak escalation "probability", '
        '"concentration" or "duration", leak re-alarm "worsened" (the leak grew) or '
        '"recurred" (it came back while its alert waited out the off-delay); '
        'threshold "low", "high", '
        '"escalated", "de-escalated", "cleared_unacked", "gas_returned", "recurred" (gas '
        "back at an acknowledged chattering alarm after the clear condition held for the "
        "plain off-delay); "
        'sensor_fault "stuck", "rate_of_change", "out_of_range", "ambient_out_of_range" '
        "(the temperature or humidity outside its physical range: the T/RH probe failed), "
        '"silent", "clock", "dropout" (the gas reads as a sensor at 0); "all clear", '
        '"acknowledged", "reminder"',
    )
    detail: str | None = Field(None, description="Human-readable cause (safety rules)")
    ack: Ack | None = None
    ts: str = Field(
        description="RFC 3339 time of the reading (or ack) that caused the event: the "
        "reading's ts, or its receipt time when the stamp was refused as out of order or "
        'the device\'s clock is stuck or reset (sensor_fault "clock")'
    )
    model_type: str | None = Field(
        None,
        description='"PyTorch LSTM+SVM", "Pure SVM" or '
        '"safety rules"; null for an acknowledgement or reminder',
    )
    episode: EpisodeOut | None = Field(None, description="The alert's context so far")
    silenced: bool = Field(False, description="A silence matched: stored, not sent to webhooks")
    published_at: str = Field(description="RFC 3339 time the service stored the event")


class EventList(BaseModel):
    """Stored events after a given id, oldest first."""

    events: list[EventOut]
    last_event_id: int = Field(description="Newest event id published so far (0 = none)")


class Acknowledgement(BaseModel):
    """An acknowledgement as stored on the alert."""

    author: str
    comment: str
    at: str = Field(description="RFC 3339")


class Alert(BaseModel):
    """One alert from raise to resolve."""

    alert_id: str
    device_id: str
    kind: Kind
    state: AlertState
    severity: Severity = Field(description="Severity at the latest event")
    peak_severity: Severity = Field(
        description="Highest severity of its events so far: what the severity filter of "
        "GET /api/alerts, a silence's min_severity and /ws/alerts min_severity judge (a "
        "critical alarm de-escalated to warning stays critical here)"
    )
    probability: float | None = Field(description="Probability at the latest event")
    gas: float | None = Field(None, description="Gas at the latest event, in gas_unit")
    gas_unit: GasUnit | None = Field(
        None, description="The device's unit at the event (null: stored before units were kept)"
    )
    gas_ppm: float | None = Field(
        description="Deprecated (use gas + gas_unit): gas when gas_unit is ppm (or null), "
        "null for any other unit"
    )
    gas_pct_lel: float | None = Field(None, description="The same in %LEL (gas configured)")
    opened_at: str = Field(
        description="RFC 3339 time of the raising reading (its ts, or its receipt time when "
        "the stamp was refused or the clock is broken: see EpisodeOut.opened_at)"
    )
    updated_at: str
    resolved_at: str | None
    acknowledged: Acknowledgement | None
    last_event_id: int
    episode: EpisodeOut | None = Field(None, description="First/last/peak values, opening")
    silenced: bool = Field(False, description="Its latest event matched a silence")


class AlertDetail(Alert):
    """An alert with all its events, oldest first."""

    events: list[EventOut]


class AlertPage(BaseModel):
    """A page of alerts, newest first."""

    alerts: list[Alert]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null = end")
    last_event_id: int


class AckRequest(BaseModel):
    """Body of ``POST /api/alerts/{alert_id}/ack``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    author: str = Field(min_length=1, max_length=128, pattern=LINE, examples=["j.doe (shift lead)"])
    comment: str = Field("", max_length=2000, pattern=TEXT, examples=["Crew on site, valve closed"])


class Delivery(BaseModel):
    """One event for one webhook receiver."""

    delivery_id: int
    url: str
    event_id: int
    status: Literal["pending", "delivered", "expired"]
    attempts: int
    created_at: str
    next_attempt_at: str | None = Field(description="When the next try is due (pending only)")
    last_attempt_at: str | None
    last_status: int | None = Field(description="HTTP status of the last attempt")
    last_error: str | None
    delivered_at: str | None


class DeliveryPage(BaseModel):
    """Deliveries oldest first, and per-receiver counts by status."""

    deliveries: list[Delivery]
    next_cursor: str | None
    receivers: dict[str, dict[str, int]] = Field(
        description="URL -> status -> deliveries (all time)"
    )


class AlertFilter(BaseModel):
    """Query parameters of ``/ws/alerts``, validated after the handshake so that a bad one
    gets an error frame naming the field (a refused handshake can carry no reason)."""

    model_config = ConfigDict(extra="forbid")

    #: Each a device id, as the REST filters check it: an empty ``?device_id=`` is refused
    #: (it was a filter that matched nothing, so the subscriber heard no event at all).
    device_id: list[Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]] | None = None
    kind: list[Kind] | None = None
    min_severity: Severity | None = None
    since: int | None = Field(
        None, ge=0, le=MAX_ID, description="Replay stored events after this id"
    )
    include_silenced: bool = Field(False, description="Also events that a silence matched")
