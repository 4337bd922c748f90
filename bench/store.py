"""Store benchmark: prints what durability costs per scored batch, per reading, per replay.

    python -m bench.store                       # SQLite file in a temp folder
    python -m bench.store --url postgresql+asyncpg://user@127.0.0.1:5432/db

Measures (median of repeats, wall clock on this machine):
  * publish: one ``EventLog.publish`` of a batch with E events and S changed policy states
    (one transaction, fsync'd on SQLite with synchronous=FULL), ms per batch;
  * readings: ``ReadingsRepo.add`` of 1,000-reading batches, readings per second;
  * replay: ``events_after`` pages of 500, events per second;
  * contended (``--contended S``): for S seconds the write load of ``python -m bench``'s
    paced phase (1,000 devices x 1 Hz, 10 % leaking): readings recorded in frames every
    5 ms through ``ReadingsRecorder``, and a scorer-like task due every 5 ms to publish one
    changed leak-policy state (a leaky device's debounce counter) and, every 100 ms, an
    event with it. Each event's latency from when it was due to when its publish returned
    (waiting for the publisher's earlier commits, the lock, the transaction and its fsync),
    p50/p95/p99 ms: the store's share of reading->alert latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from app.alerting.events import AlertEvent, AlertState, EventType, Kind, Severity
from app.services.eventlog import EventLog
from app.services.hub import Hub
from app.store import Store

RUN = uuid.uuid4().hex[:8]  # alert ids stay unique when --url names a database used before


def _body(i: int) -> AlertEvent:
    return AlertEvent(
        type=EventType.RAISED,
        alert_id=f"{RUN}-{i}",
        device_id=f"d{i % 1000}",
        kind=Kind.LEAK,
        severity=Severity.WARNING,
        state=AlertState.ACTIVE,
        ts=1.7e9 + i,
        probability=0.8,
        gas_ppm=900.0,
        model_type="m",
    )


class _Snapshot:
    """A state source that hands out one prepared snapshot of changed states."""

    def __init__(self) -> None:
        self.snap: dict[str, dict[str, Any] | None] = {}

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        out, self.snap = self.snap, {}
        return out


async def run(url: str, repeats: int) -> None:
    store = Store(url)
    await store.migrate()
    source = _Snapshot()

    async def no_replay(*_: object) -> list[dict[str, Any]]:
        return []

    log = EventLog(store=store, hub=Hub(queue_max=10, replay=no_replay), states={"leak": source})
    await log.start()
    n = 0
    for events, states in ((0, 1), (1, 1), (10, 50), (50, 256)):
        times = []
        for _ in range(repeats):
            bodies = [_body(n + k) for k in range(events)]
            source.snap = {f"d{k}": {"high_run": 1} for k in range(states)}
            t0 = time.perf_counter()
            await log.publish(bodies)
            times.append((time.perf_counter() - t0) * 1000)
            n += events
        print(
            f"publish  events={events:3d} states={states:3d}: "
            f"median {statistics.median(times):7.2f} ms  p90 "
            f"{sorted(times)[int(0.9 * len(times))]:7.2f} ms  (n={repeats})"
        )
    rows = [(f"d{k % 1000}", 1.7e9 + k, 400.0, 21.0, 45.0) for k in range(1000)]
    t0 = time.perf_counter()
    for _ in range(repeats):
        await store.readings.add(rows)
    dt = time.perf_counter() - t0
    print(f"readings 1000-row batches: {1000 * repeats / dt:10.0f} readings/s")
    total = await store.last_event_id()
    t0 = time.perf_counter()
    after, got = 0, 0
    while page := await store.events_after(after, limit=500):
        got += len(page)
        after = page[-1]["event_id"]
    dt = time.perf_counter() - t0
    print(f"replay   {got} of {total} events: {got / dt:10.0f} events/s")
    await store.close()


async def contended(url: str, seconds: float) -> dict[str, Any]:
    """Publish latency under the readings writer's load; see the module docstring."""
    from app.services.history import ReadingsRecorder

    store = Store(url)
    await store.migrate()
    source = _Snapshot()

    async def no_replay(*_: object) -> list[dict[str, Any]]:
        return []

    log = EventLog(store=store, hub=Hub(queue_max=10, replay=no_replay), states={"leak": source})
    await log.start()
    recorder = ReadingsRecorder(store, queue_max=100_000, retention_s=86_400.0)
    recorder.start()
    stop = time.perf_counter() + seconds
    times: list[float] = []
    state_times: list[float] = []

    async def readings() -> None:
        k = 0
        while time.perf_counter() < stop:
            rows = [(f"d{(k + j) % 1000}", 1.7e9 + k + j, 400.0, 21.0, 45.0) for j in range(5)]
            k += 5
            await recorder.record(rows)  # 5 readings / 5 ms = 1,000 readings/s
            await asyncio.sleep(0.005)

    async def publisher() -> None:
        n, start = 0, time.perf_counter()
        while (due := start + 0.005 * n) < stop:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            source.snap = {f"d{n % 100}": {"high_run": 1 + n % 3}}
            event = n % 20 == 0  # 10 events/s: 100 leaky devices raising within 10 s
            t0 = time.perf_counter()
            await log.publish([_body(10**6 + n)] if event else [])
            if event:  # from when the batch was due: a publisher held up by earlier
                times.append((time.perf_counter() - due) * 1000)  # commits counts too
            else:
                state_times.append((time.perf_counter() - t0) * 1000)
            n += 1

    async def checkpoints() -> None:  # as the lifespan does (stores before it: nothing)
        while time.perf_counter() < stop and hasattr(store, "checkpoint"):
            await asyncio.sleep(1.0)
            await store.checkpoint()

    await asyncio.gather(readings(), publisher(), checkpoints())
    await recorder.stop()
    await store.close()
    q = [round(float(x), 2) for x in statistics.quantiles(times, n=100, method="inclusive")]
    return {
        "publishes": len(times),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": round(max(times), 2),
        "state_only_p50": round(statistics.median(state_times), 2),
        "readings_written": recorder.written,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="SQLAlchemy async URL (default: a temp SQLite file)")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument(
        "--contended", type=float, default=0, help="seconds of the contended phase (0: skip)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        print(f"store: {url.split('@')[-1] if '@' in url else url}")
        if args.contended:
            r = asyncio.run(contended(url, args.contended))
            print(f"contended publish, ms: {r}")
        else:
            asyncio.run(run(url, args.repeats))


if __name__ == "__main__":
    main()
