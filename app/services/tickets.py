"""Single-use, short-lived WebSocket tickets for browsers.

A browser cannot set ``Authorization`` on a WebSocket handshake, and a long-lived key must
never travel in a URL (URLs land in access logs, proxies and browser history). So a page
trades its key for a ticket (``POST /api/ws-ticket``, Bearer) and opens
``/ws/alerts?ticket=...``; the ticket works once, within ``ttl_s``. Tickets live in this
process's memory: with several replicas behind a load balancer, the handshake must reach
the replica that issued the ticket (or use the header).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from app.services.principal import Principal


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


class TicketBook:
    """Issues and redeems tickets.

    Args:
        ttl_s: a ticket's life, s (default setting 30 s: long enough for a page to open its
            socket, short enough that a ticket copied from a log is useless).
        max_outstanding: most unredeemed tickets held; the oldest is dropped beyond it.
        clock: monotonic seconds.
    """

    def __init__(
        self, *, ttl_s: float, max_outstanding: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_outstanding = max_outstanding
        self.clock = clock
        # sha256(ticket) -> (principal, expiry); issue order = expiry order (one ttl)
        self._open: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def issue(self, who: Principal) -> str:
        """A new ticket (256 random bits, URL-safe) acting as ``who``."""
        now = self.clock()
        self._expire(now)
        while len(self._open) >= self.max_outstanding:
            self._open.popitem(last=False)
        ticket = secrets.token_urlsafe(32)
        self._open[_digest(ticket)] = (who, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The ticket's principal, once: None when unknown, used or expired."""
        entry = self._open.pop(_digest(ticket), None)
        if entry is None or entry[1] < self.clock():
            return None
        return entry[0]

    def _expire(self, now: float) -> None:
        while self._open:
            first = next(iter(self._open.values()))
            if first[1] >= now:
                return
            self._open.popitem(last=False)

    def __len__(self) -> int:
        return len(self._open)
