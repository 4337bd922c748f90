"""Small getters over the lifespan state, as ``Annotated`` aliases for handlers.

Each router asks for the one service it uses (tests swap them with
``app.dependency_overrides``). ``StateDep`` remains for the status and readings routers,
which report on (or feed) the whole service.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.config import Settings
from app.services.alerts import AlertService
from app.services.devices import DeviceService
from app.services.eventlog import EventLog
from app.services.hub import Hub
from app.services.silences import SilenceService
from app.state import AppState
from app.store.readings import ReadingsRepo
from app.store.webhooks import DeliveriesRepo


async def get_state(conn: HTTPConnection) -> AppState:
    """The running service's state (set by the lifespan)."""
    state: AppState = conn.app.state.gasleak
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> Settings:
    """The running service's settings."""
    return state.settings


async def scored_so_far(state: AppState) -> None:
    """Wait until every window submitted before this call has been scored and its events
    stored, for at most ``settings.read_scored_wait_s``; then return either way (a read during
    a scoring backlog answers with what is stored by then)."""
    wait_s = state.settings.read_scored_wait_s
    if wait_s <= 0 or state.scorer.pending == 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.scorer.wait_sunk(state.scorer.submitted_total), wait_s)


async def get_alerts(state: StateDep) -> AlertService:
    """Alert queries, acknowledgement, reminders; a read sees the alerts of every reading
    accepted before it (:func:`scored_so_far`)."""
    await scored_so_far(state)
    return state.alerts


async def get_event_log(state: StateDep) -> EventLog:
    """The durable event log (stored events, newest id), with the events of every reading
    accepted before the request (:func:`scored_so_far`)."""
    await scored_so_far(state)
    return state.log


async def get_hub(state: StateDep) -> Hub:
    """The fan-out hub of live subscribers."""
    return state.hub


async def get_devices(state: StateDep) -> DeviceService:
    """The per-device view and profiles, with the alerts of every reading accepted before
    the request (:func:`scored_so_far`)."""
    await scored_so_far(state)
    return state.devices


async def get_silences(state: StateDep) -> SilenceService:
    """Silences."""
    return state.silences


async def get_deliveries(state: StateDep) -> DeliveriesRepo:
    """Webhook delivery rows."""
    return state.store.deliveries


async def get_readings_repo(state: StateDep) -> ReadingsRepo:
    """Readings history rows, after the readings buffered for the writer are written (a
    reader sees every reading accepted before its request)."""
    await state.recorder.flush()
    return state.store.readings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AlertsDep = Annotated[AlertService, Depends(get_alerts)]
EventLogDep = Annotated[EventLog, Depends(get_event_log)]
HubDep = Annotated[Hub, Depends(get_hub)]
DevicesDep = Annotated[DeviceService, Depends(get_devices)]
SilencesDep = Annotated[SilenceService, Depends(get_silences)]
DeliveriesDep = Annotated[DeliveriesRepo, Depends(get_deliveries)]
ReadingsRepoDep = Annotated[ReadingsRepo, Depends(get_readings_repo)]
