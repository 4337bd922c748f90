"""The durable store: alert events, alerts, per-device policy state, webhook deliveries and
readings history, through SQLAlchemy 2 (async) on SQLite (default) or PostgreSQL."""

from __future__ import annotations

from app.store.repo import Store

__all__ = ["Store"]
