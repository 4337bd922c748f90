"""``create_app()``: routers, error handlers and the lifespan. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.config import Settings, get_settings
from app.errors import install_error_handlers
from app.routers import alerts, devices, readings, signals, silences, status, webhooks
from app.state import build_state


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. ``settings`` defaults to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with build_state(settings) as state:
            app.state.gasleak = state
            yield

    app = FastAPI(
        title="gasleak",
        version=__version__,
        summary="Real-time gas-leak detection: readings in, leak alerts out.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (readings, alerts, devices, signals, silences, webhooks, status):
        app.include_router(module.router)
    return app
