"""Start and stop a real server process for the benchmark, and read its RSS."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def terminate(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM ``proc``; SIGKILL it if it has not exited after ``grace_s`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr, proc.stdin):
        if pipe is not None:
            pipe.close()


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``bench.serve`` process on loopback."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    store_dir: Path | None = None
    key: str = ""  # its admin key (GASLEAK_BOOTSTRAP_ADMIN_KEY)

    @property
    def ws(self) -> str:
        """The ws:// base URL."""
        return self.base.replace("http", "ws", 1)

    def rss_bytes(self) -> int:
        """Resident set size of the server process (``VmRSS``), bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        terminate(self.proc, 15)
        if self.store_dir is not None:
            shutil.rmtree(self.store_dir, ignore_errors=True)


def start(
    settings: dict[str, str],
    *,
    module: str = "bench.serve",
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Server:
    """Start ``python -m bench.serve`` with ``GASLEAK_<KEY>=value`` settings; wait for /healthz.

    ``module`` and ``args``: another server module, run as ``python -m MODULE *ARGS PORT``
    (``bench.trace``); ``env``: more environment variables for it.

    Its admin key is ``GASLEAK_BOOTSTRAP_ADMIN_KEY`` from the environment, else a new random
    one (``Server.key``; the load generator gets it through its environment, never argv).

    Raises:
        RuntimeError: the server exited or did not answer within 120 s.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    # a fresh store per server: alerts left open by an earlier run would be restored and
    # no new alert.raised would come (nor a latency figure)
    store_dir = Path(tempfile.mkdtemp(prefix="gasleak-bench-db-"))
    env["GASLEAK_DB_PATH"] = str(store_dir / "bench.db")
    env.pop("GASLEAK_DATABASE_URL", None)
    env.update({f"GASLEAK_{k.upper()}": str(v) for k, v in settings.items()})
    key = env.setdefault("GASLEAK_BOOTSTRAP_ADMIN_KEY", secrets.token_urlsafe(32))
    log = Path(tempfile.mkstemp(prefix="gasleak-bench-", suffix=".log")[1])
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args, str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace")
            raise RuntimeError(f"server exited {proc.returncode}:\n{err[-3000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return Server(base, proc, log, store_dir, key)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")
