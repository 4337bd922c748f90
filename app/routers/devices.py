"""Per-device state."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import StateDep
from app.errors import NotFound
from app.schemas.readings import iso
from app.schemas.status import DeviceInfo

router = APIRouter(tags=["devices"])


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
