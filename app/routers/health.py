"""Probes for orchestrators: `/livez` (the process answers), `/readyz` (it can do its job)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import StateDep
from app.schemas.health import Liveness, Readiness
from app.services.readiness import check_readiness

router = APIRouter(tags=["health"])


@router.get("/livez", response_model=Liveness, summary="Liveness: the event loop answers")
async def livez() -> Liveness:
    """200 while the process serves requests; restart the container when it does not."""
    return Liveness(status="ok")


@router.get("/healthz", response_model=Liveness, summary="Liveness (alias of /livez)")
async def healthz() -> Liveness:
    """Kept for clients written against earlier versions."""
    return Liveness(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: model loaded, store writable, scorer running",
    responses={503: {"model": Readiness, "description": "A part is not ready; `failing` names it"}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 when every part is ready; 503 with ``failing`` naming the parts that are not."""
    result = await check_readiness(state)
    return JSONResponse(result.model_dump(), status_code=200 if result.ready else 503)
