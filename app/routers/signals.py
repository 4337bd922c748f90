"""Operator actions on a device's signal model."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import StateDep, scored_so_far
from app.errors import Conflict, NotFound
from app.routing import StrictRoute
from app.schemas.readings import DEVICE_ID_PATTERN, iso
from app.schemas.signals import BaselineReset, BaselineResetDone
from app.schemas.times import shown
from app.security import AuditDep, OperatorDep

router = APIRouter(tags=["devices"], route_class=StrictRoute)
log = logging.getLogger(__name__)


@router.post(
    "/api/devices/{device_id}/baseline-reset",
    response_model=BaselineResetDone,
    responses={
        404: {"description": "Unknown device"},
        409: {"description": "The device has an open leak alert and `force` is not set"},
    },
    summary="Forget a device's clean-air level and warm up again",
)
async def reset_baseline(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    body: BaselineReset,
    state: StateDep,
    who: OperatorDep,
    audit: AuditDep,
) -> BaselineResetDone:
    """Restart the device's signal model (after a sensor swap, or a level that is now clean
    air). Refused (409) while the device has an open leak alert unless ``force`` is set: a
    level relearned during a leak is the leak's own gas, and the alert would later resolve
    "all clear" on it (newcomer: a reset at 3,419 ppm ended the alarm silently). Forced, the
    alert is resolved now with reason ``baseline_reset`` and a detail naming who, when and
    why.

    Every reset, forced or not, keeps the level before it (and its noise scale) as the
    warm-up's reference (``keeps_old_level`` in the answer): a warm-up that learns a level at
    least the evidence bound above it (4 old noise scales and +22 %) learned gas, not clean
    air, so the old level is kept (device view ``signal.last_reset.level_kept``) and the leak
    is raised. A level learned lower, or less than that bound higher (a recalibration, clean
    air that drifted), is taken as it is. Before, only a reset over an open leak alert kept
    it, and a reset early in a leak, inside the alarm delay, learned the leak as clean air:
    no leak alert at all (newcomer of 7 Dec). For a replaced sensor that reads far higher in
    clean air send ``trust_new_level``: the warm-up then takes whatever level it learns.
    Operators and admins only; audited."""
    await scored_so_far(state)  # a leak in readings already posted counts as open
    if state.buffers.signals.index.get(device_id) is None:
        raise NotFound(f"device {shown(device_id)} is not tracked")
    open_leak = state.policy.open_alert(device_id)
    if open_leak is not None and not body.force:
        raise Conflict(
            [
                {
                    "field": "force",
                    "reason": f"device {shown(device_id)} has an open leak alert "
                    f"{open_leak.alert_id} ({open_leak.severity}, {open_leak.state}): a level "
                    "learned now would be the leak's own gas and the alert would resolve "
                    "'all clear' on it; send force=true to reset anyway and resolve that "
                    "alert as baseline_reset (the level before stays the reference: a new "
                    "one far above it is taken only with trust_new_level=true, when the gas "
                    "is gone and the clean air now reads higher)",
                }
            ]
        )
    # the old level stays the warm-up's reference (a level learned far above it is gas, not
    # clean air: a leak that began before, or during, the warm-up), unless the operator says
    # the new level is clean air (a replaced sensor that reads higher)
    signals = state.buffers.signals
    signals.reset(device_id, keep_reference=not body.trust_new_level)
    now = time.time()
    done = BaselineResetDone(
        device_id=device_id,
        by=body.by,
        reason=body.reason,
        at=iso(now),
        readings_to_warm=signals.cfg.warmup,
        keeps_old_level=signals.keeps_reference(device_id),
    )
    if open_leak is not None:
        why = f": {body.reason}" if body.reason else ""
        event = state.policy.close(
            device_id,
            ts=now,
            reason="baseline_reset",
            detail=f"baseline reset by {body.by} at {done.at}{why}; ended by the operator, "
            "not by clean air",
        )
        if event is not None:
            done.resolved_alert_id = event.alert_id
            await state.log.publish([event])
    signals.last_reset[device_id] = done.model_dump()
    if state.snapshots is not None:  # saved now: a kill before the next save kept the old level
        await state.snapshots.save_devices([device_id])
    log.info(
        "baseline reset: device=%s by=%s reason=%s force=%s resolved=%s keeps_old_level=%s",
        device_id,
        body.by,
        body.reason,
        body.force,
        done.resolved_alert_id,
        done.keeps_old_level,
    )
    detail: dict[str, object] = {"by": body.by, "reason": body.reason}
    if body.trust_new_level:
        detail["trust_new_level"] = True
    if done.resolved_alert_id:
        detail["resolved_alert_id"] = done.resolved_alert_id
    await audit.record(who, "baseline.reset", target=device_id, detail=detail)
    return done
