"""The NATS side of cluster mode: one connection, the readings stream, the lease bucket,
event notifications.

Readings travel as JSON arrays of ``[device_id, ts, gas_ppm, temperature_c, humidity_pct]``
rows (ts in epoch seconds), one message per partition per ingress message, on subject
``gasleak.readings.<p>`` with ``p = crc32(device_id) % P`` (:func:`partition_of`). JetStream
keeps the order of messages on one subject, so each device's readings keep theirs. A
message counts as accepted only once JetStream has acknowledged it (stored in the stream).
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats
import numpy as np
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from app.errors import Unavailable

log = logging.getLogger(__name__)

STREAM = "GASLEAK_READINGS"
SUBJECT_PREFIX = "gasleak.readings."
#: Core NATS subject: "events up to id n are committed" (a hint; the store is the truth).
EVENTS_SUBJECT = "gasleak.events"
LEASE_BUCKET = "gasleak_leases"
#: Core NATS request/reply to the owner of partition p: ``gasleak.control.<p>``.
CONTROL_PREFIX = "gasleak.control."
#: Core NATS request/reply each replica answers on its lease connection:
#: ``gasleak.alive.<replica id>``. "No responders" means that connection is gone (a dead
#: process); it only starts a pre-warm, never a lease decision (see app.cluster.node).
ALIVE_PREFIX = "gasleak.alive."
#: Core NATS: "silences / profiles changed in the store", ``gasleak.changed.<topic>``.
CHANGED_PREFIX = "gasleak.changed."
#: Longest wait for JetStream's acknowledgement of a publish, s.
PUBLISH_TIMEOUT_S = 5.0

Row = tuple[str, float, float, float, float]  # device_id, ts, gas ppm, °C, %RH


def partition_of(device_id: str, partitions: int) -> int:
    """The partition of a device: CRC-32 (zlib, stable across processes and versions,
    unlike ``hash``) of its UTF-8 id, modulo ``partitions``."""
    return zlib.crc32(device_id.encode()) % partitions


def subject(p: int) -> str:
    """The stream subject of partition ``p``."""
    return f"{SUBJECT_PREFIX}{p}"


def encode(rows: Sequence[Row]) -> bytes:
    """Rows -> compact JSON bytes (the message payload)."""
    return json.dumps(rows, separators=(",", ":")).encode()


def decode(payload: bytes) -> list[Row]:
    """Message payload -> rows.

    Raises:
        ValueError: not a JSON array of 5-item rows (a message not written by
            :func:`encode`).
    """
    data = json.loads(payload)
    if not isinstance(data, list) or any(not isinstance(r, list) or len(r) != 5 for r in data):
        raise ValueError("a readings message is a JSON array of 5-item arrays")
    return [(str(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in data]


def decode_many(payloads: Sequence[bytes]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Many message payloads -> the arrays the buffers take, in one JSON parse (the
    payloads joined into one array) instead of one per message and a tuple per row.

    Returns:
        ``(device_ids, ts, values)``: N ids; ts (N,) float64 epoch s; values (N, 3) float64
        gas ppm, temperature °C, humidity %RH, in message order, then row order.

    Raises:
        ValueError: a payload is not a JSON array of ``[str, number x 4]`` rows (the
            caller may fall back to :func:`decode` per message to find it).
    """
    if not payloads:
        return [], np.zeros(0), np.zeros((0, 3))
    data = json.loads(b"[" + b",".join(payloads) + b"]")
    if any(not isinstance(m, list) for m in data):
        raise ValueError("a readings message is a JSON array of 5-item arrays")
    rows = [r for m in data for r in m]
    try:
        ids = [r[0] for r in rows]
        num = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 4)
    except (TypeError, IndexError, ValueError) as exc:  # ragged, short, not numbers
        raise ValueError(f"a readings row is not [device_id, ts, gas, T, RH]: {exc}") from None
    if any(type(d) is not str for d in ids):
        raise ValueError("a readings row's device_id is not a string")
    return ids, num[:, 0].copy(), num[:, 1:]


async def connect(url: str, name: str) -> Client:
    """A NATS connection that reconnects for ever (0.5 s apart).

    Raises:
        nats.errors.NoServersError: the server is unreachable at first.
    """
    return await nats.connect(
        url, name=name, connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )


async def lease_bucket(nc: Client, ttl_s: float) -> KeyValue:
    """The lease bucket, created when missing: entries expire ``ttl_s`` after their last
    write, which is how a dead replica's leases end."""
    js = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
    try:
        return await js.key_value(LEASE_BUCKET)
    except Exception:  # BucketNotFoundError; a race with another replica is fine
        return await js.create_key_value(KeyValueConfig(bucket=LEASE_BUCKET, history=1, ttl=ttl_s))


class Bus:
    """One NATS connection with JetStream.

    Args:
        url: the NATS server, e.g. ``nats://127.0.0.1:4222``.
        partitions: P, the partition count (the same on every replica).
        lease_ttl_s: max age of the lease bucket's entries (a lease not renewed expires).
        stream_max_age_s: how long readings stay in the stream.
    """

    def __init__(
        self, url: str, *, partitions: int, lease_ttl_s: float, stream_max_age_s: float
    ) -> None:
        self.url = url
        self.partitions = partitions
        self.lease_ttl_s = lease_ttl_s
        self.stream_max_age_s = stream_max_age_s
        self.nc: Client | None = None
        self.published = 0  # messages acknowledged by JetStream
        self.publish_failures = 0

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (after :meth:`connect`)."""
        assert self.nc is not None, "Bus.connect first"
        return self.nc.jetstream(timeout=PUBLISH_TIMEOUT_S)

    async def connect(self) -> None:
        """Connect (retrying for up to ~30 s) and create the stream if it is missing.

        Raises:
            nats.errors.NoServersError: the server is unreachable.
        """
        self.nc = await connect(self.url, "gasleak")
        cfg = StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_PREFIX}*"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.stream_max_age_s,
            duplicate_window=120.0,
        )
        try:
            await self.js.stream_info(STREAM)
        except NotFoundError:
            await self.js.add_stream(cfg)

    async def forward(self, device_ids: Sequence[str], ts: np.ndarray, vals: np.ndarray) -> None:
        """Publish validated readings to their partitions and wait for JetStream's acks
        (the ingress's :data:`app.services.ingest.Forward`).

        Readings are sorted by ``ts`` (stable) first, so each device's are in time order
        within its partition's message.

        Raises:
            Unavailable: a publish was not acknowledged (the gateway should resend; a
                redelivered reading is dropped by its partition's owner as not newer).
        """
        order = np.argsort(ts, kind="stable").tolist()
        v = vals.tolist()
        t = ts.tolist()
        parts: dict[int, list[Row]] = {}
        for j in order:
            d = device_ids[j]
            row = (d, t[j], v[j][0], v[j][1], v[j][2])
            parts.setdefault(partition_of(d, self.partitions), []).append(row)
        js = self.js
        results = await asyncio.gather(
            *(js.publish(subject(p), encode(rows), stream=STREAM) for p, rows in parts.items()),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        self.published += len(results) - len(failed)
        if failed:
            self.publish_failures += len(failed)
            log.warning("stream publish failed: %r", failed[0])
            raise Unavailable(
                [
                    {
                        "field": "(body)",
                        "reason": f"the readings stream did not acknowledge ({failed[0]!r}); "
                        "send the message again",
                        "type": "stream_unavailable",
                    }
                ]
            )

    def notify_events(self, events: list[dict[str, Any]]) -> None:
        """Tell the other replicas that events up to the newest id here are committed
        (fire and forget: they also poll the store)."""
        if self.nc is None or not events:
            return
        body = str(events[-1]["event_id"]).encode()
        task = asyncio.ensure_future(self.nc.publish(EVENTS_SUBJECT, body))
        task.add_done_callback(_log_failure)

    async def on_events(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on every event notification (from any replica)."""
        assert self.nc is not None

        async def handler(_msg: Any) -> None:
            callback()

        await self.nc.subscribe(EVENTS_SUBJECT, cb=handler)

    def broadcast(self, topic: str) -> None:
        """Tell every replica that ``topic`` ("silences", "profiles") changed in the store
        (fire and forget)."""
        if self.nc is None:
            return
        task = asyncio.ensure_future(self.nc.publish(CHANGED_PREFIX + topic, b""))
        task.add_done_callback(_log_failure)

    async def on_changed(self, topic: str, reload: Callable[[], Awaitable[Any]]) -> None:
        """Await ``reload`` whenever any replica broadcasts ``topic`` (its own included)."""
        assert self.nc is not None

        async def handler(_msg: Any) -> None:
            try:
                await reload()
            except Exception:
                log.exception("reloading %s failed", topic)

        await self.nc.subscribe(CHANGED_PREFIX + topic, cb=handler)

    async def close(self) -> None:
        """Flush and close the connection."""
        if self.nc is not None:
            await self.nc.drain()
            self.nc = None


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("event notification failed: %r", task.exception())
