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


@dataclass
class Tally:
    """Replies of one phase."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    frames: int = 0
    replies: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Gateway:
    """One WebSocket connection to /ws/readings, with a task that reads the replies."""

    def __init__(self, ws: Any, devices: np.ndarray) -> None:
        self.ws = ws
        self.devices = devices
        self.tally = Tally()
        self.room = asyncio.Semaphore(2)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            body = json.loads(msg)
            t = self.tally
            t.replies += 1
            t.accepted += body.get("accepted", 0)
            t.rejected += len(body.get("rejected", ())) if "accepted" in body else 0
            self.room.release()
            if t.replies == t.frames:
                t.done.set()

    async def send(self, readings: list[str]) -> float:
        """Send one frame; returns the perf_counter time just before sending."""
        await self.room.acquire()
        self.tally.frames += 1
        self.tally.sent += len(readings)
        self.tally.done.clear()
        t = time.perf_counter()
        await self.ws.send("[" + ",".join(readings) + "]")
        return t

    async def settle(self, timeout: float) -> None:
        """Wait for the replies to every frame sent."""
        if self.tally.replies < self.tally.frames:
            await asyncio.wait_for(self.tally.done.wait(), timeout)

    def reset(self) -> Tally:
        old, self.tally = self.tally, Tally()
        return old


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
    """``window`` past readings for every device, 50 devices a frame."""
    t = time.perf_counter()
    for gw in gws:
        devs = gw.devices.tolist()
        for a in range(0, len(devs), 50):
            await gw.send(
                [
                    fleet.encode(i, fleet.ts_of(i, k))
                    for i in devs[a : a + 50]
                    for k in range(-window, 0)
                ]
            )
    for gw in gws:
        await gw.settle(300)
    s = await wait_idle(http, 300)
    tallies = [gw.reset() for gw in gws]
    return {
        "prefill_s": round(time.perf_counter() - t, 2),
        "sent": sum(x.sent for x in tallies),
        "accepted": sum(x.accepted for x in tallies),
        "windows_scored": s["windows_scored"],
    }


async def paced(
    fleet: Fleet, gws: list[Gateway], http: httpx.AsyncClient, sub: Subscriber, seconds: float
) -> dict:
    """Every device at ``fleet.rate`` for ``seconds``; latency of leaky devices' alerts."""
    for gw in gws:
        gw.room = asyncio.Semaphore(100_000)  # paced: never hold a frame back
    owner = np.empty(fleet.n, dtype=np.int64)
    for g, gw in enumerate(gws):
        owner[gw.devices] = g
    sent_at: dict[tuple[int, int], float] = {}
    n_raised0 = len(sub.raised)
    s0 = await status(http)
    p0 = time.perf_counter()
    while (elapsed := time.perf_counter() - p0) < seconds:
        due = np.floor((time.time() - fleet.t0 - fleet.phase) * fleet.rate).astype(np.int64) + 1
        new = np.flatnonzero(due > fleet.sent)
        frames: list[list[tuple[int, float]]] = [[] for _ in gws]
        for i in new.tolist():
            for k in range(int(fleet.sent[i]), int(due[i])):
                frames[owner[i]].append((i, fleet.ts_of(i, k)))
            fleet.sent[i] = due[i]
        for gw, frame in zip(gws, frames, strict=True):
            if frame:
                t = await gw.send([fleet.encode(i, ts) for i, ts in frame])
                for i, ts in frame:
                    if i in fleet.leak_onset:
                        sent_at[(i, round(ts * 1000))] = t
        await asyncio.sleep(max(0.0, TICK_S - (time.perf_counter() - p0 - elapsed)))
    elapsed = time.perf_counter() - p0
    s1 = await status(http)
    for gw in gws:
        await gw.settle(120)
    await wait_idle(http, 120)
    await asyncio.sleep(0.5)  # alert frames still in flight
    tallies = [gw.reset() for gw in gws]
    lat, leaky_raised, false_raised = [], set(), 0
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
    sent = sum(x.sent for x in tallies)
    accepted = sum(x.accepted for x in tallies)
    q = np.percentile(lat, [50, 95, 99]).round(2).tolist() if lat else [None] * 3
    return {
        "seconds": round(elapsed, 2),
        "offered_readings_per_s": fleet.n * fleet.rate,
        "readings_sent": sent,
        "readings_accepted": accepted,
        "dropped": sent - accepted,
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
    (the service refuses readings more than 5 minutes in the future).
    """
    for gw in gws:
        gw.room = asyncio.Semaphore(2)
    stop = asyncio.Event()
    start = fleet.sent.copy()
    base = [fleet.ts_of(i, int(start[i])) for i in range(len(start))]

    async def drive(gw: Gateway) -> None:
        devs = gw.devices.tolist()
        while not stop.is_set():
            frame = [
                fleet.encode(i, round(base[i] + 0.001 * int(fleet.sent[i] - start[i]), 3))
                for i in devs
            ]
            fleet.sent[gw.devices] += 1
            await gw.send(frame)

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
    for gw in gws:
        await gw.settle(300)
    s2 = await wait_idle(http, 300)
    tallies = [gw.reset() for gw in gws]
    sent = sum(x.sent for x in tallies)
    accepted = sum(x.accepted for x in tallies)
    return {
        "seconds": round(elapsed, 2),
        "readings_sent": sent,
        "readings_accepted": accepted,
        "dropped": sent - accepted,
        "readings_per_s": round((s1["readings_accepted"] - s0["readings_accepted"]) / elapsed, 1),
        "windows_per_s": round((s1["windows_scored"] - s0["windows_scored"]) / elapsed, 1),
        "windows_unscored": accepted - (s2["windows_scored"] - s_start["windows_scored"]),
        "scoring_errors": s2["scoring_errors"],
    }


async def memory(http: httpx.AsyncClient, pid: int, track: int) -> dict:
    """Add devices (one reading each) up to ``track`` tracked; RSS before and after."""
    s0 = await status(http)
    target = min(track, s0["max_devices"])
    before = rss(pid)
    now = round(time.time(), 3)
    new = [f"mem-{i:07d}" for i in range(target - s0["devices_tracked"])]
    for a in range(0, len(new), 5000):
        body = ",".join(
            f'{{"device_id":"{d}","ts":{now},"gas_ppm":420.0,"temperature_c":21.0,'
            f'"humidity_pct":45.0}}'
            for d in new[a : a + 5000]
        )
        r = await http.post(
            "/api/readings", content="[" + body + "]", headers={"content-type": "application/json"}
        )
        r.raise_for_status()
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
        for phase in cfg["phases"]:
            if phase == "prefill":
                fleet.t0 = time.time()  # prefill time stamps lie before t0
                out[phase] = await prefill(fleet, gws, http, cfg["prefill"])
                fleet.t0 = time.time()  # the paced phase starts now (later stamps)
            elif phase == "paced":
                out[phase] = await paced(fleet, gws, http, sub, seconds)
            elif phase == "saturate":
                out[phase] = await saturate(fleet, gws, http, seconds)
            elif phase == "memory":
                out[phase] = await memory(http, cfg["server_pid"], cfg["track_devices"])
        for gw in gws:
            gw.reader.cancel()
        sub.task.cancel()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
