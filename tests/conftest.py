"""Shared fixtures: settings, an in-process app with its lifespan, and a real uvicorn server.

Authentication is on everywhere (issue 11). This module puts a random admin key in
``GASLEAK_BOOTSTRAP_ADMIN_KEY`` at import, so every ``Settings()`` made in a test and every
server a test starts (``start_server``, the bench, the demo) accepts it. Send it with
``headers=auth_headers()``; the ``client`` fixture and ``LiveServer.headers`` already do.
A key of another role: ``make_key(client_or_base, "viewer")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.ml.predictor import load_predictor
from bench.server import free_port, terminate

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("GASLEAK_DATA_DIR", ROOT.parent / "shared" / "data"))
SMOKE_CSV = DATA_DIR / "smoke_iot" / "smoke_detection_iot_T_RH_eCO2.csv"

needs_data = pytest.mark.skipif(
    not SMOKE_CSV.exists(), reason=f"real recordings not found at {SMOKE_CSV}"
)

#: The admin key of every test service (random per test run, so a leak test can grep for it).
TEST_ADMIN_KEY = os.environ.setdefault(
    "GASLEAK_BOOTSTRAP_ADMIN_KEY", "test-admin-" + secrets.token_urlsafe(32)
)


def auth_headers(key: str = TEST_ADMIN_KEY) -> dict[str, str]:
    """``{"Authorization": "Bearer <key>"}``: the test admin key unless another is given."""
    return {"Authorization": f"Bearer {key}"}


#: Headers every request of the fuzz test (tests/e2e/test_fuzz.py) carries: the admin key.
API_HEADERS: dict[str, str] = auth_headers()


async def make_key(
    client: httpx.AsyncClient | str, role: str, *, device_prefix: str | None = None
) -> str:
    """Create an API key of ``role`` with the admin key; the key.

    Args:
        client: an httpx client on the app (``client`` fixture), or a server's base URL.
        role: gateway, viewer, operator or admin.
        device_prefix: gateway keys only.
    """
    body = {"role": role, "name": f"test {role}", "device_prefix": device_prefix}
    if isinstance(client, str):
        async with httpx.AsyncClient(base_url=client, timeout=30) as c:
            r = await c.post("/api/keys", json=body, headers=auth_headers())
    else:
        r = await client.post("/api/keys", json=body, headers=auth_headers())
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


#: The end of a test's silence: a day from the session's start (a silence is at most 7 days
#: long, ``app.schemas.silences.SILENCE_MAX_S``).
SILENCE_END = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))


def reading(device_id: str, ts: float, gas: float, temp: float = 21.0, rh: float = 45.0) -> dict:
    """A valid wire reading."""
    return {
        "device_id": device_id,
        "ts": ts,
        "gas_ppm": gas,
        "temperature_c": temp,
        "humidity_pct": rh,
    }


@pytest.fixture(scope="session")
def shipped_predictor():
    """The shipped model on CPU, torch on the service's thread count (restored after)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(Settings().torch_threads or before)
    yield load_predictor(Path(Settings().artifacts_dir), device="cpu")
    torch.set_num_threads(before)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the shipped model and this test's own SQLite store."""
    return Settings(db_path=tmp_path / "gasleak.db")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the ASGI app, its lifespan running, sending the admin key."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120) as manager:  # torch import: ~5-10 s cold
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth_headers()
        ) as c:
            yield c


@contextlib.asynccontextmanager
async def serve_in_loop(settings: Settings) -> AsyncIterator[tuple[str, FastAPI]]:
    """The app under a real uvicorn on loopback in this test's event loop: (http base URL,
    app). Real handshakes (WebSocket denial answers included) without a subprocess."""
    import uvicorn

    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    await task
                    raise RuntimeError("uvicorn did not start")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        await task


def missing_tool(msg: str) -> NoReturn:
    """A test needs a system tool that is not installed: skip it on a developer's machine,
    fail it under CI (``CI`` set), where .ci/run installs everything and a skip would hide a
    broken setup."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@dataclass
class LiveServer:
    """A uvicorn process on loopback; ``key`` is its admin key (``headers`` sends it)."""

    base: str
    proc: subprocess.Popen
    tmpdir: Path | None = None  # removed by stop_server: the store (unless env named one), the log
    key: str = TEST_ADMIN_KEY

    @property
    def ws(self) -> str:
        """The ws:// base URL."""
        return self.base.replace("http", "ws", 1)

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <admin key>`` (httpx ``headers=``, websockets
        ``additional_headers=``)."""
        return auth_headers(self.key)

    @property
    def log(self) -> Path | None:
        """The server's stdout and stderr (until stop_server removes it)."""
        return None if self.tmpdir is None else self.tmpdir / "server.log"


def start_server(env: dict[str, str] | None = None, *, block_torch: bool = False) -> LiveServer:
    """Start ``tests/e2e/serve.py`` (uvicorn on 127.0.0.1) and wait for /healthz.

    The store is a fresh SQLite file in a new temp folder unless ``env`` names one
    (``GASLEAK_DB_PATH`` or ``GASLEAK_DATABASE_URL``), so tests never share events. The
    admin key is :data:`TEST_ADMIN_KEY` unless ``env`` sets ``GASLEAK_BOOTSTRAP_ADMIN_KEY``.

    Raises:
        RuntimeError: the server did not answer within 60 s; its output is included.
    """
    port = free_port()
    cmd = [sys.executable, str(ROOT / "tests" / "e2e" / "serve.py"), str(port)]
    if block_torch:
        cmd.append("--block-torch")
    env = dict(env or {})
    env.setdefault("GASLEAK_BOOTSTRAP_ADMIN_KEY", TEST_ADMIN_KEY)
    tmpdir = Path(tempfile.mkdtemp(prefix="gasleak-test-"))
    if "GASLEAK_DB_PATH" not in env and "GASLEAK_DATABASE_URL" not in env:
        env["GASLEAK_DB_PATH"] = str(tmpdir / "gasleak.db")
    log = tmpdir / "server.log"
    with log.open("w") as out:  # the child keeps its own descriptor; none is left open here
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return LiveServer(base, proc, tmpdir, env["GASLEAK_BOOTSTRAP_ADMIN_KEY"])
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    """SIGTERM, then SIGKILL after 10 s; remove the temp store made by start_server."""
    terminate(server.proc, 10)
    if server.tmpdir is not None:
        shutil.rmtree(server.tmpdir, ignore_errors=True)


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    """A real uvicorn server on loopback with the shipped model."""
    server = start_server()
    yield server
    stop_server(server)
