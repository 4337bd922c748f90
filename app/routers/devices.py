"""Per-device state and readings history."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import StateDep
from app.errors import GasleakError, NotFound
from app.schemas.history import HistoryPoint, ReadingsHistory
from app.schemas.readings import iso
from app.schemas.status import DeviceInfo
from app.state import AppState

router = APIRouter(tags=["devices"])
DEFAULT_SPAN_S = 3600.0


class BadRange(GasleakError):
    """A time range whose end is not after its start."""

    status = 422
    error = "invalid_request"


@router.get(
    "/api/devices/{device_id}",
    response_model=DeviceInfo,
    responses={404: {"description": "Unknown device"}},
    summary="Buffer fill, last reading, last probability and alert state of a device",
)
async def get_device(device_id: str, state: StateDep) -> DeviceInfo:
    """One device's state; 404 when it is not tracked."""
    info = state.buffers.info(device_id)
    if info is None:
        raise NotFound(f"device {device_id!r} is not tracked")
    alert = state.policy.state_of(device_id)
    return DeviceInfo(
        device_id=device_id,
        **{**info, "last_ts": iso(info["last_ts"])},  # type: ignore[arg-type]
        alert_state=alert["state"],
        alert_id=alert["alert_id"],
        severity=alert["severity"],
    )


async def _device_now(state: AppState, device_id: str) -> float:
    """The end of a device's default history range: just after its newest reading (the
    buffer's, else the store's), or now for a device with no reading."""
    info = state.buffers.info(device_id)
    last = info["last_ts"] if info else await state.store.readings.last_ts(device_id)
    return float(last) + 1e-3 if last is not None else time.time()


@router.get(
    "/api/devices/{device_id}/readings",
    response_model=ReadingsHistory,
    response_model_by_alias=True,
    summary="A device's readings over a time range, downsampled",
)
async def get_readings(
    device_id: str,
    state: StateDep,
    start: Annotated[datetime | None, Query(alias="from", description="RFC 3339; "
                                            "default: an hour before `to`")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="RFC 3339; default: just "
                                          "after the device's newest reading (its own last "
                                          "hour, whatever its clock), else now")] = None,
    bucket_s: Annotated[float | None, Query(gt=0, description="Bucket width, s; default: "
                                            "the span / max_points, at least 1 s")] = None,
    max_points: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> ReadingsHistory:
    """Mean/min/max gas and mean temperature and humidity per bucket; empty buckets omitted."""
    t1 = end.timestamp() if end else await _device_now(state, device_id)
    t0 = start.timestamp() if start else t1 - DEFAULT_SPAN_S
    if not t0 < t1:
        raise BadRange([{"field": "from", "reason": "must be before `to`"}])
    width = bucket_s or max(1.0, (t1 - t0) / max_points)
    if math.ceil((t1 - t0) / width) > 10 * max_points:
        width = (t1 - t0) / max_points
    rows = await state.store.readings.history(device_id, start=t0, end=t1, bucket_s=width)
    points = [HistoryPoint(ts=iso(t0 + r["bucket"] * width), n=r["n"],
                           gas_ppm_mean=r["gas_mean"], gas_ppm_min=r["gas_min"],
                           gas_ppm_max=r["gas_max"], temperature_c_mean=r["temp_mean"],
                           humidity_pct_mean=r["rh_mean"]) for r in rows]
    return ReadingsHistory(device_id=device_id, start=iso(t0), end=iso(t1), bucket_s=width,
                           retention_s=state.settings.readings_retention_s, points=points)
