"""The demo: the real API on a port, simulated gateways feeding it, alerts printed live.

Half the simulated devices post over HTTP (``POST /api/readings``, one array per tick), the
other half send over one WebSocket (``/ws/readings``), and a subscriber on ``/ws/alerts``
prints each event. Readings carry simulated timestamps 1 s apart, sent ``speed`` times faster
than real time, so alerts show up within seconds.

Authentication is on, as in production: the demo uses ``GASLEAK_BOOTSTRAP_ADMIN_KEY`` or
makes a random admin key, then creates a gateway key (limited to its devices' prefix) for
its gateways and an operator key for its alert printer and the console's sign-in, and
prints the keys a user needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from pydantic import SecretStr

from app.config import Settings
from app.demo_replay import ReplayLog, load_replay
from app.main import create_app
from app.sim import segment

MARKS = {
    "alert.raised": "LEAK ALERT",
    "alert.updated": "updated   ",  # the event's reason when it has one
    "alert.acknowledged": "acked     ",
    "alert.resolved": "all clear ",
}
SEGMENT = 600  # readings per simulated segment; every third segment of a device has a leak


@dataclass(frozen=True)
class DemoOptions:
    """Command-line options of the demo (see main.py)."""

    host: str = "127.0.0.1"
    port: int = 8080
    devices: int = 6
    speed: float = 10.0
    duration_s: float | None = None
    replay: Path | None = None
    replay_rows: tuple[int, int] | None = None
    gas_col: str = "eCO2[ppm]"
    temp_col: str = "Temperature[C]"
    rh_col: str = "Humidity[%]"
    loop: bool = False


Reading3 = tuple[float, float, float]


@dataclass(frozen=True)
class DemoKeys:
    """The demo's API keys: admin (bootstrap), gateway (its devices' prefix), operator."""

    admin: str
    gateway: str
    operator: str

    @staticmethod
    def bearer(key: str) -> dict[str, str]:
        """``Authorization: Bearer <key>``."""
        return {"Authorization": f"Bearer {key}"}


async def make_keys(base: str, admin: str, prefix: str) -> DemoKeys:
    """Create the demo's gateway key (devices ``prefix*`` only) and operator key, through
    ``POST /api/keys`` with the admin key (both land in the audit log).

    Raises:
        httpx.HTTPStatusError: the service refused (it should not).
    """
    made = {}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=DemoKeys.bearer(admin)) as c:
        for role, name, dp in (
            ("gateway", "demo gateways", prefix),
            ("operator", "demo console", None),
        ):
            r = await c.post("/api/keys", json={"role": role, "name": name, "device_prefix": dp})
            r.raise_for_status()
            made[role] = r.json()["key"]
    return DemoKeys(admin=admin, gateway=made["gateway"], operator=made["operator"])


def sim_stream(index: int) -> Iterator[Reading3]:
    """Endless readings for simulated device ``index``: (gas_ppm, temperature_c, humidity_pct).

    Prints the ground truth when an injected leak starts, so the alert delay can be seen.
    """
    k = 0
    while True:
        seg = segment(SEGMENT, seed=1000 * index + k, leak=(index + k) % 3 == 0)
        for i, row in enumerate(seg.series.tolist()):
            if seg.leak is not None and i == seg.leak.onset:
                print(
                    f"[simulator] leak starts on sim-{index:02d}: {seg.leak.shape} to "
                    f"{math.exp(seg.leak.amplitude):.1f}x background for "
                    f"{seg.leak.duration} s",
                    flush=True,
                )
            yield (row[0], row[1], row[2])
        k += 1


def reading(device_id: str, ts: float, v: tuple[float, float, float]) -> dict[str, object]:
    """A wire reading."""
    return {
        "device_id": device_id,
        "ts": ts,
        "gas_ppm": round(v[0], 3),
        "temperature_c": round(v[1], 3),
        "humidity_pct": round(v[2], 3),
    }


async def pace(next_ts: float, speed: float) -> None:
    """Wait one tick (1 / ``speed`` s), or longer once simulated time has caught up with the
    clock: the next reading, stamped ``next_ts`` (epoch s), is never sent before that time,
    so a demo left running for hours keeps going at 1 reading per second instead of being
    refused as "in the future"."""
    await asyncio.sleep(max(1.0 / speed, next_ts - time.time()))


async def http_gateway(
    base: str, streams: dict[str, Iterator[Reading3]], t0: float, speed: float, key: str
) -> None:
    """Post one array per tick holding the next reading of each device."""
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=DemoKeys.bearer(key)) as client:
        k = 0
        while streams:
            batch = []
            for dev, it in list(streams.items()):
                v = next(it, None)
                if v is None:
                    del streams[dev]
                    continue
                batch.append(reading(dev, t0 + k, v))
            if batch:
                r = await post_readings(client, batch)
                if r.json()["rejected"]:
                    print("rejected:", r.json()["rejected"][:3])
            k += 1
            await pace(t0 + k, speed)


async def post_readings(client: httpx.AsyncClient, body: object) -> httpx.Response:
    """POST /api/readings as a well-behaved gateway: on 429 (overloaded or rate-limited:
    nothing was taken) wait ``Retry-After`` seconds and send the same body again.

    Raises:
        httpx.HTTPStatusError: any other non-2xx answer.
    """
    while True:
        r = await client.post("/api/readings", json=body)
        if r.status_code != 429:
            r.raise_for_status()
            return r
        await asyncio.sleep(float(r.headers.get("retry-after", "1")))


async def ws_gateway(
    base: str, streams: dict[str, Iterator[Reading3]], t0: float, speed: float, key: str
) -> None:
    """Send one array per tick over a WebSocket and read each reply."""
    async with websockets.connect(
        base.replace("http", "ws", 1) + "/ws/readings", additional_headers=DemoKeys.bearer(key)
    ) as ws:
        k = 0
        while True:
            batch = [reading(d, t0 + k, v) for d, it in streams.items() for v in [next(it)]]
            await ws.send(json.dumps(batch))
            reply = json.loads(await ws.recv())
            while reply.get("error") == "overloaded":  # nothing taken: wait, send it again
                await asyncio.sleep(reply["retry_after_s"])
                await ws.send(json.dumps(batch))
                reply = json.loads(await ws.recv())
            if reply.get("rejected") or reply.get("error"):
                print("ws reply:", reply)
            k += 1
            await pace(t0 + k, speed)


async def replay_gateway(
    base: str, data: list[Reading3], log: ReplayLog, speed: float, loop: bool, key: str
) -> None:
    """Post the recording one reading per tick as device ``replay-1``; once, or forever."""
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=DemoKeys.bearer(key)) as client:
        while True:
            for values in data:
                r = await post_readings(client, reading("replay-1", log.t0 + log.sent, values))
                if r.json()["rejected"]:
                    print(
                        f"rejected row {log.first_row + log.sent % log.n_rows}:",
                        r.json()["rejected"],
                    )
                log.sent += 1
                await pace(log.t0 + log.sent, speed)
            if not loop:
                return


async def settle(base: str, key: str, timeout_s: float = 30.0) -> None:
    """Wait until every queued window is scored, then a moment for the last events."""
    async with httpx.AsyncClient(base_url=base, headers=DemoKeys.bearer(key)) as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (await client.get("/api/status")).json()["windows_pending"] == 0:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


async def print_alerts(base: str, key: str, log: ReplayLog | None = None) -> None:
    """Subscribe to /ws/alerts and print every event (with its CSV row when replaying).

    A subscriber that falls behind (stops taking frames, or its backlog keeps growing) is
    closed by the server with 1013 and the id to resume from: the printer reconnects with
    ``since=`` the last event it printed, so nothing is skipped. Returns quietly when the
    server closes the socket because it is shutting down (1001, 1012, Ctrl-C); any other
    close is an error."""
    last = None
    while True:
        try:
            last = await _print_alerts(base, key, log, last)
            return
        except websockets.exceptions.ConnectionClosed as exc:
            code = None if exc.rcvd is None else exc.rcvd.code
            if code == 1013:
                last = getattr(exc, "last_event_id", last)
                print(f"alert printer fell behind; resuming after event {last}", flush=True)
                continue
            if code not in (1001, 1012):
                raise


async def _print_alerts(
    base: str, key: str, log: ReplayLog | None, since: int | None
) -> int | None:
    url = base.replace("http", "ws", 1) + "/ws/alerts"
    if since is not None:
        url += f"?since={since}"
    last = since
    async with websockets.connect(url, additional_headers=DemoKeys.bearer(key)) as ws:
        try:
            async for frame in ws:
                e = json.loads(frame)
                if e["type"] == "subscribed":
                    if since is None:
                        print(f"subscribed to /ws/alerts (last event id {e['last_event_id']})")
                    continue
                last = e["event_id"]
                _print_event(e, log)
        except websockets.exceptions.ConnectionClosed as exc:
            exc.last_event_id = last  # type: ignore[attr-defined]
            raise
    return last


def _gas_text(e: dict[str, Any]) -> str:
    """`` gas=<value> <unit>`` of an event, in the device's own unit (``gas``, ``gas_unit``;
    an event stored before units were kept has only ``gas_ppm``); empty without a gas value."""
    value, unit = e.get("gas"), e.get("gas_unit")
    if value is None and e.get("gas_ppm") is not None:
        value, unit = e["gas_ppm"], "ppm"
    if value is None:
        return ""
    return f" gas={value:g} {unit or '(unit unknown)'}"


def _print_event(e: dict[str, Any], log: ReplayLog | None) -> None:
    mark = MARKS.get(e["type"], e["type"])
    if e["type"] == "alert.updated" and e.get("reason"):  # worsened, escalated, silence_ended
        mark = f"{e['reason']:<10}"
    if e.get("kind", "leak") != "leak":
        mark = f"{e['kind']} {e['type'].removeprefix('alert.')}"
    why = (
        f"p={e['probability']:.2f}"
        if e.get("probability") is not None
        else str(e.get("detail") or e.get("reason"))
    )
    gas = _gas_text(e)
    row = log.note_event(e) if log else None
    where = f" row {row}" if row is not None else ""
    print(
        f"[{mark}] #{e['event_id']} {e['device_id']:<10} {e['severity']:<8} "
        f"{why}{gas} reading ts={e['ts']}{where} ({e.get('model_type') or 'operator'})",
        flush=True,
    )


async def print_status(base: str, key: str, every_s: float = 10.0) -> None:
    """Print a one-line summary of /api/status every ``every_s`` seconds."""
    async with httpx.AsyncClient(base_url=base, headers=DemoKeys.bearer(key)) as client:
        while True:
            await asyncio.sleep(every_s)
            s = (await client.get("/api/status")).json()
            print(
                f"status: {s['devices_tracked']} devices, {s['readings_accepted']} readings, "
                f"{s['windows_scored']} windows scored, {s['active_alerts']} active alerts",
                flush=True,
            )


class _DemoServer(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`run_demo` stops it on SIGINT or
    SIGTERM itself. uvicorn's re-raised signal interrupted the app's lifespan task, and a
    Ctrl-C printed 25 lines of ``KeyboardInterrupt`` / ``CancelledError`` tracebacks
    (newcomer of 1 Dec 13:45)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_demo(
    opts: DemoOptions, settings: Settings, replay_data: list[Reading3] | None = None
) -> None:
    """Serve the API and feed it until ``duration_s`` passes, the process is interrupted, or a
    replay (without ``loop``) has sent its last row, when a summary is printed.

    Raises:
        app.demo_replay.ReplayError: the replay file, columns or rows are unusable.
        SystemExit: the server did not start.
    """
    if opts.replay and replay_data is None:
        replay_data = load_replay(
            opts.replay, (opts.gas_col, opts.temp_col, opts.rh_col), opts.replay_rows
        )
    if settings.bootstrap_admin_key is None:  # a fresh random admin key for this demo
        settings = settings.model_copy(
            update={"bootstrap_admin_key": SecretStr(secrets.token_urlsafe(32))}
        )
    assert settings.bootstrap_admin_key is not None
    admin = settings.bootstrap_admin_key.get_secret_value()
    server = _DemoServer(
        uvicorn.Config(create_app(settings), host=opts.host, port=opts.port, log_level="warning")
    )
    stop = asyncio.Event()  # SIGINT (Ctrl-C) or SIGTERM: a clean shutdown, then "stopped"
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():  # start-up failed; uvicorn logged why and exits non-zero
            await serving
            raise SystemExit("gasleak: the server did not start (see the error above)")
        await asyncio.sleep(0.05)
    base = f"http://{opts.host}:{opts.port}"
    print(
        f"gasleak serving on {base}  (console: {base}/, API docs: {base}/docs, "
        f"status: {base}/api/status)"
    )
    keys = await make_keys(base, admin, "replay-" if opts.replay else "sim-")
    print(
        "API keys of this demo (keep them; only their hashes are stored):\n"
        f"  console sign-in (operator): {keys.operator}\n"
        f"  admin (keys, devices, audit; /docs Authorize): {keys.admin}",
        flush=True,
    )
    # Simulated time runs `speed` times faster than the clock, starting a day back (inside
    # the readings-history retention, 7 days); after 1 day / (speed - 1), 2.7 h at 10x, it
    # has caught up and `pace` holds it to the clock (future readings are refused). Whole
    # seconds: a reading's time maps back to its replay row exactly.
    t0 = float(int(time.time()) - 86_400)
    log: ReplayLog | None = None
    if opts.replay and replay_data:
        first = opts.replay_rows[0] if opts.replay_rows else 0
        log = ReplayLog(t0=t0, first_row=first, n_rows=len(replay_data))
        feeds = [replay_gateway(base, replay_data, log, opts.speed, opts.loop, keys.gateway)]
        print(
            f"replaying {opts.replay} rows {first}-{first + len(replay_data) - 1} as device "
            f"replay-1 at {opts.speed} readings/s{' in a loop' if opts.loop else ''}"
        )
    else:
        names = [f"sim-{i:02d}" for i in range(opts.devices)]
        half = len(names) // 2
        feeds = [
            http_gateway(
                base,
                {n: sim_stream(i) for i, n in enumerate(names[:half])},
                t0,
                opts.speed,
                keys.gateway,
            ),
            ws_gateway(
                base,
                {n: sim_stream(half + i) for i, n in enumerate(names[half:])},
                t0,
                opts.speed,
                keys.gateway,
            ),
        ]
        print(
            f"{opts.devices} simulated devices ({half} over HTTP, {len(names) - half} over "
            f"WebSocket), 1 reading per simulated second at {opts.speed}x speed; "
            "every third 10-minute segment holds a leak"
        )
    feed_tasks = [asyncio.create_task(c) for c in feeds]
    tasks = [
        asyncio.create_task(c)
        for c in (print_alerts(base, keys.operator, log), print_status(base, keys.operator))
    ]
    tasks += feed_tasks
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            [serving, stopping, *tasks],
            timeout=opts.duration_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for t in done:  # a crashed task ends the demo with its error, never silently
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if log is not None and all(t in done for t in feed_tasks):
            await settle(base, keys.operator)
    finally:
        for t in [*tasks, stopping]:
            t.cancel()
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
        server.should_exit = True
        await serving
        if stop.is_set():
            print("stopped", flush=True)
        if log is not None and opts.replay and not opts.loop:
            print(log.summary(opts.replay), flush=True)
