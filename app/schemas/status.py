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


class OverloadStatus(BaseModel):
    """Admission control (app/services/admission.py): what ingestion sheds and why."""

    shedding: bool = Field(description="A message was shed in the last 5 s")
    reason_now: str | None = Field(
        description='Why a message would be shed now: "scoring_queue_full", '
        '"history_queue_full", "event_loop_behind"; null = taken'
    )
    loop_lag_ms: float = Field(description="Event-loop lag at the last probe (every 0.1 s), ms")
    shed_messages: int = Field(description="Messages refused (429 / overloaded frame), all time")
    shed_by_reason: dict[str, int] = Field(
        description='"transport:reason" -> messages, e.g. "ws:scoring_queue_full", '
        '"http:rate_limited"'
    )


class Status(BaseModel):
    """Service health and counters."""

    system_running: bool
    model_status: ModelStatus
    devices_tracked: int
    max_devices: int
    readings_accepted: int
    readings_rejected: int
    windows_submitted: int = Field(description="Windows queued for scoring, all time")
    windows_scored: int
    windows_pending: int
    scoring_errors: int
    active_alerts: int = Field(
        description="Open alerts of every kind (leak, threshold, sensor_fault), acknowledged or "
        "not: an acknowledged alarm whose condition still stands is still active (ISA-18.2, "
        "'active, acknowledged'). `GET /api/alerts?state=active` lists the unacknowledged ones"
    )
    events_published: int
    last_event_id: int
    subscribers: int
    subscriber_overflows: int
    devices_evicted: int
    overload: OverloadStatus
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
