"""Keys never reach the server's output: a real uvicorn process at debug level (access log
on, WebSocket handshakes logged) serves a run of authenticated requests of every kind, and
no key, secret or ticket appears in what it printed."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets

from bench.server import terminate
from tests.conftest import auth_headers, make_key, reading, start_server, stop_server


async def _traffic(base: str) -> tuple[list[str], str]:
    """Authenticated requests of every kind; (every credential used, a redeemed ticket)."""
    ws = base.replace("http", "ws", 1)
    gateway = await make_key(base, "gateway", device_prefix="lk-")
    viewer = await make_key(base, "viewer")
    operator = await make_key(base, "operator")
    t0 = time.time() - 600
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        batch = [reading("lk-1", t0 + i, 420.0) for i in range(5)]
        r = await http.post("/api/readings", json=batch, headers=auth_headers(gateway))
        assert r.json()["accepted"] == 5, r.text
        for path in ("/api/status", "/api/alerts", "/metrics", "/api/devices/lk-1"):
            assert (await http.get(path, headers=auth_headers(viewer))).status_code == 200
        r = await http.post(
            "/api/alerts/none/ack", json={"author": "o"}, headers=auth_headers(operator)
        )
        assert r.status_code == 404
        assert (await http.get("/api/audit", headers=auth_headers())).status_code == 200
        assert (
            await http.get("/api/status", headers=auth_headers(gateway + "x"))
        ).status_code == 401
        ticket = (await http.post("/api/ws-ticket", headers=auth_headers(viewer))).json()["ticket"]
    async with websockets.connect(
        ws + "/ws/readings", additional_headers=auth_headers(gateway)
    ) as g:
        await g.send(json.dumps(reading("lk-1", t0 + 10, 421.0)))
        assert json.loads(await g.recv())["accepted"] == 1
    async with websockets.connect(ws + f"/ws/alerts?since=0&ticket={ticket}") as a:
        assert json.loads(await a.recv())["type"] == "subscribed"
    try:  # refused: no credentials
        async with websockets.connect(ws + "/ws/alerts"):
            raise AssertionError("/ws/alerts accepted a handshake without credentials")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 401
    return [gateway, viewer, operator], ticket


def test_no_key_appears_in_the_server_output() -> None:
    server = start_server({"GASLEAK_TEST_LOG_LEVEL": "debug"})
    try:
        keys, ticket = asyncio.run(_traffic(server.base))
        terminate(server.proc, 10)  # flushes and closes its output
        assert server.log is not None
        out = server.log.read_text()
    finally:
        stop_server(server)
    # the log is the real one: access lines and the WebSocket handshakes are in it
    assert '"GET /api/status HTTP/1.1" 200' in out, out[-3000:]
    assert "/ws/alerts" in out and "/ws/readings" in out
    # a key is gl_<16 hex>_<43-character secret>; the secret may itself hold "_" (URL-safe
    # base64), so it is cut at the second "_", not the last (a short tail such as "fo" is in
    # any log: this test failed at random before)
    secrets = [server.key, *keys, *(k.split("_", 2)[2] for k in keys), ticket]
    leaked = [s[:12] + "..." for s in secrets if s in out]
    assert leaked == [], f"credentials in the server output: {leaked}"
