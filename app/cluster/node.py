"""Partition ownership and the owner's work: leases in a JetStream KV bucket, one durable
pull consumer per owned partition, hand-over with state restore and buffer replay.

**Leases.** Bucket ``gasleak_leases`` (entries expire ``lease_ttl_s`` after their last
write). ``part.<p>`` = the owner's id: ``create`` (only if absent) acquires, ``update`` with
the revision last written renews (a wrong revision means someone else holds it now: the
partition is dropped at once), expiry is a dead owner. ``member.<id>`` is each replica's
heartbeat. All are renewed together every ``min(1 s, ttl / 4)`` from a thread with its own
event loop and NATS connection (on the service's loop renewals came 5-8 s late under
load), apart from the balancing round. Every replica aims at ``ceil(P / members)``
partitions, takes free ones up to that and hands back extras (gracefully: its consumer
stops after the batch in hand, its changed states are flushed, then the lease is deleted).
A replica whose last renewal is older than ``0.75 × ttl`` writes nothing more for the
partition and drops it (:meth:`ClusterNode.may_write`, asked by the event log before each
write), and the new owner deletes the old durable consumer, so a stale owner's fetches
fail.

**Owner.** Per owned partition one durable consumer ``part-<p>`` on
``gasleak.readings.<p>`` (explicit acks): fetch a batch, store its readings
(:meth:`app.services.ingest.Ingestor.ingest_rows`, strict: a reading not newer than its
device's newest is dropped as a redelivery), wait until the scorer has handed every window
of the batch to the alert sink (events and policy states committed), then ack. So a
reading is acked only once its effects are stored.

**Hand-over.** On taking partition ``p``: read the old consumer's ack floor ``F`` (every
message up to ``F`` was processed and its events stored) and delete it; restore the leak
policy and safety states of ``p``'s devices from the store (written in the same
transactions as their events, so an open alert is carried on, not raised again); replay the
last ``replay_s`` seconds of ``p``'s messages up to ``F`` into the ring buffers and signal
models only (they raise nothing); then create the consumer from ``F + 1``. Messages after
``F`` are processed again in order: their readings are new to the rebuilt buffers, and the
restored states keep them from raising an alert the old owner already raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyValueError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from app.cluster.bus import (
    CONTROL_PREFIX,
    STREAM,
    Bus,
    Row,
    connect,
    decode,
    lease_bucket,
    partition_of,
    subject,
)
from app.errors import Conflict, GasleakError, NotFound, Unavailable
from app.services.windows import LATE

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from app.state import AppState

log = logging.getLogger(__name__)

#: Most messages per fetch (each holds one ingress message's readings of one partition).
FETCH_BATCH = 256
#: The owner of this partition runs the webhook workers (one sender per receiver).
WEBHOOK_PARTITION = 0
#: Seconds a replica waits for the owner's answer to a forwarded acknowledgement.
CONTROL_TIMEOUT_S = 5.0
#: Seconds a fetch waits for messages before the loop checks its lease again.
FETCH_WAIT_S = 0.5
#: A delivered message not acked within this many seconds is delivered again (only a stuck
#: owner sees this: a dead one's consumer is deleted by the next owner).
ACK_WAIT_S = 30.0


def default_replica_id() -> str:
    """``<hostname>-<pid>``, with characters a KV key allows."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"{host[:40]}-{os.getpid()}"


@dataclass(eq=False)
class Partition:
    """One owned partition: its lease revision, its worker task and counters."""

    p: int
    rev: int
    renewed: float  # monotonic time of the last successful renewal
    acquired_at: float = field(default_factory=time.time)  # wall clock
    ready_at: float | None = None  # wall clock: replay done, consuming
    stopping: bool = False
    task: asyncio.Task[None] | None = None
    control: Any = None  # the subscription to gasleak.control.<p> while ready
    ticket: int = 0  # scorer.submitted_total when it became ready (see ClusterNode.accepts)
    readings: int = 0
    duplicates: int = 0
    replayed: int = 0


class ClusterNode:
    """This replica's part of the cluster.

    Args:
        state: the service's long-lived objects (buffers, policy, rules, ingestor, store).
        bus: the NATS connection.
        replica_id: this replica's name (unique in the cluster).
        lease_ttl_s: lease lifetime, s (renewed every ttl/4).
        replay_s: seconds of readings replayed into the buffers on a takeover.
    """

    def __init__(
        self,
        state: AppState,
        bus: Bus,
        *,
        replica_id: str,
        lease_ttl_s: float,
        replay_s: float,
    ) -> None:
        self.state = state
        self.bus = bus
        self.partitions = bus.partitions
        self.replica_id = replica_id
        self.ttl_s = lease_ttl_s
        self.renew_s = min(1.0, lease_ttl_s / 4)
        self.replay_s = replay_s
        self.owned: dict[int, Partition] = {}
        self.kv: KeyValue | None = None  # lives in the lease thread's loop
        self._leases = _LeaseThread()
        self._main: asyncio.AbstractEventLoop | None = None
        self._renewing: Any = None  # concurrent.futures.Future of the renewal loop
        self._tasks: list[asyncio.Task[None]] = []
        self.takeovers = 0
        self.releases = 0
        self.losses = 0
        self.members = 1
        self.readings_total = 0
        self.duplicates_total = 0
        self.replayed_total = 0
        self.takeover_max_s = 0.0  # longest lease-acquired -> consuming
        self.renew_round_max_s = 0.0  # longest renewal round trip
        self.renew_gap_max_s = 0.0  # longest time between two renewals of one lease
        self.processing_errors = 0

    # -- public -------------------------------------------------------------------------
    def owns(self, device_id: str) -> bool:
        """Whether this replica owns the device's partition now and has taken it over
        (state restored, consuming)."""
        part = self.owned.get(partition_of(device_id, self.partitions))
        return part is not None and part.ready_at is not None

    def accepts(self, device_id: str, window_index: int) -> bool:
        """Whether the sink may apply a scored window: the device is :meth:`owns`'d and
        the window was submitted after the takeover (``window_index``, its position in
        the scorer's submission order, at or after the partition's ticket), not left in
        the scorer's queue by an earlier ownership of the same partition."""
        part = self.owned.get(partition_of(device_id, self.partitions))
        return part is not None and part.ready_at is not None and window_index >= part.ticket

    async def start(self) -> None:
        """Join: heartbeat, then two loops: renewals (every ``renew_s``, all leases at once,
        in a thread of their own with its own event loop and NATS connection, so a busy
        service loop cannot delay them: measured 5-8 s late on the shared loop at load 9)
        and balancing (take free partitions, hand back extras; its first round after 1.5
        renew periods, so replicas started together see each other first)."""
        self._main = asyncio.get_running_loop()
        self.kv = await self._leases.open(self.bus.url, self.ttl_s)
        await self._kv(lambda kv: kv.put(self._member_key, b"1"))
        self._renewing = asyncio.run_coroutine_threadsafe(
            self._every(self._renew, first=0.0), self._leases.loop
        )
        self._tasks = [
            asyncio.create_task(
                self._every(self._balance, first=1.5 * self.renew_s), name="cluster-balance"
            ),
        ]

    async def _kv(self, op: Callable[[KeyValue], Awaitable[Any]]) -> Any:
        """Run a lease-bucket operation on the lease thread's loop; await its result here."""
        assert self.kv is not None
        return await self._leases.run(op(self.kv))

    async def stop(self) -> None:
        """Leave gracefully: hand back every partition (flushed) and the heartbeat."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._renewing is not None:
            self._renewing.cancel()
        for p in list(self.owned):
            with contextlib.suppress(Exception):
                await self._release(p)
        if self.kv is not None:
            with contextlib.suppress(Exception):
                await self._kv(lambda kv: kv.delete(self._member_key))
        await self._leases.close()

    def info(self) -> dict[str, Any]:
        """What ``/api/status`` shows under ``cluster``."""
        return {
            "replica_id": self.replica_id,
            "partitions": self.partitions,
            "members": self.members,
            "owned": sorted(self.owned),
            "ready": sorted(p for p, x in self.owned.items() if x.ready_at is not None),
            "readings_processed": self.readings_total,
            "duplicates_dropped": self.duplicates_total,
            "readings_replayed": self.replayed_total,
            "takeovers": self.takeovers,
            "releases": self.releases,
            "leases_lost": self.losses,
            "processing_errors": self.processing_errors,
            "renew_round_max_s": round(self.renew_round_max_s, 3),
            "takeover_max_s": round(self.takeover_max_s, 3),
            "renew_gap_max_s": round(self.renew_gap_max_s, 3),
            "stream_published": self.bus.published,
            "stream_publish_failures": self.bus.publish_failures,
        }

    def may_write(self, device_id: str) -> bool:
        """Whether this replica may write the device's events and states now: it owns the
        partition and renewed the lease less than 0.75 × ttl ago. When the lease has gone
        stale the partition is dropped at once (its worker stops without acking; the lease
        expires and a takeover, maybe this replica's, restores from the store). The event
        log asks before each write (:attr:`app.services.eventlog.EventLog.fence`); what is
        left is the time of one store write, not a fencing token."""
        p = partition_of(device_id, self.partitions)
        part = self.owned.get(p)
        if part is None:
            return False
        if time.monotonic() - part.renewed > 0.75 * self.ttl_s:
            log.warning("partition %d fenced: lease not renewed for %.1f s", p, self.ttl_s * 0.75)
            self._lose(p)
            return False
        return True

    # -- lease loop ---------------------------------------------------------------------
    @property
    def _member_key(self) -> str:
        return f"member.{self.replica_id}"

    @staticmethod
    def _lease_key(p: int) -> str:
        return f"part.{p}"

    async def _every(self, step: Callable[[], Awaitable[None]], *, first: float) -> None:
        await asyncio.sleep(first)
        while True:
            t0 = time.monotonic()
            try:
                await step()
            except Exception:
                log.exception("cluster %s failed", getattr(step, "__name__", step))
            await asyncio.sleep(max(0.05, self.renew_s - (time.monotonic() - t0)))

    def _lose_soon(self, p: int) -> None:
        """From the lease thread: drop partition ``p`` on the service's loop."""
        assert self._main is not None
        self._main.call_soon_threadsafe(self._lose, p)

    async def _renew(self) -> None:
        """Renew every lease and the heartbeat concurrently (one round trip's time). Runs
        on the lease thread's loop."""
        kv = self.kv
        assert kv is not None
        parts = [x for x in list(self.owned.values()) if not x.stopping]  # list(): atomic
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(kv.update(self._lease_key(x.p), self._id, last=x.rev) for x in parts),
            kv.put(self._member_key, b"1"),
            return_exceptions=True,
        )
        self.renew_round_max_s = max(self.renew_round_max_s, time.monotonic() - t0)
        for part, r in zip(parts, results, strict=False):
            if isinstance(r, int):
                self.renew_gap_max_s = max(self.renew_gap_max_s, t0 - part.renewed)
                part.rev = r
                part.renewed = t0  # sent at t0: the lease runs from no later than that
            elif isinstance(r, KeyValueError):  # wrong revision or gone: someone else's now
                log.warning(
                    "lease of partition %d lost (%r, %.1f s after its last renewal)",
                    part.p,
                    r,
                    t0 - part.renewed,
                )
                self._lose_soon(part.p)
            elif time.monotonic() - part.renewed > 0.75 * self.ttl_s:
                log.warning("lease of partition %d not renewed in time (%r); dropped", part.p, r)
                self._lose_soon(part.p)

    async def _balance(self) -> None:
        """Count members; take free partitions up to ``ceil(P / members)``; hand back extras."""
        try:
            keys = await self._kv(lambda kv: kv.keys())
        except NoKeysError:
            keys = []
        self.members = max(1, sum(k.startswith("member.") for k in keys))
        held = {int(k.split(".", 1)[1]) for k in keys if k.startswith("part.")}
        target = math.ceil(self.partitions / self.members)
        extra = len(self.owned) - target
        if extra > 0:
            ready = sorted(p for p, x in self.owned.items() if x.ready_at and not x.stopping)
            for p in ready[-extra:]:
                asyncio.create_task(self._release(p), name=f"release-{p}")
        elif extra < 0:
            free = [p for p in range(self.partitions) if p not in held and p not in self.owned]
            random.shuffle(free)
            for p in free[:-extra]:
                await self._acquire(p)

    @property
    def _id(self) -> bytes:
        return self.replica_id.encode()

    async def _acquire(self, p: int) -> None:
        try:
            rev = await self._kv(lambda kv: kv.create(self._lease_key(p), self._id))
        except KeyValueError:
            return  # someone was faster
        part = Partition(p, rev, time.monotonic())
        self.owned[p] = part
        self.takeovers += 1
        part.task = asyncio.create_task(self._work(part), name=f"partition-{p}")

    def _lose(self, p: int) -> None:
        """The lease is gone: stop at once, forget the devices, do not flush (the new owner
        restores from what was committed)."""
        part = self.owned.pop(p, None)
        if part is None:
            return
        self.losses += 1
        if part.task is not None:
            part.task.cancel()
        self._forget(p)

    async def _release(self, p: int) -> None:
        """Hand a partition back: finish the batch in hand, flush the states, forget, then
        delete the lease so another replica may take it."""
        part = self.owned.get(p)
        if part is None or part.stopping:
            return
        part.stopping = True
        if part.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await part.task
        await self.state.log.flush_states()  # persist changed policy / safety states, now
        self.owned.pop(p, None)
        self._forget(p)
        self.releases += 1
        with contextlib.suppress(Exception):
            await self._kv(lambda kv: kv.delete(self._lease_key(p), last=part.rev))
        log.info("partition %d handed back", p)

    def _forget(self, p: int) -> None:
        st = self.state

        def mine(d: str) -> bool:
            return partition_of(d, self.partitions) == p

        devices = {d for d in st.buffers.device_ids() if mine(d)}
        devices |= {d for d in st.policy.states if mine(d)}
        devices |= {d for d in st.rules.devices if mine(d)}
        gone = sorted(devices)
        st.buffers.drop(gone)
        st.policy.release(gone)
        st.rules.release(gone)
        st.sink.forget(gone)

    # -- owner --------------------------------------------------------------------------
    async def _work(self, part: Partition) -> None:
        p = part.p
        try:
            sub = await self._takeover(part)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("takeover of partition %d failed; handing it back", p)
            self.owned.pop(p, None)
            self._forget(p)
            with contextlib.suppress(Exception):
                await self._kv(lambda kv: kv.delete(self._lease_key(p), last=part.rev))
            return
        assert self.bus.nc is not None
        part.control = await self.bus.nc.subscribe(CONTROL_PREFIX + str(p), cb=self._control)
        if p == WEBHOOK_PARTITION:
            self.state.webhooks.start()
        part.ticket = self.state.scorer.submitted_total
        part.ready_at = time.time()
        self.takeover_max_s = max(self.takeover_max_s, part.ready_at - part.acquired_at)
        log.info(
            "partition %d taken over in %.2f s (%d readings replayed)",
            p,
            part.ready_at - part.acquired_at,
            part.replayed,
        )
        try:
            while not part.stopping:
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except TimeoutError:
                    continue
                if time.monotonic() - part.renewed > 0.75 * self.ttl_s:
                    # fenced: the lease may be gone; hand the batch back unprocessed until a
                    # renewal lands (or the lease is lost and this task cancelled)
                    await asyncio.gather(*(m.nak() for m in msgs), return_exceptions=True)
                    await asyncio.sleep(0.2)
                    continue
                rows: list[Row] = []
                for m in msgs:
                    try:
                        rows += decode(m.data)
                    except ValueError:
                        log.error("partition %d: message %r is not readings; dropped", p, m)
                try:
                    await self._process(part, rows)
                except Exception:
                    self.processing_errors += 1
                    log.exception("partition %d: processing failed; not acked", p)
                    await asyncio.sleep(1.0)
                    continue
                await asyncio.gather(*(m.ack() for m in msgs))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            if part.control is not None:
                with contextlib.suppress(Exception):
                    await part.control.unsubscribe()
                if p == WEBHOOK_PARTITION:
                    await self.state.webhooks.stop()

    # -- acknowledgements made on another replica ------------------------------------------
    async def forward_ack(self, device_id: str, alert_id: str, author: str, comment: str) -> None:
        """Have the owner of ``device_id``'s partition acknowledge (its policy and rules
        hold the alert's state); returns once it has stored the events.

        Raises:
            NotFound, Conflict: as the owner's :meth:`AlertService.acknowledge` raised them.
            Unavailable: no owner answered within :data:`CONTROL_TIMEOUT_S` (hand-over).
        """
        assert self.bus.nc is not None
        p = partition_of(device_id, self.partitions)
        body = {"op": "ack", "alert_id": alert_id, "author": author, "comment": comment}
        try:
            msg = await self.bus.nc.request(
                CONTROL_PREFIX + str(p), json.dumps(body).encode(), timeout=CONTROL_TIMEOUT_S
            )
        except Exception as exc:  # NoRespondersError, TimeoutError
            raise Unavailable(
                [
                    {
                        "field": "alert_id",
                        "reason": f"the replica owning partition {p} of device {device_id!r} "
                        f"did not answer ({type(exc).__name__}; a hand-over?); try again",
                        "type": "owner_unavailable",
                    }
                ]
            ) from None
        reply = json.loads(msg.data)
        if "error" in reply:
            cls = {"not_found": NotFound, "conflict": Conflict}.get(reply["error"], Unavailable)
            raise cls(reply["detail"])

    async def _control(self, msg: Any) -> None:
        """Answer a forwarded acknowledgement (as owner)."""
        try:
            req = json.loads(msg.data)
            await self.state.alerts.acknowledge(
                req["alert_id"], author=req["author"], comment=req["comment"]
            )
            reply: dict[str, Any] = {"ok": True}
        except GasleakError as exc:
            reply = {"error": exc.error, "detail": exc.detail}
        except Exception as exc:
            log.exception("forwarded acknowledgement failed")
            reply = {"error": "unavailable", "detail": repr(exc)}
        await msg.respond(json.dumps(reply).encode())

    async def _process(self, part: Partition, rows: list[Row]) -> None:
        if not rows:
            return
        ids, ts, vals = _arrays(rows)
        ingestor = self.state.ingestor
        codes, _ = await ingestor.ingest_rows(ids, ts, vals, strict=True)
        await self.state.scorer.wait_sunk(self.state.scorer.submitted_total)
        stored = int(np.count_nonzero(codes == 0))
        dup = int(np.count_nonzero(codes == LATE))
        part.readings += stored
        part.duplicates += dup
        self.readings_total += stored
        self.duplicates_total += dup

    async def _takeover(self, part: Partition) -> JetStreamContext.PullSubscription:
        p, js = part.p, self.bus.js
        name = f"part-{p}"
        floor, existed = 0, False
        try:
            info = await js.consumer_info(STREAM, name)
            existed = True
            if info.ack_floor is not None and info.ack_floor.stream_seq:
                floor = int(info.ack_floor.stream_seq)
            start = info.config.opt_start_seq
            if start:
                floor = max(floor, int(start) - 1)
            await js.delete_consumer(STREAM, name)
        except NotFoundError:
            pass
        await self._restore(p)
        if existed and floor > 0 and self.replay_s > 0:
            await self._replay(part, floor)
        cfg = ConsumerConfig(
            durable_name=name,
            filter_subject=subject(p),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=FETCH_BATCH * 4,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if floor > 0 else DeliverPolicy.ALL,
            opt_start_seq=floor + 1 if floor > 0 else None,
        )
        await js.add_consumer(STREAM, cfg)
        return await js.pull_subscribe_bind(durable=name, stream=STREAM)

    async def _restore(self, p: int) -> None:
        """Leak-policy and safety states, open alerts and the registry, for ``p``'s devices."""
        st = self.state

        def mine(d: str) -> bool:
            return partition_of(d, self.partitions) == p

        known = await st.safety.registry.load()
        now = time.monotonic()
        st.policy.restore({d: s for d, s in (await st.store.states("leak")).items() if mine(d)})
        st.rules.restore(
            {d: s for d, s in (await st.store.states("safety")).items() if mine(d)}, now=now
        )
        open_rows = [a for a in await st.store.open_alerts() if mine(a["device_id"])]
        for a in open_rows:
            if a["kind"] != "leak":
                st.rules.restore_open(
                    a["device_id"], a["kind"], a["severity"], a["state"], a["alert_id"], now=now
                )
        st.rules.watch([d for d in known if mine(d)] + [a["device_id"] for a in open_rows], now=now)

    async def _replay(self, part: Partition, upto: int) -> None:
        """Feed ``part``'s messages of the ``replay_s`` seconds before stream sequence
        ``upto`` (by the stream's receive times: a consumer that lagged is replayed from its
        own recent past, not from now), up to ``upto``, to the ring buffers and signal
        models (no scoring, no rules)."""
        try:
            last = (await self.bus.js.get_msg(STREAM, seq=upto)).time or datetime.now(UTC)
        except NotFoundError:  # aged out of the stream
            last = datetime.now(UTC)
        start = last - timedelta(seconds=self.replay_s)
        cfg = ConsumerConfig(
            filter_subject=subject(part.p),
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = await self.bus.js.pull_subscribe(
            subject(part.p), durable=None, stream=STREAM, config=cfg
        )
        buffers = self.state.buffers
        try:
            done = False
            while not done:
                try:
                    msgs = await sub.fetch(1000, timeout=1.0)
                except TimeoutError:
                    break
                rows: list[Row] = []
                for m in msgs:
                    seq = m.metadata.sequence.stream
                    if seq > upto:
                        done = True
                        break
                    with contextlib.suppress(ValueError):
                        rows += decode(m.data)
                    done = seq == upto or m.metadata.num_pending == 0
                if rows:
                    ids, ts, vals = _arrays(rows)
                    buffers.store(ids, ts, vals, strict=True)
                    part.replayed += len(rows)
                    self.replayed_total += len(rows)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


T = TypeVar("T")


class _LeaseThread:
    """A daemon thread running its own event loop with its own NATS connection, for the
    lease bucket only."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="leases", daemon=True)
        self.nc: Any = None

    async def run(self, coro: Awaitable[T]) -> T:
        """Run ``coro`` on the lease loop; await its result on the calling loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))  # type: ignore[arg-type]

    async def open(self, url: str, ttl_s: float) -> KeyValue:
        """Start the thread, connect, open (or create) the lease bucket."""
        self.thread.start()

        async def opening() -> KeyValue:
            self.nc = await connect(url, "gasleak-leases")
            return await lease_bucket(self.nc, ttl_s)

        return await self.run(opening())

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self.thread.join, 5)


def _arrays(rows: list[Row]) -> tuple[list[str], np.ndarray, np.ndarray]:
    ids = [r[0] for r in rows]
    ts = np.fromiter((r[1] for r in rows), np.float64, len(rows))
    vals = np.array([r[2:] for r in rows], dtype=np.float64).reshape(len(rows), 3)
    return ids, ts, vals
