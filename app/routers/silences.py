"""Silences (maintenance windows): create, list, expire."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SilencesDep
from app.schemas.silences import SilenceIn, SilenceList, SilenceOut

router = APIRouter(tags=["silences"])


@router.post(
    "/api/silences",
    response_model=SilenceOut,
    status_code=201,
    summary="Silence matching alerts for a time",
)
async def create_silence(body: SilenceIn, silences: SilencesDep) -> SilenceOut:
    """Matching alerts are still raised and stored, flagged silenced, not sent to webhooks."""
    return await silences.create(body)


@router.get("/api/silences", response_model=SilenceList, summary="Every silence")
async def list_silences(silences: SilencesDep) -> SilenceList:
    """Newest first; expired silences stay listed."""
    return SilenceList(silences=silences.list())


@router.delete(
    "/api/silences/{silence_id}",
    response_model=SilenceOut,
    responses={404: {"description": "No such silence"}},
    summary="Expire a silence",
)
async def expire_silence(silence_id: str, silences: SilencesDep) -> SilenceOut:
    """Ends it now; it stays listed as expired."""
    return await silences.expire(silence_id)
