"""Wire models for the status and device endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelStatus(BaseModel):
    """What model scores the windows."""

    is_trained: bool
    model_type: str = Field(description='"PyTorch LSTM+SVM" or "Pure SVM"')
    device: str = Field(description='"cpu" or "cuda:0"')
    window: int = Field(description="Readings per window")
    stride: int = Field(description="A full window is scored every `stride` readings")
    details: dict[str, Any] = Field(default_factory=dict, description="From the model manifest")


class Status(BaseModel):
    """Service health and counters."""

    system_running: bool
    model_status: ModelStatus
    devices_tracked: int
    max_devices: int
    readings_accepted: int
    readings_rejected: int
    windows_scored: int
    windows_pending: int
    scoring_errors: int
    active_alerts: int
    events_published: int
    last_event_id: int
    subscribers: int
    subscriber_overflows: int
    devices_evicted: int
    uptime_s: float


class LastReading(BaseModel):
    """The newest stored reading of a device."""

    gas_ppm: float
    temperature_c: float
    humidity_pct: float


class SignalInfo(BaseModel):
    """The device's clean-air level, noise scale and warm-up."""

    state: Literal["warming_up", "ready"] = Field(
        description="warming_up: not scored for leaks yet (the safety set points already apply)"
    )
    readings_to_warm: int = Field(description="Readings still needed before leak scoring")
    level: float | None = Field(description="Clean-air level (baseline), gas unit")
    noise_scale: float | None = Field(description="Noise scale (robust sd), gas unit")
    z: float | None = Field(description="Last reading above the level, in noise scales")
    held: bool = Field(description="Level held by an open leak episode")
    restarts: int = Field(description="Warm-ups restarted by a data gap or a baseline reset")
    last_reset: dict[str, Any] | None = Field(
        None, description="The last operator baseline reset: by, reason, at (RFC 3339)"
    )


class DeviceInfo(BaseModel):
    """One tracked device: buffer fill, last reading, last probability, alert state."""

    device_id: str
    readings_seen: int
    buffer_fill: int = Field(description="Readings in the window buffer (full at `window`)")
    window: int
    last_ts: str = Field(description="RFC 3339 time of the newest reading")
    last_reading: LastReading
    signal: SignalInfo = Field(description="The device's online signal model (app/ml/signal.py)")
    gas_baseline: float | None = Field(
        description="The signal model's clean-air level, same unit as gas (null while warming up)"
    )
    last_probability: float | None = Field(
        description="Leak score of the last window (the model's probability behind the "
        "evidence gate; null before the first scored window)"
    )
    alert_state: str = Field(description='"normal" or "active"')
    alert_id: str | None
    severity: str | None
