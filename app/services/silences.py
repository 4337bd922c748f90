"""Silences: create, list, expire; stored first, then applied in memory."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from app.alerting.silences import Silence, Silences
from app.errors import NotFound
from app.schemas.readings import iso
from app.schemas.silences import SilenceIn, SilenceOut
from app.schemas.times import shown
from app.store import Store


def to_out(s: Silence, now: float) -> SilenceOut:
    """The wire form of a silence and its status at ``now``."""
    return SilenceOut(
        silence_id=s.silence_id,
        device_id=s.device,
        kind=s.kind,
        min_severity=s.min_severity,
        starts_at=iso(s.starts_at),
        ends_at=iso(s.ends_at),
        comment=s.comment,
        author=s.author,
        created_at=iso(s.created_at),
        status=s.status(now),
    )


class SilenceService:
    """Args: store; silences (the in-memory set the event log reads); clock (epoch s)."""

    def __init__(
        self, *, store: Store, silences: Silences, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.silences = silences
        self.clock = clock
        #: Cluster mode: called after a change is stored, so the other replicas reload.
        self.on_change: Callable[[], None] | None = None
        #: Called after a silence is ended (DELETE): announces the alerts it kept quiet
        #: (``AlertService.announce_unsilenced``; wired in ``app/state.py``).
        self.on_end: Callable[[], Awaitable[object]] | None = None

    async def load(self) -> None:
        """Read every stored silence (start-up; in cluster mode also when another replica
        changed one)."""
        for row in await self.store.silences.all():
            self.silences.add(Silence.from_dict({**row, "device": row["device"]}))

    async def create(self, body: SilenceIn) -> SilenceOut:
        """Store a new silence and apply it."""
        now = self.clock()
        s = Silence(
            silence_id=uuid.uuid4().hex,
            starts_at=body.starts_at.timestamp() if body.starts_at else now,
            ends_at=body.ends_at.timestamp(),
            comment=body.comment,
            author=body.author,
            created_at=now,
            device=body.device_id,
            kind=body.kind,
            min_severity=body.min_severity,
        )
        await self.store.silences.put(s.to_dict())
        self.silences.add(s)
        if self.on_change is not None:
            self.on_change()
        return to_out(s, now)

    def list(self) -> list[SilenceOut]:
        """Every silence, newest first."""
        now = self.clock()
        return [to_out(s, now) for s in self.silences.all()]

    async def expire(self, silence_id: str) -> tuple[SilenceOut, bool]:
        """End a silence now; it stays listed as expired. Returns it and whether this call
        ended it (False: it had ended already, and nothing changed).

        Raises:
            NotFound: no such silence.
        """
        now = self.clock()
        s = self.silences.get(silence_id)
        if s is None:
            raise NotFound(f"silence {shown(silence_id)} does not exist")
        if not s.ends_at > now:  # a second DELETE: nothing to end, store or announce
            return to_out(s, now), False
        s = self.silences.expire(silence_id, now)
        assert s is not None
        await self.store.silences.put(s.to_dict())
        if self.on_change is not None:
            self.on_change()
        if self.on_end is not None:
            await self.on_end()
        return to_out(s, now), True
