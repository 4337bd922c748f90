"""The operator console: one HTML page and its assets, served by the service (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

#: The console page's Content-Security-Policy: its scripts, styles, icon, API calls and
#: WebSocket come from the service itself (the page has no inline script or style attribute
#: and loads nothing from elsewhere), so an injected ``<script>`` or a script from another
#: site does not run; no plugins, no ``<base>``, forms post only here, and the page is
#: never framed (clickjacking; every other response gets ``frame-ancestors 'none'`` from
#: :class:`app.middleware.NoFraming`).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def static_files() -> StaticFiles:
    """The static-files app for ``/static`` (console scripts, styles, vendored uPlot)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
async def console() -> FileResponse:
    """The console page; it reads the public API and ``/ws/alerts``."""
    return FileResponse(
        STATIC_DIR / "console" / "index.html",
        media_type="text/html",
        headers={"content-security-policy": CONSOLE_CSP},
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The service's own icon (browsers ask for this path)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
