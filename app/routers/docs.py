"""Swagger UI and ReDoc served from the service itself (assets of the fastapi-offline package),
so the API docs work on a network without internet: no CDN, no external favicon or fonts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

#: Swagger UI 5 and ReDoc 2 bundles shipped inside the fastapi-offline wheel.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_STATIC = "/static/docs"
FAVICON = "/static/favicon.svg"
#: ReDoc's sidebar shows a logo from its vendor's CDN; with the URL emptied the image fails
#: at once without a request and ReDoc drops it (its onError handler).
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_JS = "/static/redoc.offline.js"


@lru_cache(maxsize=1)
def _redoc_bundle() -> bytes:
    return (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"")


def docs_assets() -> StaticFiles:
    """The static-files app to mount at :data:`DOCS_STATIC`."""
    return StaticFiles(directory=DOCS_ASSETS)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI document."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{FAVICON}",
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the app's OpenAPI document, without web fonts."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{REDOC_JS}",
        redoc_favicon_url=f"{root}{FAVICON}",
        with_google_fonts=False,
    )


@router.get(REDOC_JS)
async def redoc_bundle() -> Response:
    """The package's ReDoc bundle without its one external URL (the vendor logo)."""
    return Response(
        _redoc_bundle(),
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=86400"},
    )
