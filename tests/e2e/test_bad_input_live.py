"""Bad input against a real server: /ws/readings answers an error frame naming the field and
stays open; a client that disconnects mid-upload costs one INFO line, no traceback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture
def info_server() -> Iterator[LiveServer]:
    """A live server whose own loggers print INFO (for the disconnect line)."""
    server = start_server({"GASLEAK_TEST_LOG_LEVEL": "INFO", "GASLEAK_MODEL_ENABLED": "false"})
    yield server
    stop_server(server)


def _log(server: LiveServer) -> str:
    assert server.tmpdir is not None
    return (server.tmpdir / "server.log").read_text()


async def test_ws_readings_bad_frames_get_error_frames_and_the_socket_stays_open(
    info_server: LiveServer,
) -> None:
    now = time.time()
    huge = "1" + "0" * 400
    frames = [
        (f'{{"device_id":"a","ts":{huge},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}', "ts"),
        (
            f'{{"device_id":"a","ts":{now},"gas_ppm":400,"gas_ppm":20000,'
            '"temperature_c":1,"humidity_pct":1}',
            "gas_ppm",
        ),
        (
            '{"device_id":"a","ts":"2025-W48-1T00:00:00Z","gas_ppm":1,"temperature_c":1,'
            '"humidity_pct":1}',
            "ts",
        ),
        ("[" * 100_000 + "]" * 100_000, "(body)"),
    ]
    async with websockets.connect(
        info_server.ws + "/ws/readings", max_size=None, additional_headers=info_server.headers
    ) as ws:
        for frame, field in frames:
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            assert reply["error"] == "invalid_body", reply
            assert reply["detail"][0]["field"] == field, reply
        mixed = (
            f'[{{"device_id":"a","ts":{huge},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}},'
            f'{{"device_id":"b","ts":{now},"gas_ppm":1,"temperature_c":1,"humidity_pct":1}}]'
        )
        await ws.send(mixed)
        reply = json.loads(await ws.recv())
        assert reply["accepted"] == 1 and reply["rejected"][0]["index"] == 0
    assert "Traceback" not in _log(info_server)


def _half_upload(server: LiveServer) -> None:
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            b"POST /api/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.key}\r\n".encode()
            + b"Content-Length: 100000\r\n\r\n["
            + b'{"device_id":"a",' * 100
        )
        time.sleep(0.3)  # the handler is now reading the body


async def test_client_disconnect_mid_upload_is_one_info_line(info_server: LiveServer) -> None:
    for _ in range(3):
        await asyncio.to_thread(_half_upload, info_server)
    await asyncio.sleep(0.5)
    log = _log(info_server)
    assert "Exception in ASGI application" not in log and "Traceback" not in log, log
    assert log.count("disconnected mid-request: POST /api/readings") == 3, log


def test_head_on_a_real_server_keeps_the_connection_and_logs_no_error(
    info_server: LiveServer,
) -> None:
    """HEAD through uvicorn (not only in-process): the GET's headers, no body, the
    keep-alive connection reused, and no "Exception in ASGI application" in the log."""
    with httpx.Client(base_url=info_server.base, headers=info_server.headers) as c:
        # bodies that do not change between the two calls (/api/status carries an uptime)
        for path in ("/livez", "/api/alerts", "/livez", "/openapi.json"):
            h, g = c.head(path), c.get(path)
            assert h.status_code == g.status_code == 200, path
            assert h.content == b"" and h.headers["content-length"] == str(len(g.content))
    time.sleep(0.5)
    log = _log(info_server)
    assert "Exception in ASGI application" not in log and "Content-Length" not in log, log


@pytest.fixture
def deadline_server() -> Iterator[LiveServer]:
    """A live server whose body deadline is 1 s + 1 s per 500 bytes received."""
    server = start_server(
        {
            "GASLEAK_MODEL_ENABLED": "false",
            "GASLEAK_BODY_TIMEOUT_S": "1",
            "GASLEAK_BODY_MIN_RATE_BPS": "500",
        }
    )
    yield server
    stop_server(server)


def _post_head(server: LiveServer, length: int) -> socket.socket:
    host, port = server.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    auth = server.headers["Authorization"]
    sock.sendall(
        f"POST /api/readings HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    return sock


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):  # until the server closes the connection
        out += chunk
    return out


def test_a_stalled_body_gets_408_naming_the_body_and_the_connection_closes(
    deadline_server: LiveServer,
) -> None:
    stalled = [_post_head(deadline_server, 100_000) for _ in range(5)]
    stalled[0].sendall(b'{"readings": [')  # some bytes, then nothing
    # others are served meanwhile
    r = httpx.get(deadline_server.base + "/api/status", headers=deadline_server.headers)
    assert r.status_code == 200
    for sock in stalled:
        raw = _read_all(sock)  # returns only once the server has closed it
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), raw[:200]
        assert b"connection: close" in head.lower()
        err = json.loads(body)
        assert err["error"] == "request_timeout"
        assert err["detail"][0]["field"] == "body"
        sock.close()


def test_a_slow_body_that_keeps_the_minimum_rate_is_accepted(
    deadline_server: LiveServer,
) -> None:
    reading = {
        "device_id": "slow-1",
        "ts": time.time(),
        "gas_ppm": 420.0,
        "temperature_c": 21.0,
        "humidity_pct": 45.0,
    }
    body = json.dumps([reading]).encode().ljust(3000)  # JSON allows trailing spaces
    sock = _post_head(deadline_server, len(body))
    for i in range(0, len(body), 250):  # 1,000 bytes/s for 3 s: past the 1 s start
        sock.sendall(body[i : i + 250])
        time.sleep(0.25)
    sock.sendall(b"")
    raw = sock.recv(65536)
    sock.close()
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
