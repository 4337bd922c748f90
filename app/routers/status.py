"""Service status, health and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from app.deps import StateDep
from app.routing import StrictRoute
from app.schemas.status import ModelStatus, OverloadStatus, Status
from app.security import VIEWER
from app.services.admission import Admission
from app.services.metrics import render_metrics

router = APIRouter(tags=["status"], route_class=StrictRoute)


@router.get(
    "/api/status",
    response_model=Status,
    summary="Service status and counters",
    dependencies=[VIEWER],
)
async def get_status(state: StateDep) -> Status:
    """Model, devices, throughput counters and subscribers."""
    p = state.predictor
    return Status(
        system_running=True,
        model_status=ModelStatus(
            is_trained=state.settings.model_enabled,
            model_type=p.model_type,
            device=p.device,
            window=state.buffers.window,
            stride=state.settings.stride,
            details=getattr(p, "summary", {}),
        ),
        devices_tracked=len(state.buffers),
        max_devices=state.settings.max_devices,
        readings_accepted=state.ingestor.accepted_total,
        readings_rejected=state.ingestor.rejected_total,
        windows_submitted=state.scorer.windows_submitted,
        windows_scored=state.scorer.windows_scored,
        windows_pending=state.scorer.pending,
        scoring_errors=state.scorer.errors,
        active_alerts=state.active_alerts(),
        events_published=state.log.published,
        last_event_id=state.log.last_event_id,
        subscribers=state.hub.subscribers,
        subscriber_overflows=state.hub.overflows,
        devices_evicted=state.evicted_total,
        overload=_overload(state.admission),
        uptime_s=round(time.time() - state.started_at, 3),
        cluster=None if state.cluster is None else state.cluster.info(),
        mqtt=None if state.mqtt is None else state.mqtt.status(),
    )


def _overload(a: Admission) -> OverloadStatus:
    return OverloadStatus(
        shedding=a.shedding(),
        reason_now=a.reason_now(),
        loop_lag_ms=round(a.lag_s * 1000, 1),
        shed_messages=a.shed_total,
        shed_by_reason={f"{t}:{r}": n for (t, r), n in sorted(a.shed.items())},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (viewer key: Prometheus `authorization` scrape setting)",
    response_class=Response,
    dependencies=[VIEWER],
)
async def metrics(state: StateDep, request: Request) -> Response:
    """Counters, gauges, queue depths and latency histograms in the Prometheus text format."""
    body, content_type = render_metrics(state, getattr(request.app.state, "metrics", None))
    return Response(body, media_type=content_type)
