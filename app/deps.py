"""Small getters over the lifespan state, as ``Annotated`` aliases for handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.state import AppState


async def get_state(conn: HTTPConnection) -> AppState:
    """The running service's state (set by the lifespan)."""
    state: AppState = conn.app.state.gasleak
    return state


StateDep = Annotated[AppState, Depends(get_state)]
