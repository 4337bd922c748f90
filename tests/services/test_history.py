"""The readings writer: bounded transactions, so alert events are not held behind a backlog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.services.history import WRITE_CHUNK, ReadingsRecorder, _Pending
from app.store import Store


async def test_a_backlog_is_written_in_chunks_and_every_reading_lands(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await store.migrate()
    sizes: list[int] = []
    add = store.readings.add

    async def counted(rows):  # the real write, its batch sizes noted
        sizes.append(len(rows))
        await add(rows)

    store.readings.add = counted  # type: ignore[method-assign]
    rec = ReadingsRecorder(store, queue_max=100_000, retention_s=1e9)
    n = 2 * WRITE_CHUNK + 500
    await rec.record([("d1", 1.7e9 + i, 420.0, 21.0, 45.0) for i in range(n)])
    await rec.flush()
    assert sizes == [WRITE_CHUNK, WRITE_CHUNK, 500] and rec.written == n
    rows = await store.readings.history("d1", start=1.7e9, end=1.7e9 + n, bucket_s=n)
    assert rows[0]["n"] == n
    await store.close()


async def test_history_writes_on_sqlite_do_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """On SQLite the store's one writer thread runs transactions in turn, so a history write
    takes no asyncio write lock: an alert event waiting for that lock used to wait for a
    whole history write plus the event loop's next turn of the writer's task (README
    Performance). The rows land exactly, in the several-row statements of the SQLite path."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await store.migrate()
    n = 2 * 1000 + 7  # more than one multi-row INSERT
    rows = [(f"d{i % 3}", 1.7e9 + i, 400.0 + i / 4, -5.25, 45.5) for i in range(n)]
    async with store.write_lock:  # held by someone else (an event being published)
        await asyncio.wait_for(store.readings.add(rows), 10)
    got = await store.readings.history("d1", start=1.7e9, end=1.7e9 + n, bucket_s=n)
    mine = [r for r in rows if r[0] == "d1"]
    assert got[0]["n"] == len(mine)
    assert got[0]["gas_min"] == min(r[2] for r in mine)
    assert got[0]["gas_max"] == max(r[2] for r in mine)
    assert got[0]["temp_mean"] == pytest.approx(-5.25) and got[0]["rh_mean"] == pytest.approx(45.5)
    await store.close()


def test_waiting_readings_come_out_in_order_with_their_values() -> None:
    """The columnar buffer: messages of any size, taken across their bounds, and a failed
    write's batch put back first, give every reading back once, in order, unchanged."""
    pending = _Pending()
    msgs = [
        [(f"dev-{m}.{i}", 1.7e9 + 10 * m + i, 400.0 + i / 3, -5.25 + m, 45.5) for i in range(n)]
        for m, n in enumerate([1, 7, 3, 1, 12])
    ]
    for rows in msgs:
        pending.push(rows)
    want = [r for rows in msgs for r in rows]
    assert pending.n == len(want)
    got = pending.pop(5)
    pending.push(got[2:], first=True)  # a failed write of the last three
    got = got[:2]
    while pending.n:
        got += pending.pop(4)
    assert got == want
    with pytest.raises(ValueError, match="device_id"):
        pending.push([("a b", 1.0, 1.0, 1.0, 1.0)])
