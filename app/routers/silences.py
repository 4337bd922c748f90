"""Silences (maintenance windows): create, list, expire."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SilencesDep
from app.routing import StrictRoute
from app.schemas.silences import SilenceIn, SilenceList, SilenceOut
from app.security import VIEWER, AuditDep, OperatorDep

router = APIRouter(tags=["silences"], route_class=StrictRoute)


@router.post(
    "/api/silences",
    response_model=SilenceOut,
    status_code=201,
    summary="Silence matching alerts for a time",
)
async def create_silence(
    body: SilenceIn, silences: SilencesDep, who: OperatorDep, audit: AuditDep
) -> SilenceOut:
    """Matching alerts are still raised and stored, flagged silenced, not sent to webhooks.
    Operators and admins only; audited."""
    out = await silences.create(body)
    await audit.record(who, "silence.create", target=out.silence_id, detail=out.model_dump())
    return out


@router.get(
    "/api/silences",
    response_model=SilenceList,
    summary="Every silence",
    dependencies=[VIEWER],
)
async def list_silences(silences: SilencesDep) -> SilenceList:
    """Newest first; expired silences stay listed."""
    return SilenceList(silences=silences.list())


@router.delete(
    "/api/silences/{silence_id}",
    response_model=SilenceOut,
    responses={404: {"description": "No such silence"}},
    summary="Expire a silence",
)
async def expire_silence(
    silence_id: str, silences: SilencesDep, who: OperatorDep, audit: AuditDep
) -> SilenceOut:
    """Ends it now; it stays listed as expired. Operators and admins only; audited (once:
    a silence that has ended already is returned as it is, and nothing is recorded)."""
    out, ended = await silences.expire(silence_id)
    if ended:
        await audit.record(who, "silence.expire", target=silence_id)
    return out
