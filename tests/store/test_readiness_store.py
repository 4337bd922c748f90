"""/readyz's store check on SQLite and PostgreSQL: a write that is rolled back, and a clear
failure when the database refuses writes."""

from __future__ import annotations

from sqlalchemy import event, func, select, text

from app.services.readiness import check_store
from app.store import Store
from app.store.models import ReadingRow


async def _count(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(ReadingRow))).scalar())


async def test_store_check_writes_nothing_and_names_a_read_only_database(store: Store) -> None:
    ok = await check_store(store)
    assert ok.ok, ok.detail
    assert await _count(store) == 0  # the probe insert was rolled back
    engine = store.engine
    if engine.dialect.name == "sqlite":

        def read_only(dbapi_conn, _):  # noqa: ANN001, ANN202
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA query_only = ON")
            cur.close()

        event.listen(engine.sync_engine, "connect", read_only)
    else:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f'ALTER DATABASE "{engine.url.database}" SET default_transaction_read_only = on'
                )
            )
    await engine.dispose()  # new connections see the read-only setting
    bad = await check_store(store)
    assert not bad.ok
    assert "readonly" in bad.detail or "read-only" in bad.detail, bad.detail
