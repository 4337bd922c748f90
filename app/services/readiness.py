"""The checks behind ``/readyz``: model loaded, store writable, scorer running, and the MQTT
link up when a broker is configured."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import insert

from app.schemas.health import Check, Readiness
from app.services.scorer import BatchScorer
from app.store import Store
from app.store.models import ReadingRow

if TYPE_CHECKING:
    from app.state import AppState

#: Longest the store write probe may take, s. Writes of the service take milliseconds; a store
#: that needs longer (locked, disk stalled) cannot keep up with alerts and is not ready.
STORE_PROBE_TIMEOUT_S = 3.0
PROBE_DEVICE = "__readyz_probe__"


def check_model(state: AppState) -> Check:
    """The model is loaded (or deliberately disabled by ``GASLEAK_MODEL_ENABLED=false``)."""
    p = state.predictor
    if not state.settings.model_enabled:
        return Check(ok=True, detail="model disabled by settings; safety rules only")
    if p.model_type.startswith("none"):
        return Check(ok=False, detail="no model loaded")
    return Check(ok=True, detail=f"{p.model_type} on {p.device}")


async def check_store(store: Store, timeout_s: float = STORE_PROBE_TIMEOUT_S) -> Check:
    """Insert a probe reading in a transaction and roll it back: proves the store takes writes
    without leaving anything behind. Fails on any database error or after ``timeout_s``."""

    async def probe() -> None:
        async with store.engine.connect() as conn:
            tx = await conn.begin()
            try:
                await conn.execute(
                    insert(ReadingRow).values(
                        device_id=PROBE_DEVICE,
                        ts=0.0,
                        gas_ppm=0.0,
                        temperature_c=0.0,
                        humidity_pct=0.0,
                    )
                )
            finally:
                await tx.rollback()

    try:
        await asyncio.wait_for(probe(), timeout_s)
    except TimeoutError:
        return Check(ok=False, detail=f"no write within {timeout_s} s")
    except Exception as exc:  # any driver error means "not writable"; its text says why
        return Check(ok=False, detail=f"write failed: {type(exc).__name__}: {exc}"[:500])
    return Check(ok=True, detail="a write transaction succeeded (rolled back)")


def check_scorer(state: AppState) -> Check:
    """The batching scorer's worker and sink tasks are alive (the inline scorer has none)."""
    if not isinstance(state.scorer, BatchScorer):
        return Check(ok=True, detail="inline scoring (no worker task)")
    problem = state.scorer.stopped()
    if problem is not None:
        return Check(ok=False, detail=problem)
    return Check(ok=True, detail=f"running; {state.scorer.pending} windows pending")


def check_mqtt(state: AppState) -> Check | None:
    """The MQTT link is up (None when no broker is configured)."""
    m = state.mqtt
    if m is None:
        return None
    if m.connected:
        return Check(ok=True, detail=f"connected to {m.broker} as {m.client_id}")
    return Check(ok=False, detail=f"not connected to {m.broker}: {m.last_error or 'connecting'}")


async def check_readiness(state: AppState) -> Readiness:
    """Run every check; ``failing`` names the parts that are not ready."""
    checks = {
        "model": check_model(state),
        "store": await check_store(state.store),
        "scorer": check_scorer(state),
    }
    if (mqtt := check_mqtt(state)) is not None:
        checks["mqtt"] = mqtt
    failing = [name for name, c in checks.items() if not c.ok]
    return Readiness(ready=not failing, failing=failing, checks=checks)
