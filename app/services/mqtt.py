"""MQTT ingress: readings from ``<prefix>/readings/<device_id>``, replies and alerts back.

Gateways publish one reading or a JSON array of them at QoS 1 to
``gasleak/readings/<device_id>``; each message goes through the same path as a REST body or
a WebSocket frame (:meth:`app.services.ingest.Ingestor.decode` then ``ingest``: validation,
ring buffers, safety rules, history). A reading may leave ``device_id`` out (the topic names
it); one naming another device is refused with ``type: "topic_mismatch"``. A message with a
refused reading gets the WebSocket reply on ``gasleak/errors/<device_id>``: ``{"error":
"invalid_body", "detail": [...]}`` or ``{"accepted": n, "rejected": [...]}``, each error
naming the field. Stored alert events (unsilenced, as ``/ws/alerts`` serves them) go to
``gasleak/alerts/<device_id>`` at QoS 1.

Delivery: a message is acknowledged (PUBACK) only after it is ingested, so the broker
redelivers what a crash interrupted. Redeliveries (same device, ``ts`` and values as a
reading taken in the last ``mqtt_dedupe_readings``) are dropped and counted; a reading with
the same ``ts`` but other values is a distinct reading and is ingested as REST would.
Readings without ``ts`` are stamped on receipt and cannot be told from a redelivery.

Nothing here may stall the service: alert events wait in a bounded outbox; when the broker
is slow or away and the outbox fills, it is emptied and the publisher reads the missed
events from the store (the source of truth) once the broker is back. Error replies are
best effort (bounded, the oldest dropped and counted). The link reconnects with exponential
backoff and jitter (0.5 s doubling to ``mqtt_reconnect_max_s``); ``/readyz`` reports it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from app.errors import InvalidBody, TooLarge
from app.schemas.readings import IngestResult, Reading
from app.services.ingest import MAX_MESSAGE_BYTES, Ahead, Ingestor

log = logging.getLogger(__name__)
#: ``after`` -> the next stored unsilenced events, oldest first (``Store.events_after``).
ReadEvents = Callable[[int], Awaitable[list[dict[str, Any]]]]
ERRORS_MAX = 1_000  # error replies queued for the broker; the oldest go first


@dataclass(frozen=True)
class Broker:
    """Where and how to connect, from ``GASLEAK_MQTT_URL`` and the credential settings."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str, username: str | None, password: str | None) -> Broker:
        """``mqtt://host[:port]`` or ``mqtts://host[:port]``; credentials in the URL are used
        when the settings give none.

        Raises:
            ValueError: another scheme, or no host.
        """
        u = urlsplit(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError(f"GASLEAK_MQTT_URL {url!r}: expected mqtt://host[:port] or mqtts://")
        tls = u.scheme == "mqtts"
        return cls(
            u.hostname,
            u.port or (8883 if tls else 1883),
            tls,
            username or u.username,
            password or u.password,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class RecentReadings:
    """The last ``n`` accepted readings' keys (device, ts, gas, °C, %RH), first in first out:
    a reading with the same key is a QoS 1 redelivery. ``n`` = 0 remembers nothing."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._keys: dict[tuple[str, float, float, float, float], None] = {}

    @staticmethod
    def key(r: Reading) -> tuple[str, float, float, float, float] | None:
        """The reading's identity, or None when it has no ``ts`` (stamped on receipt)."""
        if r.ts is None:
            return None
        return (r.device_id, r.ts, r.gas_ppm, r.temperature_c, r.humidity_pct)

    def seen(self, r: Reading) -> bool:
        """Whether an identical reading was accepted recently."""
        k = self.key(r)
        return k is not None and k in self._keys

    def add(self, readings: list[Reading]) -> None:
        """Remember accepted readings, forgetting the oldest beyond ``n``."""
        if not self.n:
            return
        for r in readings:
            k = self.key(r)
            if k is not None:
                self._keys.pop(k, None)
                self._keys[k] = None
        while len(self._keys) > self.n:
            del self._keys[next(iter(self._keys))]


class AlertOutbox:
    """Stored alert events waiting for the broker, without ever blocking the event log.

    :meth:`notify` (an :class:`app.services.eventlog.EventLog` listener, called after the
    commit) queues events; past ``max_events`` the queue is cleared and :meth:`next_batch`
    reads from the store after the last event published instead, so none is lost.

    Args:
        read: the next stored unsilenced events after an id.
        cursor: the newest event id not to publish (the store's newest at start).
        max_events: events held in memory.
    """

    def __init__(self, read: ReadEvents, *, cursor: int, max_events: int) -> None:
        self.read = read
        self.cursor = cursor
        self.max_events = max_events
        self.overflowed = False
        self.overflows = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()

    def notify(self, events: list[dict[str, Any]]) -> None:
        """Queue stored wire events (never waits)."""
        events = [e for e in events if not e.get("silenced")]
        if not events:
            return
        if len(self._pending) + len(events) > self.max_events:
            self._pending.clear()
            self.overflowed = True
            self.overflows += 1
        else:
            self._pending.extend(events)
        self._wake.set()

    async def next_batch(self) -> list[dict[str, Any]]:
        """The next events to publish, oldest first (waits while there are none)."""
        while True:
            if self.overflowed:
                self.overflowed = False  # events stored from now on are queued again
                page = await self.read(self.cursor)
                if page:
                    self.overflowed = True  # read on until the store has nothing newer
                    return page
            while self._pending and self._pending[0]["event_id"] <= self.cursor:
                self._pending.popleft()  # already read from the store
            if self._pending:
                return list(self._pending)
            self._wake.clear()
            await self._wake.wait()

    def done(self, event: dict[str, Any]) -> None:
        """Mark ``event`` published (the broker acknowledged it)."""
        self.cursor = max(self.cursor, event["event_id"])
        if self._pending and self._pending[0]["event_id"] <= self.cursor:
            self._pending.popleft()


class MqttIngress:
    """The service's MQTT client: subscribes to readings, publishes replies and alerts.

    Args:
        broker: where to connect.
        ingestor: the ingest path shared with REST and WebSocket.
        outbox: alert events to publish (register ``outbox.notify`` with the event log).
        client_id: the persistent session's id.
        prefix: topic prefix (``gasleak``).
        dedupe: recent readings remembered to drop redeliveries.
        reconnect_max_s: longest backoff between connection attempts, s.
    """

    def __init__(
        self,
        *,
        broker: Broker,
        ingestor: Ingestor,
        outbox: AlertOutbox,
        client_id: str,
        prefix: str = "gasleak",
        dedupe: int = 65_536,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.broker = broker
        self.ingestor = ingestor
        self.outbox = outbox
        self.client_id = client_id
        self.prefix = prefix
        self.recent = RecentReadings(dedupe)
        self.reconnect_max_s = reconnect_max_s
        self.connected = False
        self.last_error: str | None = None
        self.counts = dict.fromkeys(
            (
                "messages",
                "bad_messages",
                "duplicates",
                "alerts_published",
                "errors_published",
                "errors_dropped",
                "connects",
            ),
            0,
        )
        self._errors: deque[tuple[str, bytes]] = deque(maxlen=ERRORS_MAX)
        self._errors_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the connection loop."""
        self._task = asyncio.create_task(self._run(), name="mqtt")

    async def stop(self) -> None:
        """Disconnect and stop (queued replies and events are not waited for)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.connected = False

    async def _run(self) -> None:
        delay = 0.5
        while True:
            before = self.counts["connects"]
            try:
                await self._session()
            except* aiomqtt.MqttError as eg:
                self.last_error = "; ".join(str(e) for e in eg.exceptions)
            except* Exception as eg:  # a bug: log it and start a fresh connection
                log.exception("MQTT session failed", exc_info=eg)
                self.last_error = "; ".join(repr(e) for e in eg.exceptions)
            self.connected = False
            if self.counts["connects"] > before:
                delay = 0.5  # the link had come up: start the backoff again
            wait = delay / 2 + random.uniform(0, delay / 2)  # equal jitter
            log.warning("MQTT %s: %s; reconnecting in %.1f s", self.broker, self.last_error, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, self.reconnect_max_s)

    def _client(self) -> aiomqtt.Client:
        b = self.broker
        client = aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=b.password,
            identifier=self.client_id,
            clean_session=False,  # the broker keeps QoS 1 readings while we are away
            tls_context=ssl.create_default_context() if b.tls else None,
            timeout=10,
        )
        # PUBACK only once a message is ingested (at least once across a crash); aiomqtt
        # 2.5 does not expose paho's manual acknowledgement, so it is set on paho's client.
        client._client.manual_ack_set(True)
        return client

    async def _session(self) -> None:
        """One connection: subscribe, then receive and publish until the link fails."""
        async with self._client() as client:
            await client.subscribe(f"{self.prefix}/readings/+", qos=1)
            self.connected = True
            self.last_error = None
            self.counts["connects"] += 1
            log.info("MQTT connected to %s as %s", self.broker, self.client_id)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client))
                tg.create_task(self._publish_alerts(client))
                tg.create_task(self._publish_errors(client))

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            device = message.topic.value.rsplit("/", 1)[-1]
            raw = message.payload if isinstance(message.payload, bytes) else str(message.payload)
            try:
                await self.handle(device, raw)
            except Exception:  # a bug must not stop the link: log it, acknowledge, go on
                log.exception("MQTT message on %s not handled", message.topic.value)
            if message.qos > 0:
                client._client.ack(message.mid, message.qos)

    async def handle(self, device_id: str, raw: bytes | str) -> IngestResult | None:
        """Ingest one message for ``device_id``; queue the error reply when anything was
        refused. Returns the ingest result (None when the message was not readings)."""
        self.counts["messages"] += 1
        gas_refused: list[tuple[str, str]] = []
        try:
            if len(raw) > MAX_MESSAGE_BYTES:  # refused unparsed, as REST answers 413
                raise TooLarge(
                    [
                        {
                            "field": "(body)",
                            "reason": f"{len(raw)} bytes; at most {MAX_MESSAGE_BYTES} a message",
                            "type": "too_large",
                        }
                    ]
                )
            ahead: list[Ahead] = []
            try:
                index, readings, bad = self.ingestor.decode(
                    raw, device_id=device_id, ahead=ahead, gas_refused=gas_refused
                )
            finally:  # stamped too far ahead: registered, set points, clock fault
                await self.ingestor.refused_ahead(ahead)
        except (InvalidBody, TooLarge) as exc:
            await self.ingestor.refused_gas_faults(gas_refused)
            self._reply(device_id, {"error": exc.error, "detail": exc.detail})
            return None
        try:
            fresh = [k for k, r in enumerate(readings) if not self.recent.seen(r)]
            self.counts["duplicates"] += len(readings) - len(fresh)
            if not fresh and not bad:
                return IngestResult(accepted=0)
            result = await self.ingestor.ingest(
                [index[k] for k in fresh], [readings[k] for k in fresh], bad
            )
        finally:  # heard, out_of_range; after the accepted readings: a new device counts
            await self.ingestor.refused_gas_faults(gas_refused)
        refused = {b.index for b in result.rejected}
        self.recent.add([readings[k] for k in fresh if index[k] not in refused])
        if result.rejected or result.warnings:  # warnings: a field not taken as sent
            self._reply(device_id, result.model_dump(), bad=bool(result.rejected))
        return result

    def _reply(self, device_id: str, body: dict[str, Any], *, bad: bool = True) -> None:
        self.counts["bad_messages"] += int(bad)
        if len(self._errors) == self._errors.maxlen:
            self.counts["errors_dropped"] += 1
        topic = f"{self.prefix}/errors/{device_id}"
        self._errors.append((topic, json.dumps(body, separators=(",", ":")).encode()))
        self._errors_wake.set()

    async def _publish_errors(self, client: aiomqtt.Client) -> None:
        while True:
            while self._errors:
                topic, body = self._errors[0]
                await client.publish(topic, body, qos=1)
                self._errors.popleft()
                self.counts["errors_published"] += 1
            self._errors_wake.clear()
            await self._errors_wake.wait()

    async def _publish_alerts(self, client: aiomqtt.Client) -> None:
        while True:
            for event in await self.outbox.next_batch():
                if event["event_id"] <= self.outbox.cursor:
                    continue
                body = json.dumps(event, separators=(",", ":")).encode()
                await client.publish(f"{self.prefix}/alerts/{event['device_id']}", body, qos=1)
                self.outbox.done(event)
                self.counts["alerts_published"] += 1

    def status(self) -> dict[str, Any]:
        """The link and its counters (``/api/status`` ``mqtt``)."""
        return {
            "broker": str(self.broker),
            "client_id": self.client_id,
            "connected": self.connected,
            "last_error": self.last_error,
            "outbox_overflows": self.outbox.overflows,
            **self.counts,
        }
