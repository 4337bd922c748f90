"""Memory of ``/ws/alerts?since=0`` subscribers that never read, on a real server.

    python -m bench.slow_subscribers [--subscribers N] [--alarms A] [--uncapped]

Starts the service on a free loopback port (``tests/e2e/serve.py``, a fresh SQLite store),
stores ``A`` threshold alarms (one 20,000 ppm reading on each of ``A`` devices), then opens
``N`` raw sockets with a 4 KB receive buffer, each a WebSocket handshake with a viewer key
and ``?since=0`` and no read after it, and prints the server's RSS (MiB, ``/proc``) before
and 6 s after, and per socket. ``--uncapped`` lifts ``GASLEAK_WS_SUBSCRIBERS_PER_KEY`` to
1,000 so that every socket subscribes (the default bound lets 20 per key in). Linux only.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.server import free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "gl_" + "a" * 16 + "_" + "B" * 43


def _rss_mib(pid: int) -> float:
    """Resident set size of process ``pid``, MiB (``/proc/PID/status`` VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--alarms", type=int, default=2000)
    ap.add_argument("--uncapped", action="store_true")
    a = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GASLEAK_BOOTSTRAP_ADMIN_KEY": KEY,
        "GASLEAK_DB_PATH": f"{tmp}/g.db",
    }
    if a.uncapped:
        env["GASLEAK_WS_SUBSCRIBERS_PER_KEY"] = "1000"
    with open(f"{tmp}/log", "w") as log:
        srv = subprocess.Popen(
            [sys.executable, "tests/e2e/serve.py", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    socks: list[socket.socket] = []
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        admin = {"Authorization": f"Bearer {KEY}"}
        made = httpx.post(base + "/api/keys", json={"role": "viewer", "name": "v"}, headers=admin)
        viewer = made.json()["key"]
        t0 = time.time() - 100
        for i in range(0, a.alarms, 200):
            batch = [
                {"device_id": f"d{j}", "ts": t0, "gas_ppm": 20000.0}
                | {"temperature_c": 21, "humidity_pct": 40}
                for j in range(i, min(a.alarms, i + 200))
            ]
            r = httpx.post(base + "/api/readings", json=batch, headers=admin, timeout=60)
            r.raise_for_status()
        time.sleep(3)
        before = _rss_mib(srv.pid)
        codes: dict[str, int] = {}
        for _ in range(a.subscribers):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            k = base64.b64encode(os.urandom(16)).decode()
            s.sendall(
                (
                    f"GET /ws/alerts?since=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {k}\r\nSec-WebSocket-Version: 13\r\n"
                    f"Authorization: Bearer {viewer}\r\n\r\n"
                ).encode()
            )
            status = s.recv(12).decode(errors="replace")[9:12]
            codes[status] = codes.get(status, 0) + 1
            socks.append(s)
        time.sleep(6)
        after = _rss_mib(srv.pid)
        print(f"alarms stored: {a.alarms}; handshakes by status: {codes}")
        print(
            f"server RSS {before:.0f} MiB before, {after:.0f} MiB after {a.subscribers} "
            f"non-reading subscribers: {(after - before) / a.subscribers:.3f} MiB per socket"
        )
    finally:
        for s in socks:
            s.close()
        srv.terminate()
        srv.wait(10)


if __name__ == "__main__":
    main()
