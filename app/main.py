"""``create_app()``: routers, error handlers, middleware and the lifespan. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__, logredact
from app.config import Settings, get_settings
from app.errors import install_error_handlers
from app.middleware import BodyDeadline, HeadAsGet, NoFraming, RequestTimer, SlashInDeviceId
from app.routers import (
    alerts,
    audit,
    console,
    devices,
    docs,
    health,
    keys,
    readings,
    signals,
    silences,
    status,
    webhooks,
)
from app.routing import document_body_limits
from app.security import document_auth, install_denied_handshake_filter
from app.services.latency import ServiceMetrics, TimedPredictor
from app.state import build_state

DESCRIPTION = (Path(__file__).parent / "api_description.md").read_text()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. ``settings`` defaults to the environment's."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bootstrap = settings.bootstrap_admin_key
        logredact.install(() if bootstrap is None else (bootstrap.get_secret_value(),))
        install_denied_handshake_filter()
        async with build_state(settings) as state:
            state.scorer.predictor = TimedPredictor(state.scorer.predictor, metrics)
            app.state.gasleak = state
            yield

    app = FastAPI(
        title="gasleak",
        version=__version__,
        description=DESCRIPTION,
        summary="Real-time gas-leak detection: readings in, leak alerts out.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.max_body_bytes = settings.max_body_bytes  # StrictRoute's body limit
    install_error_handlers(app)
    for module in (
        readings,
        alerts,
        devices,
        signals,
        silences,
        webhooks,
        keys,
        audit,
        status,
        health,
        docs,
        console,
    ):
        document_auth(module.router)  # 401 / 403 in the OpenAPI where a key / role is needed
        document_body_limits(  # 413 and 408 where a body is read
            module.router,
            settings.max_body_bytes,
            timeout_s=settings.body_timeout_s,
            min_rate_bps=settings.body_min_rate_bps,
        )
        app.include_router(module.router)
    app.mount(docs.DOCS_STATIC, docs.docs_assets(), name="docs-assets")
    app.mount("/static", console.static_files(), name="static")
    app.add_middleware(SlashInDeviceId)  # before routing, which sees %2F as '/'
    app.add_middleware(HeadAsGet)
    app.add_middleware(
        BodyDeadline, initial_s=settings.body_timeout_s, min_rate_bps=settings.body_min_rate_bps
    )
    if settings.allowed_origins:  # none: no CORS headers, so browsers keep pages same-origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,  # keys travel in Authorization, never in cookies
            max_age=600,
        )
    app.add_middleware(NoFraming)  # no page of the service in another site's frame
    app.add_middleware(RequestTimer, metrics=metrics)  # added last = outermost: times it all
    return app
