"""Devices: the registry list, one device's view, profiles, readings history."""

from __future__ import annotations

import math
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app.deps import DevicesDep, ReadingsRepoDep, SettingsDep
from app.errors import GasleakError, NotFound
from app.routing import StrictRoute
from app.schemas.alerts import Kind
from app.schemas.devices import DeviceInfo, DevicePage, Profile, ProfilePatch
from app.schemas.history import HistoryPoint, ReadingsHistory
from app.schemas.readings import DEVICE_ID_PATTERN, iso
from app.schemas.times import LINE, UtcDateTime, shown
from app.security import VIEWER, AdminDep, AuditDep

router = APIRouter(tags=["devices"], route_class=StrictRoute)
DEFAULT_SPAN_S = 3600.0
MIN_BUCKET_S, MAX_BUCKET_S = 1e-3, 100 * 365.25 * 86_400.0


ForceQuery = Annotated[
    bool,
    Query(
        description="Change the unit although the device has open alerts (resolved now as "
        "`unit_changed`), change a raw device's `zero` / `polarity` although its leak alert "
        "is open (resolved now as `zero_changed`), or remove a raw device's set points "
        "although its threshold alarm is open (resolved now as `set_points_removed`); "
        "without it: 409 naming them"
    ),
]
#: A device's summary state (``DeviceAlertView.summary``): one type, so a bad value is one
#: error listing them all (a union named ``state.0.literal['normal']``: newcomer).
DeviceState = Literal["normal", "active", "cleared_unacked", "acknowledged"]
ReasonQuery = Annotated[
    str | None,
    Query(
        max_length=500,
        pattern=LINE,
        description="Why (kept in the detail of the events that close a disabled device's alerts)",
    ),
]


class BadRange(GasleakError):
    """A time range whose end is not after its start."""

    status = 422
    error = "invalid_request"


@router.get(
    "/api/devices",
    response_model=DevicePage,
    summary="Registered devices",
    dependencies=[VIEWER],
)
async def list_devices(
    devices: DevicesDep,
    alert_state: Annotated[
        list[DeviceState] | None,
        Query(alias="state", description="Its summary state (normal: no open alert)"),
    ] = None,
    kind: Annotated[list[Kind] | None, Query(description="Has an open alert of this kind")] = None,
    cursor: Annotated[
        str | None,
        Query(description="next_cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DevicePage:
    """By device id; every device that sent a reading is registered (default profile)."""
    return devices.list(
        states=None if alert_state is None else [str(s) for s in alert_state],
        kinds=None if kind is None else [str(k) for k in kind],
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/api/devices/{device_id}",
    response_model=DeviceInfo,
    responses={404: {"description": "Unknown device"}},
    summary="Profile, open alerts of every kind, buffer fill, last reading and probability",
    dependencies=[VIEWER],
)
async def get_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)], devices: DevicesDep
) -> DeviceInfo:
    """404 when the device is neither registered nor in memory."""
    return devices.get(device_id)


@router.put(
    "/api/devices/{device_id}",
    response_model=DeviceInfo,
    summary="Set a device's whole profile (registers it when unknown)",
    responses={
        409: {
            "description": "A unit change while the device has open alerts, or set points "
            "removed while its threshold alarm is open, without `force`"
        }
    },
)
async def put_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    body: Profile,
    devices: DevicesDep,
    who: AdminDep,
    audit: AuditDep,
    reason: ReasonQuery = None,
    force: ForceQuery = False,
) -> DeviceInfo:
    """Set points apply from the device's next reading. Disabling a device resolves its open
    alerts (`reason` `device_disabled`, naming who and why). A unit change is refused (409)
    while the device has open alerts unless `force` (then resolved as `unit_changed`), and
    restarts its warm-up; removing a raw device's set points is refused likewise while its
    threshold alarm is open (`set_points_removed`). A change of a raw device's `zero` /
    `polarity` restarts its warm-up, and is refused while its leak alert is open unless
    `force` (`zero_changed`). Admins only; audited."""
    info = await devices.put(device_id, body, by=who.label, reason=reason, force=force)
    detail = body.model_dump(mode="json") | ({"force": True} if force else {})
    await audit.record(who, "device.put", target=device_id, detail=detail)
    return info


@router.patch(
    "/api/devices/{device_id}",
    response_model=DeviceInfo,
    summary="Change some fields of a device's profile (registers it when unknown)",
    responses={
        409: {
            "description": "A unit change while the device has open alerts, or set points "
            "removed while its threshold alarm is open, without `force`; a unit change "
            "that would drop the device's own set points (or raw zero) it cannot convert"
        }
    },
)
async def patch_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    body: ProfilePatch,
    devices: DevicesDep,
    who: AdminDep,
    audit: AuditDep,
    reason: ReasonQuery = None,
    force: ForceQuery = False,
) -> DeviceInfo:
    """Fields left out keep their value (the default profile's for a device not known yet,
    which this registers, as `PUT` does). A unit change converts the device's own set points
    between ppm and ppb (exact: x 1,000); to or from any other unit it is refused (409
    naming `unit`) while the device has its own set points (or, between counts and mV, a
    `zero`) unless the request gives them (new values, or null to remove them). It clears
    what the new unit cannot have (a raw `zero` and `falling` polarity on a concentration,
    %LEL set points on a raw unit); the audit entry records what was converted or
    cleared. Disabling a device resolves its open alerts
    (`reason` `device_disabled`, naming who and why). A unit change is refused (409) while
    the device has open alerts unless `force` (then resolved as `unit_changed`), and
    restarts its warm-up; removing a raw device's set points is refused likewise while its
    threshold alarm is open (`set_points_removed`). A change of a raw device's `zero` /
    `polarity` restarts its warm-up, and is refused while its leak alert is open unless
    `force` (`zero_changed`). Admins only; audited."""
    info, effects = await devices.patch(device_id, body, by=who.label, reason=reason, force=force)
    await audit.record(
        who,
        "device.patch",
        target=device_id,
        detail=body.model_dump(mode="json", exclude_unset=True)
        | ({"force": True} if force else {})
        | effects,
    )
    return info


@router.get(
    "/api/devices/{device_id}/readings",
    response_model=ReadingsHistory,
    response_model_by_alias=True,
    summary="A device's readings over a time range, downsampled",
    responses={404: {"description": "Unknown device: never registered, nothing stored"}},
    dependencies=[VIEWER],
)
async def get_readings(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    repo: ReadingsRepoDep,
    devices: DevicesDep,
    settings: SettingsDep,
    start: Annotated[
        UtcDateTime | None,
        Query(alias="from", description="RFC 3339 with a UTC offset; default: an hour before `to`"),
    ] = None,
    end: Annotated[
        UtcDateTime | None,
        Query(
            alias="to",
            description="RFC 3339 with a UTC offset; default: just "
            "after the device's newest reading (its own last "
            "hour, whatever its clock), else now",
        ),
    ] = None,
    bucket_s: Annotated[
        float | None,
        Query(
            ge=MIN_BUCKET_S,
            le=MAX_BUCKET_S,
            allow_inf_nan=False,
            description="Bucket width, s, from 1 ms (the resolution of reading times) to 100 "
            "years; default: the span / max_points, at least 1 s. A width that would make "
            "more than 10 x max_points buckets over the range is widened to the span / "
            "max_points without an error (`bucket_s=0.001` over 7 h with the default "
            "max_points answers with buckets of 50.4 s): the answer's `bucket_s` is the "
            "width used",
        ),
    ] = None,
    max_points: Annotated[
        int,
        Query(
            ge=1,
            le=10_000,
            description="Buckets wanted by default; a `bucket_s` giving more than 10 x this "
            "many is widened to the span / max_points",
        ),
    ] = 500,
) -> ReadingsHistory:
    """Mean/min/max gas and mean temperature and humidity per bucket; empty buckets omitted.
    404 for a device that is neither known nor has stored readings, as
    ``GET /api/devices/{device_id}`` (an empty history for a mistyped id hid the typo:
    newcomer of 1 Dec 11:40); a known device with no reading in the range is an empty list."""
    last = await repo.last_ts(device_id)
    if last is None and not devices.known(device_id):
        raise NotFound(f"device {shown(device_id)} is not known and has no stored reading")
    t1 = end.timestamp() if end else (float(last) + 1e-3 if last is not None else time.time())
    t0 = start.timestamp() if start else t1 - DEFAULT_SPAN_S
    if not t0 < t1:
        raise BadRange([{"field": "from", "reason": "must be before `to`"}])
    width = bucket_s or max(1.0, (t1 - t0) / max_points)
    if math.ceil((t1 - t0) / width) > 10 * max_points:
        width = (t1 - t0) / max_points
    rows = await repo.history(device_id, start=t0, end=t1, bucket_s=width)
    points = [
        HistoryPoint(
            ts=iso(t0 + r["bucket"] * width),
            n=r["n"],
            gas_ppm_mean=r["gas_mean"],
            gas_ppm_min=r["gas_min"],
            gas_ppm_max=r["gas_max"],
            temperature_c_mean=r["temp_mean"],
            humidity_pct_mean=r["rh_mean"],
        )
        for r in rows
    ]
    return ReadingsHistory(
        device_id=device_id,
        start=iso(t0),
        end=iso(t1),
        bucket_s=width,
        retention_s=settings.readings_retention_s,
        points=points,
    )
