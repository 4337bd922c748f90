"""Operator actions on a device's signal model."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import StateDep
from app.errors import NotFound
from app.routing import StrictRoute
from app.schemas.readings import DEVICE_ID_PATTERN, iso
from app.schemas.signals import BaselineReset, BaselineResetDone
from app.security import AuditDep, OperatorDep

router = APIRouter(tags=["devices"], route_class=StrictRoute)
log = logging.getLogger(__name__)


@router.post(
    "/api/devices/{device_id}/baseline-reset",
    response_model=BaselineResetDone,
    responses={404: {"description": "Unknown device"}},
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
    air). Its open leak alert, if any, forgets the level kept at its raise and resolves once
    the relearned level shows clean air (after the warm-up), or when acknowledged and
    resolved. Operators and admins only; audited."""
    if not state.buffers.signals.reset(device_id):
        raise NotFound(f"device {device_id!r} is not tracked")
    if state.policy.forget_base(device_id):
        await state.log.publish([])  # the changed state is stored
    done = BaselineResetDone(
        device_id=device_id,
        by=body.by,
        reason=body.reason,
        at=iso(time.time()),
        readings_to_warm=state.buffers.signals.cfg.warmup,
    )
    state.buffers.signals.last_reset[device_id] = done.model_dump()
    log.info("baseline reset: device=%s by=%s reason=%s", device_id, body.by, body.reason)
    await audit.record(
        who, "baseline.reset", target=device_id, detail={"by": body.by, "reason": body.reason}
    )
    return done
