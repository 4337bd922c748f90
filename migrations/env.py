"""Alembic environment. Two ways in:

* from the service (``app.store.repo.Store.migrate``): a live connection is passed in
  ``config.attributes["connection"]`` and used as is;
* from the command line (``alembic upgrade head``): the URL comes from the settings
  (``GASLEAK_DATABASE_URL`` or ``GASLEAK_DB_PATH``), opened with the async driver.
"""

from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection

from app.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    from app.config import get_settings
    from app.store.repo import make_engine

    settings = get_settings()
    if settings.database_url is None:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_from_settings())
