"""Outbound webhooks: every alert event is POSTed as JSON to each configured URL.

Deliveries live in the store (created pending in the event's own transaction), so a crash or
restart loses none. Each receiver has its own worker task and HTTP client: it sends its
pending deliveries in event-id order, one at a time, and a receiver that fails or hangs only
delays itself. While a receiver is unreachable (transport error, timeout, 3xx, 5xx, 408, 425,
429) its deliveries wait in event order; an event it refuses with another 4xx waits on its own
schedule and the events after it go on, so one refused event never holds back later alerts.
A failed attempt is retried after
``min(max, base * 2**(attempts-1))`` seconds with equal jitter (half fixed, half random),
until it succeeds or ``expire_s`` after the event, when it is marked ``expired``.

Each request carries ``X-Gasleak-Signature: sha256=<hex>``, HMAC-SHA256 of the raw body with
the shared secret, and ``X-Gasleak-Event-Id`` / ``X-Gasleak-Delivery-Id``. Delivery is at
least once: a receiver drops repeats by ``event_id``.

A receiver cannot hold a worker or its memory: one attempt (connect, send, status, body) has
one total deadline, ``timeout_s``, so a body trickled byte by byte still ends it; at most
:data:`MAX_RESPONSE_BYTES` of the answer are read (streamed, then the connection is dropped);
redirects are not followed (a 3xx is a failed attempt: the event would go to a URL nobody
configured); and with ``allowed_hosts`` set, a URL whose host is not listed is never
contacted (refused at start-up by :class:`app.config.Settings`, and again here per attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from app.store import Store
from app.store.webhooks import NOT_NOW

log = logging.getLogger(__name__)
#: Default :attr:`ReceiverWorker.page`.
PAGE = 100
IDLE_POLL_S = 30.0  # a worker with nothing pending looks again at least this often
#: Most bytes of a receiver's answer read (kept as the delivery's last_error on failure).
MAX_RESPONSE_BYTES = 4096


def host_allowed(url: str, allowed_hosts: list[str]) -> bool:
    """Whether ``url``'s host is in ``allowed_hosts`` (case-insensitive); an empty list
    allows any host."""
    if not allowed_hosts:
        return True
    host = (httpx.URL(url).host or "").lower()
    return host in {h.lower() for h in allowed_hosts}


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Gasleak-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def encode(event: dict[str, Any]) -> bytes:
    """The exact body sent for an event: compact JSON, UTF-8."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of failed deliveries (seconds)."""

    base_s: float = 1.0
    max_s: float = 300.0
    expire_s: float = 86_400.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failures: equal jitter."""
        d = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        return float(d / 2 + random.uniform(0, d / 2))


class ReceiverWorker:
    """Delivers one URL's pending deliveries in order."""

    def __init__(
        self,
        store: Store,
        url: str,
        *,
        secret: bytes,
        timeout_s: float,
        retry: RetryPolicy,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.retry = retry
        self.allowed_hosts = allowed_hosts or []
        self.wake = asyncio.Event()
        #: Deliveries read per query (refused ones not yet due are left out of it).
        self.page = PAGE

    async def run(self) -> None:
        """Loop forever: deliver what is due, sleep until the next retry or a new event."""
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                self.wake.clear()
                rows = await self.store.deliveries.pending(self.url, self.page, now=time.time())
                if not rows:  # none, or only refused ones not due: until the first is, or news
                    due = await self.store.deliveries.next_due(self.url)
                    idle = IDLE_POLL_S if due is None else due - time.time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), min(max(idle, 0), IDLE_POLL_S))
                    continue
                acted = False
                for row in rows:
                    wait = row["next_attempt_at"] - time.time()
                    if wait > 0:
                        if refused(row["last_status"]):
                            continue  # waits on its own schedule; the events after it go on
                        await asyncio.sleep(wait)  # the receiver's backoff: in event order
                        acted = True
                        break
                    acted = True
                    if await self._attempt(client, row) is Outcome.UNREACHABLE:
                        break  # the receiver is down: retry it later, in event order
                if not acted:  # only refused events, none due: until the first is, or news
                    first = min(r["next_attempt_at"] for r in rows) - time.time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), min(max(first, 0), IDLE_POLL_S))

    async def _attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> Outcome:
        body = encode(row["event"])
        headers = {
            "content-type": "application/json",
            "x-gasleak-signature": sign(self.secret, body),
            "x-gasleak-event-id": str(row["event_id"]),
            "x-gasleak-delivery-id": str(row["delivery_id"]),
        }
        status: int | None = None
        error: str | None = None
        try:
            if not host_allowed(self.url, self.allowed_hosts):
                raise PermissionError("host not in webhook_allowed_hosts")
            async with asyncio.timeout(self.timeout_s):  # the whole attempt, body included
                status, head = await self._post(client, body, headers)
            if 200 <= status < 300:
                await self.store.deliveries.record_attempt(
                    row["delivery_id"],
                    status="delivered",
                    now=time.time(),
                    http_status=status,
                    error=None,
                )
                return Outcome.DELIVERED
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed)"
            if head:
                error += f": {head[:200]!r}"
        except TimeoutError:
            error = f"TimeoutError: no complete answer within {self.timeout_s} s"
        except (httpx.HTTPError, PermissionError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        await self._failed(row, status, error)
        return Outcome.REFUSED if refused(status) else Outcome.UNREACHABLE

    async def _post(
        self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """POST and read at most :data:`MAX_RESPONSE_BYTES` of the answer: (status, bytes)."""
        async with client.stream("POST", self.url, content=body, headers=headers) as r:
            head = b""
            async for chunk in r.aiter_raw():
                head += chunk
                if len(head) >= MAX_RESPONSE_BYTES:
                    break
            return r.status_code, head[:MAX_RESPONSE_BYTES]

    async def _failed(self, row: dict[str, Any], status: int | None, error: str) -> None:
        now = time.time()
        expires = row["created_at"] + self.retry.expire_s
        if now >= expires:
            log.warning(
                "webhook %s: event %s expired after %d attempts (%s)",
                self.url,
                row["event_id"],
                row["attempts"] + 1,
                error,
            )
            await self.store.deliveries.record_attempt(
                row["delivery_id"], status="expired", now=now, http_status=status, error=error
            )
            return
        nxt = min(now + self.retry.delay(row["attempts"] + 1), expires)
        await self.store.deliveries.record_attempt(
            row["delivery_id"],
            status="pending",
            now=now,
            http_status=status,
            error=error,
            next_attempt_at=nxt,
        )


def refused(status: int | None) -> bool:
    """Whether an HTTP status refuses one event while the receiver is up: a 4xx other than
    408 (timeout), 425 (too early) and 429 (rate limited), which say "not now" to any event
    (RFC 9110 section 15.5, RFC 6585 section 4, RFC 8470 section 5.2)."""
    return status is not None and 400 <= status < 500 and status not in NOT_NOW


class Outcome(enum.Enum):
    """One delivery attempt: delivered (2xx), refused (the receiver answered 4xx for this
    event; other events may still go through), unreachable (transport error, timeout, 3xx,
    5xx, 408, 425, 429: the receiver as a whole is not taking events now)."""

    DELIVERED = "delivered"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


class WebhookDispatcher:
    """One :class:`ReceiverWorker` task per URL, woken by the hub after each publish."""

    def __init__(
        self,
        store: Store,
        urls: list[str],
        *,
        secret: bytes,
        timeout_s: float,
        retry: RetryPolicy,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        self.workers = [
            ReceiverWorker(
                store,
                u,
                secret=secret,
                timeout_s=timeout_s,
                retry=retry,
                allowed_hosts=allowed_hosts,
            )
            for u in urls
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def notify(self, _events: list[dict[str, Any]]) -> None:
        """Hub listener: new pending deliveries exist."""
        for w in self.workers:
            w.wake.set()

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [
            asyncio.create_task(self._guard(w), name=f"webhook:{w.url}") for w in self.workers
        ]

    async def _guard(self, worker: ReceiverWorker) -> None:
        while True:  # a store hiccup must not end deliveries for good
            try:
                await worker.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook worker %s failed; restarting in 1 s", worker.url)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Cancel the workers (pending deliveries stay in the store)."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
