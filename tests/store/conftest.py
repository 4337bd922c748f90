"""Store fixtures: every test gets its own empty database, SQLite always, and PostgreSQL when
``GASLEAK_TEST_DATABASE_URL`` names a server (``.ci/run`` starts one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.store import Store

PG_URL = os.environ.get("GASLEAK_TEST_DATABASE_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="GASLEAK_TEST_DATABASE_URL is not set; .ci/run starts a real PostgreSQL and sets it",
)


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL: a temp SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    name = f"gasleak_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on its own database."""
    s = Store(db_url)
    await s.migrate()
    yield s
    await s.close()
