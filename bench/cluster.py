"""``python -m bench.cluster``: device-partitioned replicas end to end, with a replica killed.

Starts a NATS server with JetStream (Debian's ``nats-server``), a throwaway PostgreSQL
(``.ci/postgres.sh``'s ``pg_start``) and ``--replicas`` service processes in cluster mode
(``python -m bench.serve``, ``GASLEAK_CLUSTER_NATS_URL``), then:

1. **prefill**: every device gets 60 readings (past time stamps), so it is warm;
2. **paced**: ``--devices`` × ``--rate`` readings/s for ``--seconds`` s over WebSocket
   gateways spread over the replicas; ``--leaky-fraction`` of the devices leak (gas
   3,500 ppm from an onset inside the run, as :mod:`bench.load`); half-way through,
   ``--kill`` replicas get SIGKILL. A gateway whose replica dies reconnects to another and
   sends again every frame not yet answered (at least once: owners drop a reading not newer
   than the device's newest);
3. optionally **saturated** (``--saturate S``): gateways send as fast as replies come for S
   seconds; readings processed by the owners per second (the cluster's capacity);
4. the event log is read back from a surviving replica and from each replica's
   ``/ws/alerts`` subscriber (``since=0``).

Prints one JSON object as its last line: ``readings_per_s`` (readings processed by partition
owners per second, paced phase), ``alerts_expected`` (leaky devices whose leak starts early
enough to be raised), ``alerts_received`` (distinct leak alerts raised that a surviving
replica's ``/ws/alerts`` delivered), ``lost`` (expected but never raised), ``duplicated``
(leak alerts raised beyond one per device: the same episode raised twice), ``false_alerts``,
``failover_s`` (SIGKILL → every partition owned and consuming again on the survivors, as
their polled statuses show), ``failover_steps`` (the same by the replicas' clocks: kill →
first and last lease taken, → last partition ready, the longest of each takeover step,
takeovers that used a pre-warm), ``replicas`` (per replica: readings/s as owner, CPU
seconds, partitions, renewal gaps, pre-warms), and details.

Needs ``nats-server`` and PostgreSQL's ``initdb``/``pg_ctl`` (Debian packages ``nats-server``,
``postgresql``; ``.ci/run`` installs both).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from bench.load import Fleet
from bench.server import free_port, terminate

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 60
#: Readings a leak needs before it must have been raised: the shipped model raises a
#: 3,500 ppm step after about 4 readings (``bench.calibrate``: 3 windows over the threshold
#: once the median-of-3 lets the rise in), plus the policy's alarm delay (5 s of reading
#: time) and a margin; a leak starting fewer than this many readings before the end of the
#: paced phase is not counted in ``alerts_expected``.
RAISE_MARGIN_READINGS = 15
CLK_TCK = os.sysconf("SC_CLK_TCK")


def admin_key() -> str:
    """The replicas' admin key: ``GASLEAK_BOOTSTRAP_ADMIN_KEY`` from the environment, else a
    random one made once per process (kept in the environment, never on a command line)."""
    return os.environ.setdefault("GASLEAK_BOOTSTRAP_ADMIN_KEY", secrets.token_urlsafe(32))


def auth() -> dict[str, str]:
    """``Authorization: Bearer <admin key>`` for HTTP and WebSocket requests."""
    return {"Authorization": f"Bearer {admin_key()}"}


def nats_binary() -> str | None:
    """Path of ``nats-server``, or None (Debian puts it in /usr/sbin)."""
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


def postgres_available() -> bool:
    """Whether PostgreSQL's server binaries are installed (on PATH or Debian's layout)."""
    return bool(shutil.which("pg_ctl") and shutil.which("initdb")) or bool(
        list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    )


@dataclass
class Nats:
    """A ``nats-server -js`` process on loopback with its store in a temporary folder."""

    url: str
    proc: subprocess.Popen[bytes]
    dir: Path

    @classmethod
    def start(cls) -> Nats:
        """Start it and wait until its port answers.

        Raises:
            RuntimeError: no ``nats-server``, or it did not listen within 20 s.
        """
        binary = nats_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed (apt-get install nats-server)")
        port = free_port()
        d = Path(tempfile.mkdtemp(prefix="gasleak-nats-"))
        with (d / "nats.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [binary, "-js", "-sd", str(d / "js"), "-a", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return cls(f"nats://127.0.0.1:{port}", proc, d)
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()
        raise RuntimeError(f"nats-server did not start: {(d / 'nats.log').read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the server and remove its store."""
        terminate(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster started by ``.ci/postgres.sh`` (``pg_start``)."""

    url: str
    env: dict[str, str]

    @classmethod
    def start(cls, fsync: bool = False) -> Postgres:
        """Run ``pg_start`` in bash and keep what ``pg_stop`` needs. ``fsync``: the server
        flushes its WAL at each commit (off, the script's default, for tests; on for a
        latency figure that includes the flush).

        Raises:
            RuntimeError: the script failed (its output is in the message).
        """
        script = (
            "set -e; source .ci/postgres.sh; pg_start >&2; "
            'printf "%s\\n%s\\n%s\\n%s\\n" "$GASLEAK_TEST_DATABASE_URL" "$PG_DIR" "$PG_BIN" '
            '"$PG_USER"'
        )
        env = {**os.environ, "PG_FSYNC": "on" if fsync else "off"}
        r = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if r.returncode != 0:
            raise RuntimeError(f"pg_start failed: {r.stderr[-2000:]}")
        url, pg_dir, pg_bin, pg_user = r.stdout.strip().splitlines()[-4:]
        return cls(url, {"PG_DIR": pg_dir, "PG_BIN": pg_bin, "PG_USER": pg_user})

    def new_database(self) -> str:
        """Create an empty database on this server; its SQLAlchemy URL (a fresh store for
        one service process: alerts left open by an earlier run would be restored)."""
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        name = f"bench_{secrets.token_hex(4)}"

        async def create() -> None:
            conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return url.set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        """``pg_stop``: stop the server and remove its data directory."""
        subprocess.run(
            ["bash", "-c", "source .ci/postgres.sh; pg_stop"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=False,
        )


@dataclass
class Replica:
    """One service process in cluster mode."""

    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    killed_at: float | None = None
    cpu_at_kill: float | None = None
    last_status: dict[str, Any] = field(default_factory=dict)

    @property
    def ws(self) -> str:
        """The ws:// base URL."""
        return self.base.replace("http", "ws", 1)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process so far (``/proc/<pid>/stat``)."""
        if self.cpu_at_kill is not None:
            return self.cpu_at_kill
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def kill(self) -> None:
        """SIGKILL (no graceful hand-over)."""
        self.cpu_at_kill = self.cpu_s()
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def start_replica(name: str, settings: dict[str, str]) -> Replica:
    """Start ``python -m bench.serve PORT`` with ``GASLEAK_*`` settings (not waiting)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.update({f"GASLEAK_{k.upper()}": v for k, v in settings.items()})
    env["GASLEAK_CLUSTER_REPLICA_ID"] = name
    env["GASLEAK_BOOTSTRAP_ADMIN_KEY"] = admin_key()
    log = Path(tempfile.mkstemp(prefix=f"gasleak-{name}-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, f"http://127.0.0.1:{port}", proc, log)


def wait_ready(replicas: list[Replica], partitions: int, timeout: float = 180) -> None:
    """Wait until every replica answers and the partitions are all owned and consuming.

    Raises:
        RuntimeError: a replica exited, or not ready within ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in replicas:
            if r.proc.poll() is not None:
                raise RuntimeError(f"{r.name} exited:\n{r.log.read_text(errors='replace')[-3000:]}")
        try:
            ready: list[int] = []
            fair = True
            for r in replicas:
                c = httpx.get(r.base + "/api/status", timeout=2, headers=auth()).json()["cluster"]
                ready += c["ready"]
                share = len(c["owned"])
                fair &= c["members"] == len(replicas) and 0 < share <= -(
                    -partitions // len(replicas)
                )
            if sorted(ready) == list(range(partitions)) and fair:
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"cluster not ready within {timeout} s")


class Gateway:
    """A WebSocket gateway on ``/ws/readings`` that survives its replica: frames stay
    pending until answered; on a lost connection it reconnects to another live replica and
    sends every pending frame again, in order (at least once)."""

    def __init__(self, gid: int, devices: np.ndarray, alive: list[Replica]) -> None:
        self.gid = gid
        self.devices = devices
        self.alive = alive
        self.pending: collections.deque[str] = collections.deque()
        self.lock = asyncio.Lock()
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.sent = 0  # readings, first sends only
        self.accepted = 0
        self.frames = 0
        self.replies = 0
        self.resent_frames = 0
        self.error_replies = 0
        self.reconnects = 0
        self.answered = asyncio.Event()
        self.room = asyncio.Semaphore(2)  # saturated phase: frames in flight

    async def connect(self) -> None:
        """Connect to a live replica (tries each, for up to 30 s)."""
        deadline = time.monotonic() + 30
        k = self.gid + self.reconnects
        while True:
            r = self.alive[k % len(self.alive)]
            try:
                self.ws = await websockets.connect(
                    r.ws + "/ws/readings",
                    max_size=None,
                    open_timeout=5,
                    ping_interval=None,
                    additional_headers=auth(),
                )
                break
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                k += 1
                await asyncio.sleep(0.2)
        self.reader = asyncio.create_task(self._read(self.ws))

    async def send(self, text: str, n: int) -> None:
        """Send a frame of ``n`` readings (kept pending until answered)."""
        async with self.lock:
            self.pending.append(text)
            self.frames += 1
            self.sent += n
            self.answered.clear()
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.ws.send(text)  # on failure the reader reconnects and resends

    async def _read(self, ws: Any) -> None:
        try:
            async for msg in ws:
                body = json.loads(msg)
                text = self.pending.popleft()
                self.room.release()
                if "accepted" in body:
                    self.replies += 1
                    self.accepted += body["accepted"]
                    if not self.pending:
                        self.answered.set()
                else:  # unavailable: send it again
                    self.error_replies += 1
                    self.pending.append(text)
                    await ws.send(text)
        except websockets.ConnectionClosed:
            pass
        if ws is self.ws:
            await self._reconnect()

    async def _reconnect(self) -> None:
        async with self.lock:
            self.reconnects += 1
            await self.connect()
            for text in list(self.pending):
                self.resent_frames += 1
                await self.ws.send(text)

    async def settle(self, timeout: float) -> None:
        """Wait until every frame has been answered."""
        if self.pending:
            await asyncio.wait_for(self.answered.wait(), timeout)

    async def close(self) -> None:
        """Close the connection."""
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()
        if self.reader is not None:
            self.reader.cancel()


class Subscriber:
    """``/ws/alerts?since=0`` on one replica: every event frame it delivers."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.events: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, OSError):
            async with websockets.connect(
                self.replica.ws + "/ws/alerts?since=0", max_size=None, additional_headers=auth()
            ) as ws:
                async for msg in ws:
                    ev = json.loads(msg)
                    if "event_id" in ev:
                        self.events.append(ev)


async def poll_status(replicas: list[Replica], period: float, stop: asyncio.Event) -> None:
    """Keep each live replica's latest ``/api/status`` in ``last_status``."""
    async with httpx.AsyncClient(timeout=2, headers=auth()) as http:

        async def poll(r: Replica) -> None:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r.last_status = (await http.get(r.base + "/api/status")).json()

        while not stop.is_set():  # all at once: one slow replica does not delay the others
            await asyncio.gather(*(poll(r) for r in replicas if r.killed_at is None))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)


def processed(replicas: list[Replica]) -> int:
    """Readings processed by partition owners, summed (a killed one: its last figure)."""
    return sum(r.last_status.get("cluster", {}).get("readings_processed", 0) for r in replicas)


async def quiesce(replicas: list[Replica], timeout: float) -> None:
    """Wait until the owners' processed count has not moved for 2 s and nothing is pending."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = processed(replicas)
        busy = any(
            r.killed_at is None and r.last_status.get("windows_pending", 0) for r in replicas
        )
        if now != last or busy:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 2.0:
            return


async def failover(alive: list[Replica], partitions: int, kill_wall: float) -> float:
    """Seconds from the kill until the survivors count each other alone as members and
    every partition is ready (taken over, consuming) on one of them."""
    while True:
        await asyncio.sleep(0.1)
        if time.time() - kill_wall < 0.3:  # statuses read before the kill
            continue
        ready: set[int] = set()
        members = set()
        for r in alive:
            c = r.last_status.get("cluster", {})
            ready |= set(c.get("ready", []))
            members.add(c.get("members"))
        if len(ready) == partitions and members == {len(alive)}:
            return time.time() - kill_wall


def failover_steps(alive: list[Replica], kill_wall: float | None) -> dict[str, Any] | None:
    """Where the failover time went, from the survivors' ``recent_takeovers``: seconds
    from the kill to the first and last lease taken, to the last partition ready, and the
    longest of each takeover step (s)."""
    if kill_wall is None:
        return None
    taken = [
        t
        for r in alive
        for t in r.last_status.get("cluster", {}).get("recent_takeovers", [])
        if t["acquired_at"] >= kill_wall
    ]
    if not taken:
        return None
    steps: dict[str, float] = {}
    for t in taken:
        for k, v in t["steps"].items():
            steps[k] = max(steps.get(k, 0.0), v)
    return {
        "partitions": len(taken),
        "first_acquired_s": round(min(t["acquired_at"] for t in taken) - kill_wall, 2),
        "last_acquired_s": round(max(t["acquired_at"] for t in taken) - kill_wall, 2),
        "last_ready_s": round(max(t["ready_at"] for t in taken) - kill_wall, 2),
        "takeover_max_s": round(max(t["ready_at"] - t["acquired_at"] for t in taken), 2),
        "step_max_s": steps,
        "replayed": sum(t["replayed"] for t in taken),
        "prewarmed": sum(bool(t.get("prewarmed")) for t in taken),
    }


async def send_round(fleet: Fleet, gws: list[Gateway], owner: np.ndarray) -> None:
    """Send every reading due by now (each gateway one frame)."""
    due = np.floor((time.time() - fleet.t0 - fleet.phase) * fleet.rate).astype(np.int64) + 1
    new = np.flatnonzero(due > fleet.sent)
    frames: list[list[str]] = [[] for _ in gws]
    for i in new.tolist():
        for k in range(int(fleet.sent[i]), int(due[i])):
            frames[owner[i]].append(fleet.encode(i, fleet.ts_of(i, k)))
        fleet.sent[i] = due[i]
    await asyncio.gather(
        *(gw.send("[" + ",".join(f) + "]", len(f)) for gw, f in zip(gws, frames, strict=True) if f)
    )


async def drive(args: argparse.Namespace, replicas: list[Replica]) -> dict[str, Any]:
    """Prefill, paced phase with the kill, optional saturated phase; then the tallies."""
    rng = np.random.default_rng(11)
    n = args.devices
    leaky = rng.choice(n, size=max(1, round(n * args.leaky_fraction)), replace=False)
    t0 = time.time() + 2.0
    # onsets spread over the run so that some alerts fall in the hand-over
    onsets = rng.uniform(0.05, 0.85, size=leaky.size) * args.seconds
    fleet = Fleet(n, args.rate, t0, {int(i): float(s) for i, s in zip(leaky, onsets, strict=True)})
    alive = list(replicas)
    gws = [Gateway(g, np.arange(g, n, args.gateways), alive) for g in range(min(args.gateways, n))]
    for gw in gws:
        await gw.connect()
    owner = np.empty(n, dtype=np.int64)
    for g, gw in enumerate(gws):
        owner[gw.devices] = g
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_status(replicas, 0.25, stop))
    subs = [Subscriber(r) for r in replicas]
    # 1. prefill: WINDOW past readings per device, 100 devices a frame
    t_pre = time.perf_counter()
    for gw in gws:
        devs = gw.devices.tolist()
        for a in range(0, len(devs), 100):
            rows = [
                fleet.encode(i, fleet.ts_of(i, k) - 2.0)
                for i in devs[a : a + 100]
                for k in range(-WINDOW, 0)
            ]
            await gw.send("[" + ",".join(rows) + "]", len(rows))
    for gw in gws:
        await gw.settle(600)
    await quiesce(replicas, 600)
    prefill_s = time.perf_counter() - t_pre
    fleet.t0 = time.time() + 0.5
    for gw in gws:
        gw.sent = gw.accepted = 0
    # 2. paced, with the kill half-way
    p0 = processed(replicas)
    cpu0 = {r.name: r.cpu_s() for r in replicas}
    per0 = {r.name: r.last_status["cluster"]["readings_processed"] for r in replicas}
    start = time.perf_counter()
    kill_at = args.seconds / 2 if args.kill else None
    victims = replicas[len(replicas) - args.kill :] if args.kill else []
    failover_s: float | None = None
    kill_wall: float | None = None
    watch: asyncio.Task[float] | None = None
    while (elapsed := time.perf_counter() - start) < args.seconds:
        if kill_at is not None and elapsed >= kill_at and kill_wall is None:
            for v in victims:
                v.kill()
                alive.remove(v)
            kill_wall = time.time()
            watch = asyncio.create_task(failover(alive, args.partitions, kill_wall))
        await send_round(fleet, gws, owner)
        await asyncio.sleep(args.tick)
    paced_s = time.perf_counter() - start
    for gw in gws:
        await gw.settle(300)
    await quiesce(replicas, 300)
    if watch is not None:
        with contextlib.suppress(TimeoutError):
            failover_s = await asyncio.wait_for(watch, 60)
    drain_s = time.perf_counter() - start - paced_s
    p1 = processed(replicas)
    cpu1 = {r.name: r.cpu_s() for r in replicas}
    per1 = {r.name: r.last_status["cluster"]["readings_processed"] for r in replicas}
    paced_sent = sum(g.sent for g in gws)
    paced_accepted = sum(g.accepted for g in gws)
    sat: dict[str, Any] = {}
    if args.saturate > 0:
        sat = await saturate(fleet, gws, replicas, args.saturate)
    await asyncio.sleep(1.5)  # last events through every hub
    stop.set()
    await poller
    events = await read_events(alive[0])
    for s in subs:
        s.task.cancel()
    for gw in gws:
        await gw.close()
    return tally(
        args,
        fleet,
        replicas,
        events,
        subs,
        gws,
        {
            "prefill_s": round(prefill_s, 2),
            "paced_s": round(paced_s, 2),
            "drain_s": round(drain_s, 2),
            "processed": p1 - p0,
            "cpu": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
            "per": {k: per1[k] - per0[k] for k in per0},
            "failover_s": None if failover_s is None else round(failover_s, 2),
            "failover_steps": failover_steps(alive, kill_wall),
            "saturated": sat,
            "paced_sent": paced_sent,
            "paced_accepted": paced_accepted,
        },
    )


async def saturate(
    fleet: Fleet, gws: list[Gateway], replicas: list[Replica], seconds: float
) -> dict[str, Any]:
    """Each gateway keeps two frames (one reading per device) in flight for ``seconds``;
    readings processed by the owners per second after a 3 s warm-up."""
    step = 0.01  # s between one device's readings: far from the 5-min-ahead limit
    base = time.time() + 1.0  # after every paced reading

    async def pump(gw: Gateway, until: float) -> None:
        devs = gw.devices.tolist()
        j = 0
        while time.perf_counter() < until:
            await gw.room.acquire()
            j += 1
            rows = [fleet.encode(i, base + j * step) for i in devs]
            await gw.send("[" + ",".join(rows) + "]", len(rows))

    for gw in gws:
        gw.room = asyncio.Semaphore(2)
    end = time.perf_counter() + 3 + seconds
    tasks = [asyncio.create_task(pump(gw, end)) for gw in gws]
    await asyncio.sleep(3)
    p0, t0 = processed(replicas), time.perf_counter()
    cpu0 = {r.name: r.cpu_s() for r in replicas if r.killed_at is None}
    await asyncio.gather(*tasks)
    p1, t1 = processed(replicas), time.perf_counter()
    cpu1 = {k: next(r for r in replicas if r.name == k).cpu_s() for k in cpu0}
    for gw in gws:
        await gw.settle(300)
    await quiesce(replicas, 300)
    return {
        "seconds": round(t1 - t0, 2),
        "readings_per_s": round((p1 - p0) / (t1 - t0), 1),
        "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
    }


async def read_events(r: Replica) -> list[dict[str, Any]]:
    """Every stored event, oldest first (``GET /api/events`` pages)."""
    out: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=r.base, timeout=30, headers=auth()) as http:
        while True:
            since = out[-1]["event_id"] if out else 0
            page = (await http.get("/api/events", params={"since": since, "limit": 1000})).json()
            out += page["events"]
            if len(page["events"]) < 1000:
                return out


def tally(
    args: argparse.Namespace,
    fleet: Fleet,
    replicas: list[Replica],
    events: list[dict[str, Any]],
    subs: list[Subscriber],
    gws: list[Gateway],
    m: dict[str, Any],
) -> dict[str, Any]:
    """The result object (see the module docstring)."""
    raised = [e for e in events if e["type"] == "alert.raised" and e["kind"] == "leak"]
    by_dev = collections.Counter(int(e["device_id"].split("-")[1]) for e in raised)
    margin = RAISE_MARGIN_READINGS / args.rate
    expected = {i for i, s in fleet.leak_onset.items() if s <= args.seconds - margin}
    leaky_alerted = {i for i in by_dev if i in fleet.leak_onset}
    survivors = [s for s in subs if s.replica.killed_at is None]
    store_ids = [e["event_id"] for e in events]
    received = {e["alert_id"] for e in survivors[0].events if e["type"] == "alert.raised"}
    received_leak = {
        e["alert_id"]
        for e in survivors[0].events
        if e["type"] == "alert.raised" and e["kind"] == "leak"
    }
    hub_gaps = {
        s.replica.name: len(set(store_ids) - {e["event_id"] for e in s.events}) for s in survivors
    }
    hub_order_ok = all(
        [e["event_id"] for e in s.events] == sorted({e["event_id"] for e in s.events}) for s in subs
    )
    paced = m["paced_s"]
    per_replica = {
        r.name: {
            "readings_per_s": round(m["per"][r.name] / paced, 1),
            "cpu_s": m["cpu"][r.name],
            "cpu_share": round(m["cpu"][r.name] / paced, 3),
            "partitions_end": r.last_status.get("cluster", {}).get("owned"),
            "killed": r.killed_at is not None,
            "duplicates_dropped": r.last_status.get("cluster", {}).get("duplicates_dropped"),
            "takeovers": r.last_status.get("cluster", {}).get("takeovers"),
            "readings_replayed": r.last_status.get("cluster", {}).get("readings_replayed"),
            "leases_lost": r.last_status.get("cluster", {}).get("leases_lost"),
            "renew_gap_max_s": r.last_status.get("cluster", {}).get("renew_gap_max_s"),
            "renew_gaps_s": r.last_status.get("cluster", {}).get("renew_gaps"),
            "takeover_max_s": r.last_status.get("cluster", {}).get("takeover_max_s"),
            "prewarms": r.last_status.get("cluster", {}).get("prewarms"),
            "prewarms_used": r.last_status.get("cluster", {}).get("prewarms_used"),
            "prewarms_dropped": r.last_status.get("cluster", {}).get("prewarms_dropped"),
        }
        for r in replicas
    }
    return {
        "readings_per_s": round(m["processed"] / paced, 1),
        "offered_readings_per_s": args.devices * args.rate,
        "alerts_expected": len(expected),
        "alerts_received": len(received_leak),
        "lost": len(expected - leaky_alerted),
        "duplicated": sum(c - 1 for c in by_dev.values() if c > 1),
        "false_alerts": sum(c for i, c in by_dev.items() if i not in fleet.leak_onset),
        "failover_s": m["failover_s"],
        "failover_steps": m["failover_steps"],
        "replicas": per_replica,
        "saturated": m["saturated"] or None,
        "details": {
            "replica_count": args.replicas,
            "killed": args.kill,
            "partitions": args.partitions,
            "devices": args.devices,
            "leaky_devices": len(fleet.leak_onset),
            "leaky_alerted": len(leaky_alerted),
            "alerts_raised_all_kinds": len(received),
            "events_stored": len(events),
            "events_missing_from_survivor_hubs": hub_gaps,
            "hub_event_order_ok": hub_order_ok,
            "readings_sent_paced": m["paced_sent"],
            "readings_accepted_paced": m["paced_accepted"],
            "frames_resent": sum(g.resent_frames for g in gws),
            "gateway_reconnects": sum(g.reconnects for g in gws),
            "error_replies": sum(g.error_replies for g in gws),
            "prefill_s": m["prefill_s"],
            "paced_s": paced,
            "drain_after_paced_s": m["drain_s"],
            "nproc": os.cpu_count(),
            "loadavg": os.getloadavg(),
        },
    }


async def migrate(url: str) -> None:
    """Bring the shared database's schema to the newest revision."""
    from app.store import Store

    store = Store(url)
    try:
        await store.migrate()
    finally:
        await store.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--devices", type=int, default=3000)
    p.add_argument("--rate", type=float, default=1.0, help="readings/s per device")
    p.add_argument("--seconds", type=float, default=60.0, help="paced phase, s")
    p.add_argument("--kill", type=int, default=1, help="replicas SIGKILLed half-way")
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--gateways", type=int, default=6)
    p.add_argument("--tick", type=float, default=0.2, help="s between a gateway's frames")
    p.add_argument("--leaky-fraction", type=float, default=0.05)
    p.add_argument("--saturate", type=float, default=0.0, help="saturated phase, s (0 = none)")
    p.add_argument("--lease-ttl", type=float, default=8.0, help="GASLEAK_CLUSTER_LEASE_TTL_S")
    p.add_argument("--keep-logs", action="store_true", help="print the replicas' log paths")
    args = p.parse_args(argv)
    if not 0 <= args.kill < args.replicas:
        p.error("--kill must leave at least one replica")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print progress to stderr and the JSON result last on stdout."""
    args = parse_args(argv)
    nats = Nats.start()
    pg: Postgres | None = None
    replicas: list[Replica] = []
    try:
        pg = Postgres.start()
        settings = {
            "database_url": pg.url,
            "cluster_nats_url": nats.url,
            "cluster_partitions": str(args.partitions),
            "cluster_lease_ttl_s": str(args.lease_ttl),
            "max_devices": str(max(10_000, args.devices * 2)),
        }
        asyncio.run(migrate(pg.url))  # once, before replicas start together
        replicas += [start_replica(f"r{i}", settings) for i in range(1, args.replicas + 1)]
        wait_ready(replicas, args.partitions)
        print(f"cluster up: {args.replicas} replicas, {nats.url}, {pg.url}", file=sys.stderr)
        result = asyncio.run(drive(args, replicas))
        if args.keep_logs:
            print({r.name: str(r.log) for r in replicas}, file=sys.stderr)
    finally:
        for r in replicas:
            if r.proc.poll() is None:
                terminate(r.proc, 20)
            if not args.keep_logs:
                r.log.unlink(missing_ok=True)
        nats.stop()
        if pg is not None:
            pg.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
