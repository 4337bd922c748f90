"""Store benchmark: prints what durability costs per scored batch, per reading, per replay.

    python -m bench.store                       # SQLite file in a temp folder
    python -m bench.store --url postgresql+asyncpg://user@127.0.0.1:5432/db

Measures (median of repeats, wall clock on this machine):
  * publish: one ``EventLog.publish`` of a batch with E events and S changed policy states
    (one transaction, fsync'd on SQLite with synchronous=FULL), ms per batch;
  * readings: ``ReadingsRepo.add`` of 1,000-reading batches, readings per second;
  * replay: ``events_after`` pages of 500, events per second.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="SQLAlchemy async URL (default: a temp SQLite file)")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        print(f"store: {url.split('@')[-1] if '@' in url else url}")
        asyncio.run(run(url, args.repeats))


if __name__ == "__main__":
    main()
