"""Shared fixtures: settings, an in-process app with its lifespan, and a real uvicorn server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

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
    """An httpx client on the ASGI app, its lifespan running."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120) as manager:  # torch import: ~5-10 s cold
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


@dataclass
class LiveServer:
    """A uvicorn process on loopback."""

    base: str
    proc: subprocess.Popen
    tmpdir: Path | None = None  # removed by stop_server: the store (unless env named one), the log

    @property
    def ws(self) -> str:
        """The ws:// base URL."""
        return self.base.replace("http", "ws", 1)


def start_server(env: dict[str, str] | None = None, *, block_torch: bool = False) -> LiveServer:
    """Start ``tests/e2e/serve.py`` (uvicorn on 127.0.0.1) and wait for /healthz.

    The store is a fresh SQLite file in a new temp folder unless ``env`` names one
    (``GASLEAK_DB_PATH`` or ``GASLEAK_DATABASE_URL``), so tests never share events.

    Raises:
        RuntimeError: the server did not answer within 60 s; its output is included.
    """
    port = free_port()
    cmd = [sys.executable, str(ROOT / "tests" / "e2e" / "serve.py"), str(port)]
    if block_torch:
        cmd.append("--block-torch")
    env = dict(env or {})
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
                return LiveServer(base, proc, tmpdir)
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
