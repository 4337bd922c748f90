"""Load generator: simulated gateways and an alert subscriber against a real server.

Run as its own process (``python -m bench.load CONFIG_JSON``), so that the server and the
generator do not share an interpreter; prints one JSON object with the results.

Devices: ``devices`` ids, each sending ``rate`` readings/s of clean air (gas near 420 ppm,
21 °C, 45 %RH, small noise). A ``leaky_fraction`` of them ("leaky") jump to ``LEAK_PPM``
at an onset inside the paced phase. Readings travel as JSON arrays over ``gateways``
WebSocket connections to ``/ws/readings``; every frame gets an IngestResult reply.

Phases (in the order given):
    prefill: every device gets ``window`` readings (time stamps in the past), fast.
    paced: each device sends at ``rate`` for ``seconds`` (frames every ``TICK_S``);
        latency = receive time of an ``alert.raised`` frame on ``/ws/alerts`` minus the send
        time of the reading whose ``ts`` equals the event's ``ts``.
    saturate: each gateway sends a reading for each of its devices per frame, two frames
        in flight, as fast as replies come; after a warm-up of up to 3 s (queues fill),
        ``seconds`` are measured (the service's capacity).
    memory: new devices (one reading each, REST batches) up to ``track_devices``;
        server RSS before and after, and one more device to check the cap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

TICK_S = 0.005
LEAK_PPM = 3500.0
CLEAN_PPM = 420.0


@dataclass
class Fleet:
    """Device ids, which are leaky and when, and how readings are encoded."""

    n: int
    rate: float
    t0: float  # epoch seconds at which the paced phase starts
    leak_onset: dict[int, float]  # device index -> seconds after t0
    noise: np.ndarray = field(default_factory=lambda: np.random.default_rng(7).normal(0, 2, 4099))
    sent: np.ndarray = field(init=False)  # readings sent per device since t0

    def __post_init__(self) -> None:
        self.ids = [f"dev-{i:06d}" for i in range(self.n)]
        self.phase = (np.arange(self.n) / self.n) / self.rate  # spread sends over a period
        self.sent = np.zeros(self.n, dtype=np.int64)

    def ts_of(self, i: int, k: int) -> float:
        """Time stamp of device ``i``'s ``k``-th reading after t0 (k < 0: prefill)."""
        return round(self.t0 + self.phase[i] + k / self.rate, 3)

    def encode(self, i: int, ts: float) -> str:
        """One reading as JSON text."""
        onset = self.leak_onset.get(i)
        e = self.noise[(i * 31 + int(ts * self.rate)) % self.noise.size]
        leaking = onset is not None and ts >= self.t0 + onset
        gas = (LEAK_PPM if leaking else CLEAN_PPM) + 4 * e
        return (
            f'{{"device_id":"{self.ids[i]}","ts":{ts:.3f},"gas_ppm":{gas:.2f},'
            f'"temperature_c":{21 + 0.1 * e:.2f},"humidity_pct":{45 + 0.3 * e:.2f}}}'
        )


#: Most readings one frame carries (the service's max_batch_readings default).
MAX_FRAME = 10_000


@dataclass
class Tally:
    """Replies of one phase, in readings (frames where named)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    shed: int = 0  # in frames answered "overloaded": nothing of them was accepted
    shed_frames: int = 0
    errors: int = 0  # in frames answered with any other error
    frames: int = 0
    replies: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Gateway:
    """One WebSocket connection to /ws/readings, with a task that reads the replies.

    Replies come in frame order; each resolves the future :meth:`send` returned. An
    ``overloaded`` reply holds the gateway's next frame back for its ``retry_after_s``.
    """

    def __init__(self, ws: Any, devices: np.ndarray, in_flight: int = 2) -> None:
        self.ws = ws
        self.devices = devices
        self.tally = Tally()
        self.room = asyncio.Semaphore(in_flight)
        self.waiting: collections.deque[tuple[asyncio.Future[dict], int]] = collections.deque()
        self.hold_until = 0.0  # perf_counter time before which the server asked us to wait
        self.closed: str | None = None  # close code and reason once the connection ended
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                self._reply(json.loads(msg))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = f"{self.ws.close_code} {self.ws.close_reason}"
            for fut, _ in self.waiting:
                fut.cancel()
                self.room.release()  # a sender waiting for a slot wakes, and sees the close
            self.tally.done.set()

    def _reply(self, body: dict) -> None:
        fut, n = self.waiting.popleft()
        t = self.tally
        t.replies += 1
        if "accepted" in body:
            t.accepted += body["accepted"]
            t.rejected += len(body["rejected"])
        elif body.get("error") == "overloaded":
            t.shed += n
            t.shed_frames += 1
            self.hold_until = time.perf_counter() + float(body.get("retry_after_s", 1.0))
        else:
            t.errors += n
        self.room.release()
        fut.set_result(body)
        if t.replies == t.frames:
            t.done.set()

    @property
    def alive(self) -> bool:
        """Whether the connection is still open."""
        return self.closed is None

    def ready(self) -> bool:
        """Room for a frame now: open, a free slot, and no overloaded hold."""
        return self.alive and not self.room.locked() and time.perf_counter() >= self.hold_until

    async def hold(self) -> None:
        """Sleep out an overloaded reply's ``retry_after_s``."""
        await asyncio.sleep(max(0.0, self.hold_until - time.perf_counter()))

    async def send(self, readings: list[str]) -> tuple[float, asyncio.Future[dict]]:
        """Send one frame once a slot is free; (perf_counter just before sending, reply).

        Raises:
            websockets.ConnectionClosed: the connection ended.
        """
        await self.room.acquire()
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self.waiting.append((fut, len(readings)))
        self.tally.frames += 1
        self.tally.sent += len(readings)
        self.tally.done.clear()
        t = time.perf_counter()
        await self.ws.send("[" + ",".join(readings) + "]")
        return t, fut

    async def settle(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for the replies to every frame sent; frames unanswered."""
        if self.tally.replies < self.tally.frames and self.alive:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tally.done.wait(), timeout)
        return self.tally.frames - self.tally.replies

    def reset(self) -> Tally:
        old, self.tally = self.tally, Tally()
        return old


def totals(tallies: list[Tally]) -> dict[str, int]:
    """Sum of the tallies' reading counts, and what none of them accounts for (lost)."""
    out = {k: sum(getattr(x, k) for x in tallies) for k in ("sent", "accepted", "rejected")}
    out |= {k: sum(getattr(x, k) for x in tallies) for k in ("shed", "shed_frames", "errors")}
    out["unanswered_frames"] = sum(x.frames - x.replies for x in tallies)
    return out


class Subscriber:
    """``/ws/alerts`` subscriber: receive time of each alert.raised, by device and ts."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.raised: list[tuple[str, float, float]] = []  # device, ts, perf_counter at receive
        self.frames: dict[str, int] = {}  # "type:kind" -> frames received
        self.closed: str | None = None  # close code and reason, if the server closed it
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                t = time.perf_counter()
                ev = json.loads(msg)
                key = f"{ev.get('type')}:{ev.get('kind')}"
                self.frames[key] = self.frames.get(key, 0) + 1
                if ev.get("type") == "alert.raised" and ev.get("kind", "leak") == "leak":
                    ts = datetime.fromisoformat(ev["ts"]).timestamp()
                    self.raised.append((ev["device_id"], ts, t))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = f"{self.ws.close_code} {self.ws.close_reason}"


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    """GET /api/status."""
    return (await http.get("/api/status")).json()


async def wait_idle(http: httpx.AsyncClient, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the server has no window pending; return its status."""
    deadline = time.monotonic() + timeout
    while True:
        s = await status(http)
        if s["windows_pending"] == 0 or time.monotonic() > deadline:
            return s
        await asyncio.sleep(0.05)


def rss(pid: int) -> int:
    """VmRSS of ``pid``, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def prefill(fleet: Fleet, gws: list[Gateway], http: httpx.AsyncClient, window: int) -> dict:
    """``window`` past readings for every device, 50 devices a frame; a frame the server
    sheds is sent again after its ``retry_after_s`` (frames hold disjoint devices, so a
    resend keeps each device's readings in order)."""
    t = time.perf_counter()

    async def fill(gw: Gateway) -> None:
        devs = gw.devices.tolist()
        for a in range(0, len(devs), 50):
            frame = [
                fleet.encode(i, fleet.ts_of(i, k))
                for i in devs[a : a + 50]
                for k in range(-window, 0)
            ]
            while gw.alive:
                await gw.hold()
                _, reply = await gw.send(frame)
                if (await reply).get("error") != "overloaded":
                    break

    await asyncio.gather(*(fill(gw) for gw in gws), return_exceptions=True)
    s = await wait_idle(http, 300)
    tallies = [gw.reset() for gw in gws]
    return {
        "prefill_s": round(time.perf_counter() - t, 2),
        "sent": fleet.n * window,
        "accepted": sum(x.accepted for x in tallies),
        "shed_frames_resent": sum(x.shed_frames for x in tallies),
        "windows_scored": s["windows_scored"],
    }


def _frame(fleet: Fleet, devs: np.ndarray, due: np.ndarray) -> list[tuple[int, float]]:
    """The due readings of ``devs`` (oldest first per device), at most MAX_FRAME; marks
    them sent."""
    frame: list[tuple[int, float]] = []
    for i in devs[due[devs] > fleet.sent[devs]].tolist():
        upto = min(int(due[i]), int(fleet.sent[i]) + MAX_FRAME - len(frame))
        frame.extend((i, fleet.ts_of(i, k)) for k in range(int(fleet.sent[i]), upto))
        fleet.sent[i] = upto
        if len(frame) >= MAX_FRAME:
            break
    return frame


async def paced(
    fleet: Fleet,
    gws: list[Gateway],
    http: httpx.AsyncClient,
    sub: Subscriber,
    seconds: float,
    dump: str | None = None,
) -> dict:
    """Every device at ``fleet.rate`` for ``seconds``; latency of leaky devices' alerts.

    Each gateway keeps at most 8 frames in flight and honours ``overloaded`` replies'
    ``retry_after_s``; readings due meanwhile wait at the gateway and go in its next frame
    (up to MAX_FRAME), as a real gateway's buffer would. Readings still waiting at the end
    are ``backlog``: the service slowed its producers by that much.
    ``dump``: a file to write each leak alert's
    ``[device_id, ts, send time, receive time]`` to (``time.perf_counter``; for
    ``bench.trace``).
    """
    for gw in gws:
        gw.room = asyncio.Semaphore(8)
    sent_at: dict[tuple[int, int], float] = {}
    n_raised0 = len(sub.raised)
    s0 = await status(http)
    p0 = time.perf_counter()
    while (elapsed := time.perf_counter() - p0) < seconds:
        due = np.floor((time.time() - fleet.t0 - fleet.phase) * fleet.rate).astype(np.int64) + 1
        for gw in gws:
            if not gw.ready():
                continue
            frame = _frame(fleet, gw.devices, due)
            if not frame:
                continue
            try:
                t, _ = await gw.send([fleet.encode(i, ts) for i, ts in frame])
            except websockets.ConnectionClosed:
                continue
            for i, ts in frame:
                if i in fleet.leak_onset:
                    sent_at[(i, round(ts * 1000))] = t
        await asyncio.sleep(max(0.0, TICK_S - (time.perf_counter() - p0 - elapsed)))
    elapsed = time.perf_counter() - p0
    due = np.floor((time.time() - fleet.t0 - fleet.phase) * fleet.rate).astype(np.int64) + 1
    backlog = int(np.maximum(due - fleet.sent, 0).sum())
    fleet.sent[:] = np.maximum(due, fleet.sent)  # what a gateway could not send is skipped
    s1 = await status(http)
    unanswered = [await gw.settle(120) for gw in gws]
    await wait_idle(http, 120)
    await asyncio.sleep(0.5)  # alert frames still in flight
    tallies = [gw.reset() for gw in gws]
    lat, leaky_raised, false_raised = [], set(), 0
    traced: list[list[Any]] = []  # device, ts, send and receive times of each leak alert
    for dev, ts, t_recv in sub.raised[n_raised0:]:
        i = int(dev.split("-")[1])
        if i not in fleet.leak_onset:
            false_raised += 1
            continue
        leaky_raised.add(i)
        ms = round(ts * 1000)
        t_send = next((sent_at[(i, m)] for m in (ms, ms - 1, ms + 1) if (i, m) in sent_at), None)
        if t_send is not None:
            lat.append((t_recv - t_send) * 1000)
        traced.append([dev, ts, t_send, t_recv])
    if dump:
        Path(dump).write_text(json.dumps(traced))
    tot = totals(tallies)
    q = np.percentile(lat, [50, 95, 99]).round(2).tolist() if lat else [None] * 3
    return {
        "seconds": round(elapsed, 2),
        "offered_readings_per_s": fleet.n * fleet.rate,
        "readings_sent": tot["sent"],
        "readings_accepted": tot["accepted"],
        "readings_shed": tot["shed"],
        "frames_shed": tot["shed_frames"],
        "readings_rejected": tot["rejected"],
        "backlog": backlog,
        "unanswered_frames": sum(unanswered),
        "dropped": tot["sent"] - tot["accepted"] - tot["shed"] - tot["rejected"] - tot["errors"],
        "readings_per_s": round((s1["readings_accepted"] - s0["readings_accepted"]) / elapsed, 1),
        "windows_per_s": round((s1["windows_scored"] - s0["windows_scored"]) / elapsed, 1),
        "latency_ms": {
            "p50": q[0],
            "p95": q[1],
            "p99": q[2],
            "n": len(lat),
            "max": round(max(lat), 2) if lat else None,
        },
        "leaky_devices": len(fleet.leak_onset),
        "leaky_alerted": len(leaky_raised),
        "false_alerts": false_raised,
        "alert_frames": dict(sub.frames),
        "subscriber_closed": sub.closed,
    }


async def saturate(
    fleet: Fleet, gws: list[Gateway], http: httpx.AsyncClient, seconds: float
) -> dict:
    """Closed loop: each gateway keeps two frames (one reading per device) in flight.

    Readings go out far faster than ``rate``, so their time stamps step by 1 ms from each
    device's next paced stamp: they stay in order and never run ahead of the server clock
    (the service refuses readings more than 5 minutes in the future). A gateway told
    ``overloaded`` waits the reply's ``retry_after_s`` (the shed frame is not resent).
    """
    for gw in gws:
        gw.room = asyncio.Semaphore(2)
    stop = asyncio.Event()
    start = fleet.sent.copy()
    base = [fleet.ts_of(i, int(start[i])) for i in range(len(start))]

    async def drive(gw: Gateway) -> None:
        devs = gw.devices.tolist()
        while not stop.is_set() and gw.alive:
            await gw.hold()
            frame = [
                fleet.encode(i, round(base[i] + 0.001 * int(fleet.sent[i] - start[i]), 3))
                for i in devs
            ]
            fleet.sent[gw.devices] += 1
            try:
                await gw.send(frame)
            except websockets.ConnectionClosed:
                return

    s_start = await status(http)
    tasks = [asyncio.create_task(drive(gw)) for gw in gws]
    await asyncio.sleep(min(3.0, seconds / 2))  # warm-up: queues fill, batches reach size
    s0 = await status(http)
    p0 = time.perf_counter()
    await asyncio.sleep(seconds)
    s1 = await status(http)
    elapsed = time.perf_counter() - p0
    stop.set()
    await asyncio.gather(*tasks)
    unanswered = [await gw.settle(300) for gw in gws]
    s2 = await wait_idle(http, 300)
    tallies = [gw.reset() for gw in gws]
    tot = totals(tallies)
    return {
        "seconds": round(elapsed, 2),
        "readings_sent": tot["sent"],
        "readings_accepted": tot["accepted"],
        "readings_shed": tot["shed"],
        "frames_shed": tot["shed_frames"],
        "unanswered_frames": sum(unanswered),
        "dropped": tot["sent"] - tot["accepted"] - tot["shed"] - tot["rejected"] - tot["errors"],
        "readings_per_s": round((s1["readings_accepted"] - s0["readings_accepted"]) / elapsed, 1),
        "windows_per_s": round((s1["windows_scored"] - s0["windows_scored"]) / elapsed, 1),
        "windows_unscored": tot["accepted"] - (s2["windows_scored"] - s_start["windows_scored"]),
        "scoring_errors": s2["scoring_errors"],
    }


async def post_retrying(http: httpx.AsyncClient, body: str, tally: dict[str, int]) -> None:
    """POST /api/readings; on 429 wait its Retry-After and send again (counted)."""
    while True:
        r = await http.post(
            "/api/readings", content=body, headers={"content-type": "application/json"}
        )
        if r.status_code != 429:
            r.raise_for_status()
            return
        tally["http_429"] += 1
        await asyncio.sleep(float(r.headers.get("retry-after", "1")))


async def memory(http: httpx.AsyncClient, pid: int, track: int) -> dict:
    """Add devices (one reading each) up to ``track`` tracked; RSS before and after."""
    s0 = await status(http)
    target = min(track, s0["max_devices"])
    before = rss(pid)
    now = round(time.time(), 3)
    new = [f"mem-{i:07d}" for i in range(target - s0["devices_tracked"])]
    tally = {"http_429": 0}
    for a in range(0, len(new), 5000):
        body = ",".join(
            f'{{"device_id":"{d}","ts":{now},"gas_ppm":420.0,"temperature_c":21.0,'
            f'"humidity_pct":45.0}}'
            for d in new[a : a + 5000]
        )
        await post_retrying(http, "[" + body + "]", tally)
    await wait_idle(http)
    after = rss(pid)
    s1 = await status(http)
    out = {
        "devices_added": len(new),
        "devices_tracked": s1["devices_tracked"],
        "max_devices": s1["max_devices"],
        "rss_before_mb": round(before / 2**20, 1),
        "rss_mb": round(after / 2**20, 1),
        "bytes_per_device": round((after - before) / max(1, len(new))),
        "http_429": tally["http_429"],
    }
    if s1["devices_tracked"] >= s1["max_devices"]:
        r = await http.post(
            "/api/readings",
            json=[
                {
                    "device_id": "one-too-many",
                    "ts": now,
                    "gas_ppm": 1.0,
                    "temperature_c": 20.0,
                    "humidity_pct": 40.0,
                }
            ],
        )
        errs = r.json()["rejected"]
        out["cap_holds"] = bool(errs) and errs[0]["errors"][0]["type"] == "device_cap"
    return out


def overload(s0: dict, s1: dict, gws: list[Gateway], sub: Subscriber) -> dict:
    """What the server shed over the run, connections still open, and whether anything it
    accepted was then lost (a window queued for scoring that was neither scored nor
    counted as a scoring error)."""
    o0, o1 = s0["overload"], s1["overload"]
    by_reason = {
        k: v - o0["shed_by_reason"].get(k, 0)
        for k, v in o1["shed_by_reason"].items()
        if v - o0["shed_by_reason"].get(k, 0)
    }
    lost = (s1["windows_submitted"] - s0["windows_submitted"]) - (
        s1["windows_scored"] - s0["windows_scored"]
    )
    lost -= s1["scoring_errors"] - s0["scoring_errors"] + s1["windows_pending"]
    return {
        "shed_messages": o1["shed_messages"] - o0["shed_messages"],
        "shed_by_reason": by_reason,
        "gateways": len(gws),
        "gateways_alive": sum(gw.alive for gw in gws),
        "gateways_closed": [gw.closed for gw in gws if not gw.alive],
        "subscriber_alive": sub.closed is None,
        "accepted_then_lost": lost,
        "windows_pending_at_end": s1["windows_pending"],  # still queued: scored later
    }


async def run(cfg: dict) -> dict:
    """Connect the gateways and the subscriber, then run ``cfg["phases"]`` in order."""
    n, rate, seconds = cfg["devices"], cfg["rate"], cfg["seconds"]
    t0 = time.time()
    every = max(1, round(1 / cfg["leaky_fraction"])) if cfg["leaky_fraction"] > 0 else n + 1
    leaky = list(range(0, n, every))
    # alerts should be raised inside the paced phase: with the model needing ``raise_after``
    # leaky readings (bench.calibrate), a leak starts that long before its target time
    lead = (cfg["raise_after"] - 1) / rate if cfg.get("raise_after") else 0.0
    span = max(0.5, seconds - 2.0 - 1 / rate)
    onset = {i: 0.5 + span * j / max(1, len(leaky)) - lead for j, i in enumerate(leaky)}
    fleet = Fleet(n, rate, t0, onset)
    g = max(1, min(cfg["gateways"], n))
    ws_url = cfg["base"].replace("http", "ws", 1)
    out: dict[str, Any] = {}
    # the server's admin key comes in the environment (bench.server), never on the command line
    auth = {"Authorization": f"Bearer {os.environ['GASLEAK_BOOTSTRAP_ADMIN_KEY']}"}
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=cfg["base"], timeout=300, headers=auth)
        )
        conns = [
            await stack.enter_async_context(
                websockets.connect(
                    ws_url + "/ws/readings",
                    max_size=None,
                    ping_interval=None,
                    additional_headers=auth,
                )
            )
            for _ in range(g)
        ]
        gws = [Gateway(c, np.arange(k, n, g)) for k, c in enumerate(conns)]
        alerts_ws = await stack.enter_async_context(
            websockets.connect(ws_url + "/ws/alerts", ping_interval=None, additional_headers=auth)
        )
        await alerts_ws.recv()  # the "subscribed" frame
        sub = Subscriber(alerts_ws)
        s_begin = await status(http)
        for phase in cfg["phases"]:
            if phase == "prefill":
                fleet.t0 = time.time()  # prefill time stamps lie before t0
                out[phase] = await prefill(fleet, gws, http, cfg["prefill"])
                fleet.t0 = time.time()  # the paced phase starts now (later stamps)
            elif phase == "paced":
                out[phase] = await paced(fleet, gws, http, sub, seconds, cfg.get("dump"))
            elif phase == "saturate":
                out[phase] = await saturate(fleet, gws, http, seconds)
            elif phase == "memory":
                out[phase] = await memory(http, cfg["server_pid"], cfg["track_devices"])
        out["overload"] = overload(s_begin, await wait_idle(http, 120), gws, sub)
        for gw in gws:
            gw.reader.cancel()
        sub.task.cancel()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
