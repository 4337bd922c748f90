"""Wire models for the status and device endpoints."""

from __future__ import annotations

from typing import Any

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
    cluster: dict[str, Any] | None = Field(
        None,
        description="Cluster mode only (docs/CLUSTER.md): replica_id, partitions, members, "
        "owned and ready partitions, readings_processed by this replica as partition owner, "
        "duplicates_dropped (redelivered readings), takeovers, releases, leases_lost",
    )
    mqtt: dict[str, Any] | None = Field(
        None,
        description="MQTT link (null without GASLEAK_MQTT_URL): broker, client_id, connected, "
        "last_error, messages, bad_messages (a reading refused or not readings at all), "
        "duplicates (QoS 1 redeliveries dropped), alerts_published, errors_published, "
        "errors_dropped, connects, outbox_overflows",
    )
