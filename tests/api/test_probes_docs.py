"""Probes (/livez, /readyz), HEAD on GET routes, offline API docs and latency metrics."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event

from app.config import Settings
from app.main import create_app
from tests.conftest import auth_headers, reading, serve_in_loop

T0 = 1_767_225_600.0


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (to reach its state) and a client on it, lifespan running."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth_headers()
        ) as c:
            yield app, c


async def test_livez_and_head(client: httpx.AsyncClient) -> None:
    r = await client.get("/livez")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    h = await client.head("/livez")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["content-length"] == r.headers["content-length"]


#: GET routes left out of the OpenAPI document
PAGES = ["/", "/docs", "/docs/oauth2-redirect", "/redoc", "/favicon.ico", "/openapi.json"]


async def test_head_answers_like_get_on_every_get_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = PAGES + [
        re.sub(r"\{[^}]+\}", "x", p) for p, ops in schema["paths"].items() if "get" in ops
    ]
    assert {"/livez", "/readyz", "/api/status", "/metrics", "/api/alerts"} <= set(paths)
    for path in paths:
        g, h = await client.get(path), await client.head(path)
        assert h.status_code == g.status_code, path
        assert h.content == b"", path
    assert (await client.head("/static/favicon.svg")).status_code == 200
    assert (await client.post("/livez")).status_code == 405  # HEAD is added, nothing else


async def test_readyz_ok_names_every_check(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is True and body["failing"] == []
    assert set(body["checks"]) == {"model", "store", "scorer"}
    assert "LSTM+SVM" in body["checks"]["model"]["detail"]
    # the store probe rolls back: no probe reading is left behind (a device with no stored
    # reading that nobody registered is unknown: 404)
    hist = await client.get(
        "/api/devices/__readyz_probe__/readings", params={"from": "1970-01-01T00:00:00Z"}
    )
    assert hist.status_code == 404, hist.text


async def test_readyz_503_names_an_unwritable_store(app_client) -> None:  # noqa: ANN001
    app, client = app_client
    engine = app.state.gasleak.store.engine

    @event.listens_for(engine.sync_engine, "connect")
    def _read_only(dbapi_conn, _):  # noqa: ANN001, ANN202
        dbapi_conn.cursor().execute("PRAGMA query_only = ON")  # SQLite refuses every write

    await engine.dispose()  # pooled connections reopen read-only
    r = await client.get("/readyz")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["ready"] is False and body["failing"] == ["store"]
    assert "readonly" in body["checks"]["store"]["detail"]
    assert (await client.get("/livez")).status_code == 200  # alive, just not ready
    event.remove(engine.sync_engine, "connect", _read_only)
    await engine.dispose()
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_503_names_a_stopped_scorer(app_client) -> None:  # noqa: ANN001
    app, client = app_client
    [task] = [t for t in app.state.gasleak.scorer._tasks if t.get_name() == "batch-sink"]
    task.cancel()  # the task that hands scored batches to the policy and the store
    await asyncio.gather(task, return_exceptions=True)
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["scorer"]
    assert "batch-sink ended: cancelled" in r.json()["checks"]["scorer"]["detail"]


class _Refs(HTMLParser):
    """Every URL an HTML page makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "data") and v]


@pytest.mark.parametrize("page", ["/", "/docs", "/redoc"])
async def test_pages_reference_no_external_host(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    parser = _Refs()
    parser.feed(r.text)
    assert parser.urls, "no asset found: the parser saw nothing"
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.netloc and parts.scheme in ("", "data"), f"{page} loads {url}"
        if url.startswith("/"):
            assert (await client.get(url)).status_code == 200, url
    # no absolute URL anywhere in the page's own text either (inline scripts, styles)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text, re.I), page


async def test_openapi_describes_the_websocket_protocols(client: httpx.AsyncClient) -> None:
    info = (await client.get("/openapi.json")).json()["info"]["description"]
    for needle in (
        "/ws/readings",
        "/ws/alerts",
        '"type": "subscribed"',
        "since",
        "1008",
        "1013",
        "alert.acknowledged",
    ):
        assert needle in info, needle


async def test_metrics_have_latency_histograms_and_queue_depths(
    client: httpx.AsyncClient,
) -> None:
    async def scored(n: int) -> str:
        for _ in range(250):
            if (await client.get("/api/status")).json()["windows_scored"] >= n:
                break
            await asyncio.sleep(0.02)
        return (await client.get("/metrics")).text

    def value(text: str, name: str) -> float:
        m = re.search(rf"{name} (\S+)", text)
        assert m, name
        return float(m.group(1))

    batch = [reading("m-1", T0 + i, 420.0 + i % 3) for i in range(70)]
    assert (await client.post("/api/readings", json=batch)).json()["accepted"] == 70
    text = await scored(11)  # windows at readings 60..70, clean air: the gate stays closed
    req = re.search(
        r'gasleak_http_request_duration_seconds_count\{method="POST",'
        r'route="/api/readings",status="200"\} (\S+)',
        text,
    )
    assert req and float(req.group(1)) == 1.0, text
    assert value(text, "gasleak_scoring_duration_seconds_count") == 0  # no model call
    leak = [reading("m-1", T0 + 70 + i, 3000.0) for i in range(5)]
    assert (await client.post("/api/readings", json=leak)).json()["accepted"] == 5
    text = await scored(16)
    # the windows whose gate opened went through the model: at most the 5 new ones
    assert value(text, "gasleak_scoring_duration_seconds_count") >= 1
    assert 1 <= value(text, "gasleak_scoring_batch_windows_sum") <= 5
    for gauge in (
        "gasleak_windows_pending",
        "gasleak_readings_write_pending",
        "gasleak_subscriber_queue_depth_max",
        "gasleak_subscriber_queue_depth_total",
    ):
        assert f"\n{gauge} " in text, gauge


async def test_startup_freezes_what_it_loaded_and_shutdown_unfreezes(settings: Settings) -> None:
    """The objects loaded at start-up (model, libraries) are left out of later collections
    (``gc.freeze``), so a full collection does not stall the event loop for their scan."""
    import gc

    assert gc.get_freeze_count() == 0
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120):
        assert gc.get_freeze_count() > 100_000
    assert gc.get_freeze_count() == 0


async def test_openapi_lists_401_403_and_413_where_the_route_answers_them(
    client: httpx.AsyncClient,
) -> None:
    """schemathesis flagged 401 and 403 answers the OpenAPI did not list: every route that
    needs a key lists 401, one that needs a role 403, one that takes a body 413, each an
    ErrorOut; the probes need no key and list none."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, ops in paths.items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if path in ("/livez", "/healthz", "/readyz"):
                assert not codes & {"401", "403"}, (method, path)
                continue
            assert "401" in codes, (method, path)
            if path not in ("/api/me", "/api/ws-ticket"):
                assert "403" in codes, (method, path)
            if method in ("post", "put", "patch") and "requestBody" in op:
                assert "413" in codes, (method, path)
            for code in codes & {"401", "403", "413"}:
                assert op["responses"][code]["content"]["application/json"]["schema"] == ref
    assert "admin" in paths["/api/keys"]["post"]["responses"]["403"]["description"]
    assert "1048576 bytes" in paths["/api/silences"]["post"]["responses"]["413"]["description"]


async def test_no_page_can_be_framed_and_the_console_has_a_csp(settings: Settings) -> None:
    """The console page and its assets were sent without anti-framing headers: another
    site could show the console in an invisible frame over a decoy and have an operator
    click Acknowledge or Silence (clickjacking; newcomer of 2 Dec). Over a real socket,
    every answer has ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``; the console
    page's policy also allows scripts, styles and connections from the service only."""
    async with serve_in_loop(settings) as (base, _), httpx.AsyncClient(base_url=base) as c:
        for path in (
            "/",
            "/static/console/console.js",
            "/static/vendor/uplot-1.6.32/uPlot.min.css",
            "/favicon.ico",
            "/docs",
            "/livez",
            "/api/status",  # a 401 without a key
        ):
            for r in (await c.get(path), await c.head(path)):
                assert r.headers.get("x-frame-options") == "DENY", (path, r.headers)
                csp = r.headers.get_list("content-security-policy")
                assert len(csp) == 1 and "frame-ancestors 'none'" in csp[0], (path, csp)
        policy = (await c.get("/")).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy, policy


async def test_openapi_lists_408_on_every_operation_that_reads_a_body(
    client: httpx.AsyncClient,
) -> None:
    """The body deadline (app.middleware.BodyDeadline) answers 408, but no operation listed
    408 in the OpenAPI (newcomer of 2 Dec). Every one that reads a body does now, an
    ErrorOut naming the deadline's settings; the others do not."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    with_body = 0
    for path, ops in paths.items():
        for method, op in ops.items():
            if "requestBody" not in op:
                assert "408" not in op["responses"], (method, path)
                continue
            with_body += 1
            answer = op["responses"].get("408")
            assert answer is not None, (method, path)
            assert answer["content"]["application/json"]["schema"] == ref, (method, path)
            assert "GASLEAK_BODY_TIMEOUT_S" in answer["description"], answer
    assert with_body >= 5 and "408" in paths["/api/readings"]["post"]["responses"]
