"""Authentication and authorisation (issue 11) against the app under a real uvicorn in the
test's event loop: every route needs a key, roles are enforced, gateway prefixes hold,
WebSocket handshakes are checked (header, single-use ticket, Origin), revoked keys stop
working, and changes land in the audit log."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from app.config import Settings
from app.errors import Overloaded
from app.keys_cli import run_keys
from app.logredact import RedactSecrets
from app.services.audit import AuditLog
from app.services.keys import KeyService
from app.services.principal import Principal, Role
from app.services.tickets import TicketBook
from app.store import Store
from tests.conftest import SILENCE_END, TEST_ADMIN_KEY, auth_headers, reading, serve_in_loop

#: Routes that answer without a key (SECURITY.md says why): probes for orchestrators, the
#: API docs and the console's page and assets (the console then signs in with a key).
PUBLIC = {
    "/livez",
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/static/redoc.offline.js",
    "/",
    "/favicon.ico",
}
#: Static-file mounts (console scripts, vendored uPlot, Swagger UI bundles): public.
PUBLIC_MOUNTS = {"/static", "/static/docs"}
BAD_KEY = "gl_0123456789abcdef_" + "A" * 43


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of the app with its full path, through included routers (FastAPI keeps
    them as nested entries) and mounts."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            ctx = getattr(r, "include_context", None)
            yield from walk(inner.routes, prefix + getattr(ctx, "prefix", ""))
        else:
            yield prefix + getattr(r, "path", ""), r


class Live:
    """A running app: ``http`` (no key by default), ``ws`` base URL, the app."""

    def __init__(self, base: str, app: FastAPI, http: httpx.AsyncClient) -> None:
        self.base, self.app, self.http = base, app, http
        self.ws = base.replace("http", "ws", 1)

    async def key(self, role: str, prefix: str | None = None) -> tuple[str, str]:
        """(key_id, key) of a new key made by the admin."""
        body = {"role": role, "name": f"t-{role}", "device_prefix": prefix}
        r = await self.http.post("/api/keys", json=body, headers=auth_headers())
        assert r.status_code == 201, r.text
        return r.json()["key_id"], r.json()["key"]

    async def refused(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """The HTTP answer to a WebSocket handshake that must be refused."""
        with pytest.raises(websockets.InvalidStatus) as exc:
            async with websockets.connect(self.ws + path, additional_headers=headers or {}):
                pass
        r = exc.value.response
        return httpx.Response(r.status_code, headers=dict(r.headers), content=bytes(r.body or b""))


@pytest.fixture
async def live_app(settings: Settings) -> AsyncIterator[Live]:
    async with (
        serve_in_loop(settings) as (base, app),
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        yield Live(base, app, http)


CT = {"Content-Type": "application/json"}


def now_minus(s: float) -> float:
    import time

    return time.time() - s


async def test_every_route_but_the_public_ones_answers_401_without_a_key(
    live_app: Live, caplog: pytest.LogCaptureFixture
) -> None:
    checked: set[str] = set()
    for path, route in walk(live_app.app.routes):
        if isinstance(route, Mount):
            assert path in PUBLIC_MOUNTS, f"new mount {path}: public or not? (SECURITY.md)"
            continue
        if path in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        if isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute":
            for hdr in ({}, auth_headers(BAD_KEY)):
                r = await live_app.refused(url, hdr)
                assert r.status_code == 401, path
                assert r.json()["error"] == "unauthorized"
            checked.add(path)
            continue
        assert isinstance(route, Route), (path, route)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for hdr in ({}, auth_headers("not-a-key"), {"Authorization": "Basic YTpi"}):
                r = await live_app.http.request(method, url, json={}, headers=hdr)
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.json()["error"] == "unauthorized", r.text
                assert r.headers["www-authenticate"] == "Bearer"
            checked.add(path)
    assert {
        "/api/readings",
        "/api/alerts",
        "/api/alerts/{alert_id}/ack",
        "/api/devices/{device_id}",
        "/api/keys",
        "/api/keys/{key_id}",
        "/api/audit",
        "/api/ws-ticket",
        "/metrics",
        "/api/status",
        "/ws/alerts",
        "/ws/readings",
    } <= checked
    for path in ("/livez", "/healthz", "/readyz", "/docs", "/openapi.json", "/"):
        assert (await live_app.http.get(path)).status_code == 200, path
    assert (await live_app.http.get("/static/console/console.js")).status_code == 200
    # refused handshakes log no ERROR (uvicorn's sansio one would: app/security.py)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_401_says_which_part_of_the_credentials_is_wrong(live_app: Live) -> None:
    """Missing header, another scheme (Basic) and an unknown key get three different
    reasons, each naming the Authorization header and with a type, over REST and WS."""
    cases = (
        ({}, "missing_credentials", "missing"),
        ({"Authorization": "Bearer"}, "missing_credentials", "missing"),
        ({"Authorization": "Basic YTpi"}, "unsupported_scheme", "'Basic' is not accepted"),
        (auth_headers("not-a-key"), "invalid_key", "unknown or revoked"),
    )
    for hdr, kind, words in cases:
        for r in (
            await live_app.http.get("/api/alerts", headers=hdr),
            await live_app.refused("/ws/alerts", hdr),
        ):
            assert r.status_code == 401
            item = r.json()["detail"][0]
            assert item["field"] == "Authorization" and item["type"] == kind, item
            assert words in item["reason"], item


async def test_every_error_item_has_a_type(live_app: Live) -> None:
    """Errors raised by the service's own checks (not pydantic's) carry a ``type`` too."""
    h = auth_headers(TEST_ADMIN_KEY)
    for r in (
        await live_app.http.get("/api/alerts", params={"cursor": "zz"}, headers=h),
        await live_app.http.post(
            "/api/readings", content=b"[" + b",".join([b"{}"] * 10_001) + b"]", headers=h | CT
        ),
        await live_app.http.post("/api/readings", content=b"7", headers=h | CT),
    ):
        assert 400 <= r.status_code < 500, r.text
        detail = r.json()["detail"]
        assert isinstance(detail, list) and detail, r.text
        assert all(isinstance(d.get("type"), str) and d["type"] for d in detail), r.text


async def test_openapi_declares_the_bearer_scheme(live_app: Live) -> None:
    schema = (await live_app.http.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/api/alerts"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/livez"]["get"]


async def test_roles(live_app: Live) -> None:
    http = live_app.http
    keys = {r: auth_headers((await live_app.key(r))[1]) for r in ("viewer", "operator", "gateway")}
    r = await http.post("/api/alerts/nope/ack", json={"author": "v"}, headers=keys["viewer"])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert "operator" in r.json()["detail"][0]["reason"]
    # the operator passes the role check (the alert does not exist)
    r = await http.post("/api/alerts/nope/ack", json={"author": "o"}, headers=keys["operator"])
    assert r.status_code == 404
    assert (await http.get("/api/alerts", headers=keys["gateway"])).status_code == 403
    body = reading("v-1", now_minus(60), 420.0)
    assert (await http.post("/api/readings", json=body, headers=keys["viewer"])).status_code == 403
    assert (await http.post("/api/readings", json=body, headers=keys["gateway"])).is_success
    assert (await http.get("/metrics", headers=keys["viewer"])).status_code == 200
    r = await http.patch("/api/devices/v-1", json={"name": "k"}, headers=keys["operator"])
    assert r.status_code == 403
    for path in ("/api/keys", "/api/audit", "/api/webhooks/deliveries"):
        assert (await http.get(path, headers=keys["operator"])).status_code == 403, path
    me = (await http.get("/api/me", headers=keys["gateway"])).json()
    assert me["role"] == "gateway" and me["name"] == "t-gateway" and "key" not in me
    assert (await http.get("/api/me", headers=auth_headers())).json()["key_id"] == "bootstrap"


async def test_gateway_prefix_refuses_other_devices_rest_and_ws(live_app: Live) -> None:
    http, t0 = live_app.http, now_minus(600)
    hdr = auth_headers((await live_app.key("gateway", prefix="a-"))[1])
    r = await http.post("/api/readings", json=reading("b-1", t0, 420.0), headers=hdr)
    assert r.status_code == 403, r.text
    err = r.json()["detail"][0]
    assert err["field"] == "device_id" and "'b-1'" in err["reason"], err
    batch = [reading("a-1", t0, 420.0), reading("b-1", t0, 420.0)]
    r = await http.post("/api/readings", json=batch, headers=hdr)
    assert r.status_code == 403 and [d["index"] for d in r.json()["detail"]] == [1]
    assert (await http.get("/api/devices/a-1", headers=auth_headers())).status_code == 404
    # whatever else is wrong with the message (newcomer: an outside device with a bad gas
    # value hid the violation: 200, the in-prefix readings stored)
    ahead = time.time() + 400
    for body, outside in (
        ([reading("a-1", t0, 420.0), reading("b-1", t0, -5.0)], [1]),
        (reading("b-1", t0, -5.0), [0]),  # a single reading: 403, not 422
        ([reading("b-1", ahead, 420.0), {"device_id": "b-2"}, reading("a-1", t0, 1e9)], [0, 1]),
    ):
        r = await http.post("/api/readings", json=body, headers=hdr)
        assert r.status_code == 403, r.text
        assert [d["index"] for d in r.json()["detail"]] == outside, r.text
        assert {d["type"] for d in r.json()["detail"]} == {"device_prefix"}, r.text
    for d in ("a-1", "b-1"):  # nothing of those messages was taken
        assert (await http.get(f"/api/devices/{d}", headers=auth_headers())).status_code == 404
    r = await http.post("/api/readings", json=[reading("a-1", t0, 420.0)], headers=hdr)
    assert r.json() == {"accepted": 1, "rejected": [], "warnings": []}
    async with websockets.connect(live_app.ws + "/ws/readings", additional_headers=hdr) as ws:
        await ws.send(json.dumps([reading("b-2", t0, 420.0)]))
        reply = json.loads(await ws.recv())
        assert reply["error"] == "forbidden" and "'b-2'" in reply["detail"][0]["reason"]
        await ws.send(json.dumps([reading("a-2", t0, 420.0)]))  # the socket stays open
        assert json.loads(await ws.recv()) == {"accepted": 1, "rejected": [], "warnings": []}
    r = await http.post(
        "/api/keys",
        json={"role": "viewer", "name": "v", "device_prefix": "a-"},
        headers=auth_headers(),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "device_prefix"
    # the same error code as every other refused field of the body (a bad role here)
    assert r.json()["error"] == "invalid_request", r.text
    bad_role = await http.post(
        "/api/keys", json={"role": "boss", "name": "v"}, headers=auth_headers()
    )
    assert bad_role.status_code == 422 and bad_role.json()["error"] == "invalid_request"


async def test_ws_alerts_needs_credentials_and_a_same_site_origin(live_app: Live) -> None:
    r = await live_app.refused("/ws/alerts")
    assert r.status_code == 401 and r.json()["detail"][0]["field"] == "Authorization"
    _, gateway = await live_app.key("gateway")
    assert (await live_app.refused("/ws/alerts", auth_headers(gateway))).status_code == 403
    r = await live_app.refused("/ws/alerts", {**auth_headers(), "Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["detail"][0]["field"] == "Origin"
    host = live_app.base.removeprefix("http://")
    for extra in ({"Origin": f"http://{host}"}, {}):  # the page's own origin; a tool (none)
        async with websockets.connect(
            live_app.ws + "/ws/alerts", additional_headers={**auth_headers(), **extra}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"


async def test_allowed_origins_open_cors_and_websockets(tmp_path: Path) -> None:
    s = Settings(db_path=tmp_path / "o.db", allowed_origins=["https://ops.example"])
    async with serve_in_loop(s) as (base, _), httpx.AsyncClient(base_url=base) as http:
        pre = {
            "Origin": "https://ops.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        r = await http.options("/api/alerts/x/ack", headers=pre)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://ops.example"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = await http.options("/api/alerts/x/ack", headers={**pre, "Origin": "https://x.example"})
        assert "access-control-allow-origin" not in r.headers
        hdr = {**auth_headers(), "Origin": "https://ops.example"}
        ws_url = base.replace("http", "ws", 1) + "/ws/alerts"
        async with websockets.connect(ws_url, additional_headers=hdr) as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"
    with pytest.raises(ValidationError, match="allowed origin"):
        Settings(allowed_origins=["*"])


async def test_no_cors_headers_by_default(live_app: Live) -> None:
    hdr = {**auth_headers(), "Origin": "https://ops.example"}
    r = await live_app.http.get("/api/status", headers=hdr)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_ws_ticket_is_single_use_and_keeps_its_role(live_app: Live) -> None:
    _, viewer = await live_app.key("viewer")
    t = (await live_app.http.post("/api/ws-ticket", headers=auth_headers(viewer))).json()
    assert t["expires_in_s"] == 30 and len(t["ticket"]) >= 43
    url = live_app.ws + f"/ws/alerts?since=0&ticket={t['ticket']}"
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "subscribed"  # `ticket` is no filter
    r = await live_app.refused(f"/ws/alerts?ticket={t['ticket']}")
    assert r.status_code == 401 and r.json()["detail"][0]["field"] == "ticket"
    t = (await live_app.http.post("/api/ws-ticket", headers=auth_headers(viewer))).json()
    assert (await live_app.refused(f"/ws/readings?ticket={t['ticket']}")).status_code == 403


async def test_a_bad_ticket_beside_a_good_header_is_refused_naming_ticket(
    live_app: Live,
) -> None:
    """/ws/alerts?ticket=zzz with a valid Bearer header subscribed: the bad ticket was
    ignored (newcomer of 2 Dec). A ticket sent beside the header is checked too, and must
    act for the header's key."""
    _, viewer = await live_app.key("viewer")
    _, other = await live_app.key("viewer")
    hdr = auth_headers(viewer)
    for path in ("/ws/alerts", "/ws/readings"):
        r = await live_app.refused(f"{path}?ticket=zzz", auth_headers())
        assert r.status_code == 401, path
        assert r.json()["detail"][0]["field"] == "ticket", r.text
        assert "beside the Authorization header" in r.json()["detail"][0]["reason"]
    t = (await live_app.http.post("/api/ws-ticket", headers=auth_headers(other))).json()
    r = await live_app.refused(f"/ws/alerts?ticket={t['ticket']}", hdr)
    assert r.status_code == 401 and r.json()["detail"][0]["field"] == "ticket"
    assert "another key" in r.json()["detail"][0]["reason"]
    t = (await live_app.http.post("/api/ws-ticket", headers=hdr)).json()
    url = live_app.ws + f"/ws/alerts?ticket={t['ticket']}"
    async with websockets.connect(url, additional_headers=hdr) as ws:  # the same key: taken
        assert json.loads(await ws.recv())["type"] == "subscribed"


async def test_ws_ticket_expires(tmp_path: Path) -> None:
    s = Settings(db_path=tmp_path / "t.db", ws_ticket_ttl_s=0.2)
    async with serve_in_loop(s) as (base, app), httpx.AsyncClient(base_url=base) as http:
        live = Live(base, app, http)
        ticket = (await http.post("/api/ws-ticket", headers=auth_headers())).json()["ticket"]
        await asyncio.sleep(0.4)
        assert (await live.refused(f"/ws/alerts?ticket={ticket}")).status_code == 401


def test_ticket_book_expiry_and_bound() -> None:
    now = [100.0]
    book = TicketBook(ttl_s=30, max_outstanding=10, per_key=2, clock=lambda: now[0])
    who = Principal("k", "n", Role.VIEWER)
    a, b = book.issue(who), book.issue(who)
    c = book.issue(who)  # beyond the key's bound: its oldest (a) is dropped
    assert len(book) == 2 and book.held(who) == 2 and book.redeem(a) is None
    assert book.redeem(b) == who and book.redeem(b) is None
    now[0] += 30.5
    assert book.redeem(c) is None  # expired
    book.issue(who)
    assert len(book) == 1 and book.held(who) == 1


def test_one_keys_tickets_push_out_only_its_own() -> None:
    """A key asking for tickets in a loop drops its own oldest, never another key's; when
    the whole book is full, a new ticket is refused (429) rather than dropping one."""
    now = [100.0]
    book = TicketBook(ttl_s=30, max_outstanding=5, per_key=3, clock=lambda: now[0])
    viewer, gw = Principal("v", "n", Role.VIEWER), Principal("g", "n", Role.GATEWAY)
    mine = book.issue(viewer)
    for _ in range(10_001):
        book.issue(gw)
    assert book.held(gw) == 3 and book.redeem(mine) == viewer
    mine = book.issue(viewer)
    book.issue(Principal("o", "n", Role.OPERATOR))
    with pytest.raises(Overloaded) as exc:  # 3 + 1 + 1 held: the book is full
        book.issue(Principal("p", "n", Role.OPERATOR))
    assert exc.value.detail[0]["field"] == "ticket" and 29 < exc.value.retry_after_s <= 30
    assert book.redeem(mine) == viewer  # nothing of another key was dropped
    assert book.held(Principal("p", "n", Role.OPERATOR)) == 0
    now[0] += 31  # all expired: room again
    book.issue(Principal("p", "n", Role.OPERATOR))
    assert len(book) == 1


async def test_a_key_asking_for_tickets_in_a_loop_never_locks_another_key_out(
    tmp_path: Path,
) -> None:
    """The newcomer's case through the real server: a viewer's ticket still opens
    /ws/alerts after a gateway key asked for more tickets than the whole book holds."""
    s = Settings(db_path=tmp_path / "t.db", ws_tickets_max=24, ws_tickets_per_key=16)
    async with serve_in_loop(s) as (base, app), httpx.AsyncClient(base_url=base) as http:
        live = Live(base, app, http)
        _, viewer = await live.key("viewer")
        _, gateway = await live.key("gateway")
        t = (await http.post("/api/ws-ticket", headers=auth_headers(viewer))).json()["ticket"]
        for _ in range(25):
            r = await http.post("/api/ws-ticket", headers=auth_headers(gateway))
            assert r.status_code == 200, r.text
        async with websockets.connect(live.ws + f"/ws/alerts?ticket={t}") as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"
        _, other = await live.key("gateway")
        for _ in range(16):  # the first key holds 16 of 24: the other gets 8, then 429
            r = await http.post("/api/ws-ticket", headers=auth_headers(other))
            if r.status_code != 200:
                break
        assert r.status_code == 429 and r.json()["detail"][0]["field"] == "ticket"
        assert int(r.headers["retry-after"]) >= 1


async def test_revoked_key_is_401_through_rest_and_cli(tmp_path: Path) -> None:
    s = Settings(db_path=tmp_path / "r.db", key_cache_s=0)
    async with serve_in_loop(s) as (base, app), httpx.AsyncClient(base_url=base) as http:
        live = Live(base, app, http)
        key_id, key = await live.key("viewer")
        assert (await http.get("/api/status", headers=auth_headers(key))).status_code == 200
        r = await http.delete(f"/api/keys/{key_id}", headers=auth_headers())
        assert r.status_code == 200 and r.json()["revoked_by"].startswith("bootstrap admin")
        r = await http.get("/api/status", headers=auth_headers(key))
        assert r.status_code == 401 and r.json()["detail"][0]["type"] == "invalid_key"
        assert (await live.refused("/ws/alerts", auth_headers(key))).status_code == 401
        r = await http.delete(f"/api/keys/{key_id}", headers=auth_headers())
        assert r.status_code == 409
        r = await http.delete("/api/keys/bootstrap", headers=auth_headers())
        assert r.status_code == 409
        # revoked from the command line (what another process does to the same store)
        key_id, key = await live.key("viewer")
        assert (await http.get("/api/status", headers=auth_headers(key))).status_code == 200
        code = await run_keys(
            ["revoke", key_id], role=None, name=None, device_prefix=None, settings=s
        )
        assert code == 0
        assert (await http.get("/api/status", headers=auth_headers(key))).status_code == 401
        listed = (await http.get("/api/keys", headers=auth_headers())).json()
        assert listed["bootstrap_key"] is True
        assert all("secret_hash" not in k and "key" not in k for k in listed["keys"])
        assert [k["revoked_at"] is not None for k in listed["keys"]] == [True, True]


async def test_open_sockets_of_a_revoked_key_are_closed(live_app: Live) -> None:
    """A revoked gateway cannot go on posting over a socket it opened before, nor a revoked
    viewer go on receiving events: the next frame (event) closes it with 1008."""
    gw_id, gw = await live_app.key("gateway")
    v_id, viewer = await live_app.key("viewer")
    t0 = now_minus(600)
    async with (
        websockets.connect(live_app.ws + "/ws/readings", additional_headers=auth_headers(gw)) as g,
        websockets.connect(
            live_app.ws + "/ws/alerts", additional_headers=auth_headers(viewer)
        ) as a,
    ):
        assert json.loads(await a.recv())["type"] == "subscribed"
        await g.send(json.dumps(reading("rv-1", t0, 420.0)))
        assert json.loads(await g.recv())["accepted"] == 1
        for key_id in (gw_id, v_id):
            r = await live_app.http.delete(f"/api/keys/{key_id}", headers=auth_headers())
            assert r.status_code == 200
        await g.send(json.dumps(reading("rv-1", t0 + 1, 420.0)))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await g.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "API key revoked"
        # an event (a threshold alarm: 20,000 ppm) would reach the viewer: it is closed instead
        r = await live_app.http.post(
            "/api/readings", json=reading("rv-2", t0, 20_000.0), headers=auth_headers()
        )
        assert r.json()["accepted"] == 1
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(a.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    status = (await live_app.http.get("/api/status", headers=auth_headers())).json()
    assert status["readings_accepted"] == 2  # rv-1 once, rv-2: the revoked frame was not kept


async def test_audit_log_records_who_and_pages(live_app: Live) -> None:
    http = live_app.http
    op = auth_headers((await live_app.key("operator"))[1])
    t0 = now_minus(600)
    batch = [reading("au-1", t0 + i, 420.0) for i in range(3)]
    assert (await http.post("/api/readings", json=batch, headers=auth_headers())).is_success
    silence = {
        "device_id": "au-1",
        "ends_at": SILENCE_END,
        "comment": "c",
        "author": "o",
    }
    sid = (await http.post("/api/silences", json=silence, headers=op)).json()["silence_id"]
    assert (await http.delete(f"/api/silences/{sid}", headers=op)).status_code == 200
    r = await http.patch("/api/devices/au-1", json={"name": "boiler"}, headers=auth_headers())
    assert r.is_success, r.text
    body = {"by": "o", "reason": "new sensor"}
    r = await http.post("/api/devices/au-1/baseline-reset", json=body, headers=op)
    assert r.status_code == 200, r.text
    page = (await http.get("/api/audit", params={"limit": 3}, headers=auth_headers())).json()
    got = [(e["action"], e["target"], e["actor"]["role"]) for e in page["entries"]]
    assert got == [
        ("baseline.reset", "au-1", "operator"),
        ("device.patch", "au-1", "admin"),
        ("silence.expire", sid, "operator"),
    ]
    assert page["entries"][0]["actor"]["name"] == "t-operator"
    params: dict[str, Any] = {"limit": 3, "cursor": page["next_cursor"]}
    older = (await http.get("/api/audit", params=params, headers=auth_headers())).json()
    assert [e["action"] for e in older["entries"]] == ["silence.create", "key.create"]
    assert older["next_cursor"] is None
    assert older["entries"][1]["actor"]["key_id"] == "bootstrap"
    params = {"action": "key.create"}
    only = (await http.get("/api/audit", params=params, headers=auth_headers())).json()
    assert [e["action"] for e in only["entries"]] == ["key.create"]
    bad = await http.get("/api/audit", params={"cursor": "x"}, headers=auth_headers())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "cursor"


async def test_key_service_refuses_a_prefix_on_other_roles() -> None:
    keys = KeyService(repo=None, audit=None)  # type: ignore[arg-type]  # refused before use
    with pytest.raises(ValueError, match="gateway keys only"):
        await keys.create(
            role=Role.VIEWER, name="v", device_prefix="a-", by=Principal(None, "t", Role.ADMIN)
        )


def test_short_bootstrap_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(bootstrap_admin_key="too-short-secret-value")
    text = str(exc.value)
    assert "at least 32" in text and "GASLEAK_BOOTSTRAP_ADMIN_KEY" in text
    assert "too-short-secret-value" not in text


def test_log_redaction() -> None:
    f = RedactSecrets(literals=(TEST_ADMIN_KEY,))
    key = "gl_0123456789abcdef_" + "Zz-_" * 10 + "abc"
    for msg, args in (
        ("< Authorization: Bearer %s", (key,)),
        ("GET /ws/alerts?since=3&ticket=%s HTTP/1.1", ("T0kEn-_x",)),
        ("headers %r", ({"authorization": f"bearer {TEST_ADMIN_KEY}"},)),
        ("key %s", (key,)),
    ):
        rec = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
        assert f.filter(rec)
        out = rec.getMessage()
        assert key not in out and "T0kEn" not in out and TEST_ADMIN_KEY not in out, out
        assert "[redacted]" in out


async def test_the_command_line_refuses_a_device_prefix_the_api_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--mode keys create --device-prefix 'a b'`` made a gateway key that no device id can
    match, where ``POST /api/keys`` answers 422 (README newcomer of 7 Dec)."""
    s = Settings(db_path=tmp_path / "k.db")
    code = await run_keys(["create"], role="gateway", name=None, device_prefix="a b", settings=s)
    assert code == 2 and "is not a device-id prefix" in capsys.readouterr().err
    code = await run_keys(["create"], role="gateway", name=None, device_prefix="sim-", settings=s)
    assert code == 0


async def test_the_command_line_refuses_a_key_name_the_api_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--mode keys create --name`` took a line break or an ANSI escape, as ``POST /api/keys``
    did, and ``keys list`` printed the escape raw to the terminal (newcomer of 2 Dec). It is
    refused in the API's words now, and a name stored before is listed escaped."""
    s = Settings(db_path=tmp_path / "k.db")
    for name in ("evil\nINFO forged", "\x1b[31mred"):
        code = await run_keys(["create"], role="viewer", name=name, device_prefix=None, settings=s)
        err = capsys.readouterr().err
        assert code == 2 and "--name: " in err and "a one-line text may hold no" in err, err
    code = await run_keys(["create"], role="viewer", name="  ops  ", device_prefix=None, settings=s)
    assert code == 0
    store = Store(s.db_url)
    try:
        await store.migrate()
        old = Principal(None, "t", Role.ADMIN)
        await KeyService(store.keys, AuditLog(store.audit)).create(
            role=Role.VIEWER, name="\x1b[31mred", device_prefix=None, by=old
        )
    finally:
        await store.close()
    capsys.readouterr()
    assert await run_keys(["list"], role=None, name=None, device_prefix=None, settings=s) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and r"'\x1b[31mred'" in out and out.count(" ops\n") == 1, out


async def test_the_command_line_refuses_and_escapes_c1_controls_in_a_key_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--mode keys create --name`` took U+0085 (NEXT LINE, a line break to splitlines: a
    forged log line), U+009B (the 8-bit CSI) and U+2028, and ``keys list`` printed them raw
    to the terminal (newcomer of 2 Dec). They are refused in the API's words now, and a
    name stored before the rule is listed escaped."""
    s = Settings(db_path=tmp_path / "k.db")
    for name in ("ops\x85 INFO forged", "\x9b31mred", "a\u2028b"):
        code = await run_keys(["create"], role="viewer", name=name, device_prefix=None, settings=s)
        err = capsys.readouterr().err
        assert code == 2 and "--name: " in err and "at position" in err, err
        assert not any(c in err for c in "\x85\x9b\u2028"), err
    store = Store(s.db_url)
    try:
        await store.migrate()
        old = Principal(None, "t", Role.ADMIN)
        for name in ("\x9b31mred", "ops\x85 forged", "p\u2029q"):
            await KeyService(store.keys, AuditLog(store.audit)).create(
                role=Role.VIEWER, name=name, device_prefix=None, by=old
            )
    finally:
        await store.close()
    capsys.readouterr()
    assert await run_keys(["list"], role=None, name=None, device_prefix=None, settings=s) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x85\x9b\u2028\u2029"), out
    assert r"'\x9b31mred'" in out and r"'ops\x85 forged'" in out and r"'p\u2029q'" in out, out
