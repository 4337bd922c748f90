"""Single-use, short-lived WebSocket tickets for browsers.

A browser cannot set ``Authorization`` on a WebSocket handshake, and a long-lived key must
never travel in a URL (URLs land in access logs, proxies and browser history). So a page
trades its key for a ticket (``POST /api/ws-ticket``, Bearer) and opens
``/ws/alerts?ticket=...`` (or ``/ws/readings``); the ticket works once, within ``ttl_s``.
Tickets live in this process's memory: with several replicas behind a load balancer, the
handshake must reach the replica that issued the ticket (or use the header).

One key's tickets can only ever push out its own: each key holds at most ``per_key``
unredeemed tickets (its oldest is dropped for a new one), and when the whole book holds
``max_outstanding`` a new ticket is refused (429) rather than dropping another key's.
Before 2 Dec the one bound was shared: a gateway key that asked for 10,001 tickets in 21 s
dropped every other key's unused ticket, and a viewer's handshake then got 401 (newcomer).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from app.errors import Overloaded
from app.services.principal import Principal


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


class TicketBook:
    """Issues and redeems tickets.

    Args:
        ttl_s: a ticket's life, s (default setting 30 s: long enough for a page to open its
            socket, short enough that a ticket copied from a log is useless).
        max_outstanding: most unredeemed tickets held in all; beyond it a new ticket is
            refused (:class:`Overloaded`, retry once the oldest expires), never another
            key's dropped.
        per_key: most unredeemed tickets one key holds; its oldest is dropped beyond it.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_outstanding: int,
        per_key: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_outstanding = max_outstanding
        self.per_key = per_key
        self.clock = clock
        # sha256(ticket) -> (principal, expiry); issue order = expiry order (one ttl)
        self._open: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        # key -> its open tickets' digests, oldest first
        self._by_key: dict[str, OrderedDict[bytes, None]] = {}

    def issue(self, who: Principal) -> str:
        """A new ticket (256 random bits, URL-safe) acting as ``who``; ``who``'s oldest
        unredeemed ticket is dropped when it already holds ``per_key``.

        Raises:
            Overloaded: the book holds ``max_outstanding`` tickets of other keys.
        """
        now = self.clock()
        self._expire(now)
        mine = self._by_key.setdefault(who.owner, OrderedDict())
        while len(mine) >= self.per_key:
            self._open.pop(mine.popitem(last=False)[0], None)
        if len(self._open) >= self.max_outstanding:
            if not mine:
                del self._by_key[who.owner]
            wait = next(iter(self._open.values()))[1] - now
            raise Overloaded(
                [
                    {
                        "field": "ticket",
                        "reason": f"{len(self._open)} unused tickets are outstanding, the "
                        f"most this service holds (GASLEAK_WS_TICKETS_MAX); try again in "
                        f"{max(1, math.ceil(wait))} s",
                        "type": "too_many_tickets",
                    }
                ],
                retry_after_s=max(wait, 0.0),
            )
        ticket = secrets.token_urlsafe(32)
        digest = _digest(ticket)
        self._open[digest] = (who, now + self.ttl_s)
        mine[digest] = None
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The ticket's principal, once: None when unknown, used or expired."""
        digest = _digest(ticket)
        entry = self._open.pop(digest, None)
        if entry is None:
            return None
        self._forget(entry[0], digest)
        if entry[1] < self.clock():
            return None
        return entry[0]

    def held(self, who: Principal) -> int:
        """Unredeemed tickets of ``who``'s key (expired ones not yet swept included)."""
        return len(self._by_key.get(who.owner, ()))

    def _forget(self, who: Principal, digest: bytes) -> None:
        owner = who.owner
        mine = self._by_key.get(owner)
        if mine is not None:
            mine.pop(digest, None)
            if not mine:
                del self._by_key[owner]

    def _expire(self, now: float) -> None:
        while self._open:
            digest, (who, expiry) = next(iter(self._open.items()))
            if expiry >= now:
                return
            self._open.popitem(last=False)
            self._forget(who, digest)

    def __len__(self) -> int:
        return len(self._open)
