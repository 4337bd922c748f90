"""Wire models for alert events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AlertEvent(BaseModel):
    """One alert event, as pushed on ``/ws/alerts`` and listed by ``GET /api/alerts``."""

    event_id: int = Field(description="Strictly increasing; use it to drop repeats and resume")
    type: Literal["alert.raised", "alert.resolved"]
    alert_id: str = Field(description="Stable id shared by all events of one alert")
    device_id: str
    kind: Literal["leak", "threshold", "sensor_fault"] = Field(
        "leak", description='"leak" (model), "threshold" (gas set point), "sensor_fault"'
    )
    severity: Literal["warning", "critical"]
    probability: float | None = Field(
        None, ge=0, le=1, description="Leak probability of the deciding window (leak only)"
    )
    reason: str | None = Field(
        None, description='sensor_fault: "stuck", "rate_of_change", "out_of_range", "silent"'
    )
    detail: str | None = Field(None, description="Human-readable cause (safety rules)")
    ts: str = Field(description="RFC 3339 time of the reading that caused the event")
    model_type: str = Field(description='"PyTorch LSTM+SVM", "Pure SVM" or "safety rules"')
    published_at: str = Field(description="RFC 3339 time the service published the event")


class AlertList(BaseModel):
    """Recent alert events, newest first."""

    events: list[AlertEvent]
    last_event_id: int = Field(description="Newest event id published so far (0 = none)")
