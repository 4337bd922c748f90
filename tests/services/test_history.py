"""The readings writer: bounded transactions, so alert events are not held behind a backlog."""

from __future__ import annotations

from pathlib import Path

from app.services.history import WRITE_CHUNK, ReadingsRecorder
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
