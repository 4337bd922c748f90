"""Per-client rate limits on ingestion, with the ``limits`` library (sliding window counter).

The key of a request is :func:`rate_key`: the API key's id (the bootstrap admin key is
``"bootstrap"``), else the client's address; that function is the one place to change.
"""

from __future__ import annotations

import contextlib
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.requests import HTTPConnection

from app.services.principal import Principal

NAMESPACE = "ingest"


def rate_key(conn: HTTPConnection, who: Principal | None = None) -> str:
    """The identity a rate limit counts against: ``key:<id>`` of the request's API key,
    else ``addr:<client IP>`` ("unknown" when the server does not know it, e.g. a Unix
    socket)."""
    if who is not None and who.key_id:
        return f"key:{who.key_id}"
    return f"addr:{conn.client.host if conn.client else 'unknown'}"


class RateLimiter:
    """Messages per key, in ``limits`` notation (``"200/second;5000/minute"``).

    Args:
        spec: one or more limits separated by ``;``; every one must hold.

    Raises:
        ValueError: ``spec`` is not in ``limits`` notation.
    """

    def __init__(self, spec: str) -> None:
        self.items: list[RateLimitItem] = parse_many(spec)
        self.storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def hit(self, key: str) -> float | None:
        """Count one message for ``key``: None when allowed, else seconds until the window
        that refused it has room again."""
        for item in self.items:
            if not await self.strategy.hit(item, NAMESPACE, key):
                stats = await self.strategy.get_window_stats(item, NAMESPACE, key)
                return max(0.0, stats.reset_time - time.time())
        return None

    async def close(self) -> None:
        """Stop the storage's expiry task."""
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(BaseException):
                await timer
