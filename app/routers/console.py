"""The operator console: one HTML page and its assets, served by the service (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def static_files() -> StaticFiles:
    """The static-files app for ``/static`` (console scripts, styles, vendored uPlot)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
async def console() -> FileResponse:
    """The console page; it reads the public API and ``/ws/alerts``."""
    return FileResponse(STATIC_DIR / "console" / "index.html", media_type="text/html")


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The service's own icon (browsers ask for this path)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
