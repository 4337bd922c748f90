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

**Pre-warm.** Each replica answers ``gasleak.alive.<id>`` on its lease connection and probes
the others every second. When NATS answers "no responders" (that connection is gone: the
process died), the survivors replay the dead replica's partitions into their buffers while
its leases run out (:meth:`ClusterNode._watch_peers`); the takeover then skips its replay if
the ack floor is the one the pre-warm replayed to. The leases alone still decide ownership.
Measured (``python -m bench.cluster --replicas 3 --devices 3000 --rate 1 --seconds 60
--kill 1``, 2 shared cores): the takeover went from up to 7.4 s to about 1 s, the failover
from 15.7 s to 7.8-9.2 s (docs/CLUSTER.md, Failover).
"""

from __future__ import annotations

import asyncio
import collections
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
from nats.errors import NoRespondersError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyValueError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from app.cluster.bus import (
    ALIVE_PREFIX,
    CONTROL_PREFIX,
    STREAM,
    Bus,
    Row,
    connect,
    decode,
    decode_many,
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
#: Messages decoded and stored together during a takeover's replay.
REPLAY_CHUNK = 2_000
#: Seconds a takeover's replay waits for the next message before it gives up.
REPLAY_IDLE_S = 10.0
#: Seconds a liveness probe waits (a timeout means busy, not dead: only "no responders"
#: marks a replica dead).
PROBE_TIMEOUT_S = 0.5
#: Seconds between balancing rounds while a dead replica's leases are awaited.
WAITING_BALANCE_S = 0.2
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
    steps: dict[str, float] = field(default_factory=dict)  # takeover step -> seconds
    prewarmed: bool = False  # the takeover used a pre-warm's buffers (no replay)


@dataclass(eq=False)
class _Warm:
    """A partition of a dead replica whose buffers are being rebuilt before its lease
    expires: the dead owner, when it started (monotonic s), the replay task's
    ``(floor, readings)``."""

    owner: str
    started: float
    task: asyncio.Task[tuple[int, int]]


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
        #: Times between two successful renewals of one lease, s (the newest 20,000).
        self.renew_gaps: collections.deque[float] = collections.deque(maxlen=20_000)
        #: The newest takeovers: partition, wall-clock times, step durations.
        self.recent_takeovers: collections.deque[dict[str, Any]] = collections.deque(maxlen=64)
        self.processing_errors = 0
        self._warm: dict[int, _Warm] = {}  # pre-warmed partitions of a dead replica
        self.prewarms = 0  # replays started before a lease expired
        self.prewarms_used = 0  # ... whose takeover skipped its replay
        self.prewarms_dropped = 0  # ... dropped (another replica took it, floor moved)

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
        self.kv = await self._leases.open(self.bus.url, self.ttl_s, ALIVE_PREFIX + self.replica_id)
        await self._kv(lambda kv: kv.put(self._member_key, b"1"))
        self._renewing = asyncio.run_coroutine_threadsafe(
            self._every(self._renew, first=0.0), self._leases.loop
        )
        self._tasks = [
            asyncio.create_task(
                self._every(self._balance, first=1.5 * self.renew_s, period=self._balance_period),
                name="cluster-balance",
            ),
            asyncio.create_task(
                self._every(self._watch_peers, first=self.renew_s), name="cluster-peers"
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
        for p in list(self._warm):
            self._drop_warm(p)
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
            "prewarms": self.prewarms,
            "prewarms_used": self.prewarms_used,
            "prewarms_dropped": self.prewarms_dropped,
            "renew_round_max_s": round(self.renew_round_max_s, 3),
            "takeover_max_s": round(self.takeover_max_s, 3),
            "renew_gap_max_s": round(self.renew_gap_max_s, 3),
            "renew_gaps": _spread(self.renew_gaps),
            "recent_takeovers": list(self.recent_takeovers),
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

    async def _every(
        self,
        step: Callable[[], Awaitable[None]],
        *,
        first: float,
        period: Callable[[], float] | None = None,
    ) -> None:
        """Run ``step`` every ``period()`` s (default ``renew_s``), the first after ``first``."""
        await asyncio.sleep(first)
        while True:
            t0 = time.monotonic()
            try:
                await step()
            except Exception:
                log.exception("cluster %s failed", getattr(step, "__name__", step))
            every = self.renew_s if period is None else period()
            await asyncio.sleep(max(0.05, every - (time.monotonic() - t0)))

    def _balance_period(self) -> float:
        """``renew_s``, or :data:`WAITING_BALANCE_S` while pre-warmed partitions wait for a
        dead replica's leases to expire (so they are taken within that, not within 1 s)."""
        return min(self.renew_s, WAITING_BALANCE_S) if self._warm else self.renew_s

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
                self.renew_gaps.append(t0 - part.renewed)
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
            free.sort(key=lambda p: p not in self._warm)  # pre-warmed ones first
            got = await asyncio.gather(*(self._acquire(p) for p in free[:-extra]))
            parts = [x for x in got if x is not None]
            if parts:  # one read of the states for all the partitions taken together
                restored = asyncio.ensure_future(self._restore({x.p for x in parts}))
                restored.add_done_callback(_retrieve)  # each worker also awaits it
                for part in parts:
                    part.task = asyncio.create_task(
                        self._work(part, restored), name=f"partition-{part.p}"
                    )

    @property
    def _id(self) -> bytes:
        return self.replica_id.encode()

    async def _acquire(self, p: int) -> Partition | None:
        """Create the lease of ``p`` (only if absent); the partition, or None when another
        replica was faster."""
        try:
            rev = await self._kv(lambda kv: kv.create(self._lease_key(p), self._id))
        except KeyValueError:
            return None
        part = Partition(p, rev, time.monotonic())
        self.owned[p] = part
        self.takeovers += 1
        return part

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
        w = self._warm.pop(p, None)
        if w is not None:
            w.task.cancel()

        def mine(d: str) -> bool:
            return partition_of(d, self.partitions) == p

        devices = {d for d in st.buffers.device_ids() if mine(d)}
        devices |= {d for d in st.policy.states if mine(d)}
        devices |= {d for d in st.rules.device_ids() if mine(d)}
        gone = sorted(devices)
        st.buffers.drop(gone)
        st.policy.release(gone)
        st.rules.release(gone)

    # -- pre-warm: replay a dead replica's partitions while its leases run out -------------
    async def _watch_peers(self) -> None:
        """Probe the other members (``gasleak.alive.<id>``). For a replica whose lease
        connection is gone ("no responders": its process died), start rebuilding the
        buffers of its partitions while their leases run out; the partitions are shared
        out over the live members in order, so each is pre-warmed by one replica, which
        also takes it first when the lease expires. Nothing else changes: the leases still
        decide (expiry, compare-and-set), and a pre-warm that turns out wrong is dropped
        (:meth:`_warmed`)."""
        try:
            keys = await self._kv(lambda kv: kv.keys())
        except NoKeysError:
            return
        members = sorted(k.split(".", 1)[1] for k in keys if k.startswith("member."))
        others = [m for m in members if m != self.replica_id]
        alive = await asyncio.gather(*(self._probe(m) for m in others))
        dead = {m for m, ok in zip(others, alive, strict=True) if not ok}
        held = [int(k.split(".", 1)[1]) for k in keys if k.startswith("part.")]
        now = time.monotonic()
        for p, w in list(self._warm.items()):  # drop what will not be ours
            if p in self.owned:
                continue
            stale = (w.owner in others and w.owner not in dead) or now - w.started > 3 * self.ttl_s
            if not stale and p in held:
                holder = await self._holder(p)
                stale = holder is not None and holder != w.owner
            if stale:
                log.warning("pre-warm of partition %d dropped (owner back or lease taken)", p)
                self._drop_warm(p)
        if not dead:
            return
        holders = await asyncio.gather(*(self._holder(p) for p in held))
        owners = dict(zip(held, holders, strict=True))
        live = [m for m in members if m not in dead]
        orphans = sorted(p for p, o in owners.items() if o in dead)
        mine = _share(orphans, owners, live, self.partitions)
        for p in mine.get(self.replica_id, []):
            if p not in self._warm and p not in self.owned:
                task = asyncio.create_task(self._prewarm(p), name=f"prewarm-{p}")
                self._warm[p] = _Warm(owners[p] or "", now, task)

    async def _probe(self, member: str) -> bool:
        """False only when nobody listens on the member's liveness subject."""
        assert self.bus.nc is not None
        try:
            await self.bus.nc.request(ALIVE_PREFIX + member, b"", timeout=PROBE_TIMEOUT_S)
        except NoRespondersError:
            return False
        except Exception:  # a timeout: busy, not known dead
            return True
        return True

    async def _holder(self, p: int) -> str | None:
        """The replica id in ``p``'s lease, or None when there is none."""
        try:
            entry = await self._kv(lambda kv: kv.get(self._lease_key(p)))
        except KeyValueError:  # KeyNotFoundError, KeyDeletedError
            return None
        return bytes(entry.value or b"").decode() or None

    async def _prewarm(self, p: int) -> tuple[int, int]:
        """Replay ``p``'s buffers up to its consumer's ack floor now; ``(floor, readings)``."""
        floor, existed = await self._floor(p)
        if not existed or floor <= 0 or self.replay_s <= 0:
            return floor, 0
        self.prewarms += 1
        return floor, await self._replay(p, floor)

    async def _warmed(self, p: int, floor: int) -> int | None:
        """At a takeover of ``p`` with ack floor ``floor``: the readings a pre-warm already
        replayed up to that same floor (the replay is then skipped), or None (no pre-warm,
        or it failed or stopped at another floor: its buffers are dropped)."""
        w = self._warm.pop(p, None)
        if w is None:
            return None
        try:
            warm_floor, n = await w.task
        except Exception:
            log.warning("pre-warm of partition %d failed; replaying", p, exc_info=True)
            warm_floor, n = -1, 0
        if warm_floor == floor:
            self.prewarms_used += 1
            return n
        log.warning(
            "pre-warm of partition %d reached floor %d, not %d; replaying", p, warm_floor, floor
        )
        self.prewarms_dropped += 1
        self._drop_buffers(p)
        return None

    def _drop_warm(self, p: int) -> None:
        """Stop a pre-warm and drop the buffers it built (``p`` is not owned)."""
        w = self._warm.pop(p, None)
        if w is None:
            return
        w.task.cancel()
        self.prewarms_dropped += 1
        if p not in self.owned:
            self._drop_buffers(p)

    def _drop_buffers(self, p: int) -> None:
        buffers = self.state.buffers
        buffers.drop(
            sorted(d for d in buffers.device_ids() if partition_of(d, self.partitions) == p)
        )

    # -- owner --------------------------------------------------------------------------
    async def _work(self, part: Partition, restored: asyncio.Future[None]) -> None:
        p = part.p
        try:
            sub = await self._takeover(part, restored)
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
        self.recent_takeovers.append(
            {
                "p": p,
                "acquired_at": round(part.acquired_at, 3),
                "ready_at": round(part.ready_at, 3),
                "replayed": part.replayed,
                "prewarmed": part.prewarmed,
                "steps": {k: round(v, 3) for k, v in part.steps.items()},
            }
        )
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
                try:
                    await self._process(part, *_decode([m.data for m in msgs], p))
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

    async def _process(
        self, part: Partition, ids: list[str], ts: np.ndarray, vals: np.ndarray
    ) -> None:
        if not ids:
            return
        ingestor = self.state.ingestor
        codes, _ = await ingestor.ingest_rows(ids, ts, vals, strict=True)
        await self.state.scorer.wait_sunk(self.state.scorer.submitted_total)
        stored = int(np.count_nonzero(codes == 0))
        dup = int(np.count_nonzero(codes == LATE))
        part.readings += stored
        part.duplicates += dup
        self.readings_total += stored
        self.duplicates_total += dup

    async def _takeover(
        self, part: Partition, restored: asyncio.Future[None]
    ) -> JetStreamContext.PullSubscription:
        """Delete the old consumer (its ack floor ``F``), await the states' restore (shared
        by the partitions taken in one round), replay the buffers up to ``F``, create the
        consumer from ``F + 1``; the subscription."""
        p, js = part.p, self.bus.js
        name = f"part-{p}"
        t = time.perf_counter()
        floor, existed = await self._floor(p)
        if existed:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(STREAM, name)
        t = _step(part, "consumer_delete", t)
        await asyncio.shield(restored)  # shared: one partition's cancel must not stop it
        t = _step(part, "restore", t)
        warm = await self._warmed(p, floor)
        if warm is not None:
            part.replayed += warm
            part.prewarmed = True
        elif existed and floor > 0 and self.replay_s > 0:
            part.replayed += await self._replay(p, floor)
        t = _step(part, "replay", t)
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
        sub = await js.pull_subscribe_bind(durable=name, stream=STREAM)
        _step(part, "consumer_create", t)
        return sub

    async def _floor(self, p: int) -> tuple[int, bool]:
        """The ack floor ``F`` of partition ``p``'s durable consumer (every message up to it
        processed, its events stored; at least its start sequence - 1), and whether the
        consumer exists."""
        try:
            info = await self.bus.js.consumer_info(STREAM, f"part-{p}")
        except NotFoundError:
            return 0, False
        floor = 0
        if info.ack_floor is not None and info.ack_floor.stream_seq:
            floor = int(info.ack_floor.stream_seq)
        start = info.config.opt_start_seq
        if start:
            floor = max(floor, int(start) - 1)
        return floor, True

    async def _restore(self, ps: set[int]) -> None:
        """Leak-policy and safety states, open alerts and the registry, for the devices of
        partitions ``ps`` still owned once they are read (each table read once, the four
        reads concurrently)."""
        st = self.state
        known, leak, safety, open_all = await asyncio.gather(
            st.safety.registry.load(),
            st.store.states("leak"),
            st.store.states("safety"),
            st.store.open_alerts(),
        )
        held = {p for p in ps if p in self.owned}  # one may have been lost meanwhile

        def mine(d: str) -> bool:
            return partition_of(d, self.partitions) in held

        now = time.monotonic()
        st.policy.restore({d: s for d, s in leak.items() if mine(d)})
        st.rules.restore({d: s for d, s in safety.items() if mine(d)}, now=now)
        open_rows = [a for a in open_all if mine(a["device_id"])]
        for a in open_rows:
            if a["kind"] != "leak":
                st.rules.restore_open(
                    a["device_id"], a["kind"], a["severity"], a["state"], a["alert_id"], now=now
                )
        st.rules.watch([d for d in known if mine(d)] + [a["device_id"] for a in open_rows], now=now)

    async def _replay(self, p: int, upto: int) -> int:
        """Feed partition ``p``'s messages of the ``replay_s`` seconds before stream sequence
        ``upto`` (by the stream's receive times: a consumer that lagged is replayed from its
        own recent past, not from now), up to ``upto``, to the ring buffers and signal
        models (no scoring, no rules, no windows assembled); returns how many readings.

        An ephemeral push consumer (no acks, flow control) delivers them as fast as the
        connection goes; they are decoded and stored in chunks of up to
        :data:`REPLAY_CHUNK` messages (one JSON parse each). Pulling 1,000 at a time cost
        ~120 µs a message in nats-py's fetch, 4-5x this; see docs/CLUSTER.md.

        Raises:
            RuntimeError: the consumer skipped a delivery (a message lost on the way) or
                went silent for :data:`REPLAY_IDLE_S` s before reaching ``upto`` (the
                takeover fails and the partition is handed back, to be tried again).
        """
        try:
            last = (await self.bus.js.get_msg(STREAM, seq=upto)).time or datetime.now(UTC)
        except NotFoundError:  # aged out of the stream
            last = datetime.now(UTC)
        cfg = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=last - timedelta(seconds=self.replay_s),
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        got = _Collector(upto)
        replayed = 0
        sub = await self.bus.js.subscribe(
            subject(p),
            stream=STREAM,
            cb=got.on_msg,
            config=cfg,
            flow_control=True,
            idle_heartbeat=REPLAY_IDLE_S / 2,
        )
        buffers = self.state.buffers
        try:
            info = await sub.consumer_info()
            if info.num_pending == 0 and not (info.delivered and info.delivered.consumer_seq):
                got.done = True  # nothing of this partition in the window
                return 0
            while True:
                try:
                    await asyncio.wait_for(got.wake.wait(), REPLAY_IDLE_S)
                except TimeoutError:
                    raise RuntimeError(
                        f"partition {p}: replay stalled before stream sequence {upto}"
                    ) from None
                got.wake.clear()
                if got.error:
                    raise RuntimeError(f"partition {p}: replay {got.error}")
                payloads, got.payloads = got.payloads, []
                ids, ts, vals = _decode(payloads, p)
                if ids:
                    buffers.store(ids, ts, vals, strict=True, windows=False)
                    replayed += len(ids)
                    self.replayed_total += len(ids)
                    await asyncio.sleep(0)  # let the live partitions in between chunks
                if got.done:
                    return replayed
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


class _Collector:
    """Collects a replay consumer's payloads up to stream sequence ``upto`` (the push
    subscription's callback); wakes the replay every :data:`REPLAY_CHUNK` messages, at the
    end, or on an error."""

    def __init__(self, upto: int) -> None:
        self.upto = upto
        self.payloads: list[bytes] = []
        self.wake = asyncio.Event()
        self.done = False
        self.error = ""
        self.delivered = 0  # consumer sequence of the last message

    async def on_msg(self, m: Any) -> None:
        """One delivered message (heartbeats and flow control are nats-py's)."""
        if self.done or self.error:
            return
        md = m.metadata
        if md.sequence.consumer != self.delivered + 1:
            self.error = f"skipped deliveries {self.delivered + 1}..{md.sequence.consumer - 1}"
            self.wake.set()
            return
        self.delivered = md.sequence.consumer
        if md.sequence.stream > self.upto:
            self.done = True
        else:
            self.payloads.append(m.data)
            self.done = md.sequence.stream == self.upto or md.num_pending == 0
        if self.done or len(self.payloads) >= REPLAY_CHUNK:
            self.wake.set()


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

    async def open(self, url: str, ttl_s: float, alive_subject: str) -> KeyValue:
        """Start the thread, connect, answer on ``alive_subject`` (the liveness probe),
        open (or create) the lease bucket."""
        self.thread.start()

        async def answer(msg: Any) -> None:
            await msg.respond(b"1")

        async def opening() -> KeyValue:
            self.nc = await connect(url, "gasleak-leases")
            await self.nc.subscribe(alive_subject, cb=answer)
            return await lease_bucket(self.nc, ttl_s)

        return await self.run(opening())

    async def close(self) -> None:
        """Close the connection, stop the thread and close its loop (once; a thread never
        started only has its loop closed)."""
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            if self.nc is not None:
                with contextlib.suppress(Exception):
                    await self.run(self.nc.close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self.thread.join, 5)
        if not self.thread.is_alive():
            self.loop.close()


def _share(
    orphans: list[int], owners: dict[int, str | None], live: list[str], partitions: int
) -> dict[str, list[int]]:
    """Which live replica pre-warms which orphan (a partition of a dead replica): in turn,
    each only up to its room below ``ceil(partitions / len(live))`` (the share it will
    take when the dead one's leases expire), so each takes its own pre-warmed ones.

    Args:
        orphans: partitions held by dead replicas, sorted. owners: partition -> holder.
        live: live replica ids, sorted (every replica computes the same answer).
    """
    target = math.ceil(partitions / max(1, len(live)))
    held = collections.Counter(owners.values())
    room = {m: max(0, target - held[m]) for m in live}
    out: dict[str, list[int]] = {m: [] for m in live}
    todo = list(orphans)
    while todo and any(room.values()):
        for m in live:
            if todo and room[m]:
                out[m].append(todo.pop(0))
                room[m] -= 1
    return out


def _retrieve(fut: asyncio.Future[None]) -> None:
    """Mark a shared future's exception as seen (the workers awaiting it log it)."""
    if not fut.cancelled():
        fut.exception()


def _step(part: Partition, name: str, t0: float) -> float:
    """Record ``perf_counter() - t0`` as takeover step ``name`` of ``part``; returns now."""
    now = time.perf_counter()
    part.steps[name] = now - t0
    return now


def _spread(values: collections.deque[float]) -> dict[str, float | int]:
    """Count, median, 99th percentile and max of ``values`` (s), for the status."""
    if not values:
        return {"n": 0}
    a = np.array(list(values), dtype=np.float64)  # list(): one step, while the thread appends
    p50, p99 = np.percentile(a, [50, 99])
    return {"n": a.size, "p50": round(p50, 3), "p99": round(p99, 3), "max": round(a.max(), 3)}


def _decode(payloads: list[bytes], p: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:func:`decode_many`, or message by message when one is malformed (that one is
    logged and dropped)."""
    try:
        return decode_many(payloads)
    except ValueError:
        rows: list[Row] = []
        for data in payloads:
            try:
                rows += decode(data)
            except ValueError:
                log.error("partition %d: message %r is not readings; dropped", p, data[:200])
        return _arrays(rows)


def _arrays(rows: list[Row]) -> tuple[list[str], np.ndarray, np.ndarray]:
    ids = [r[0] for r in rows]
    ts = np.fromiter((r[1] for r in rows), np.float64, len(rows))
    vals = np.array([r[2:] for r in rows], dtype=np.float64).reshape(len(rows), 3)
    return ids, ts, vals
