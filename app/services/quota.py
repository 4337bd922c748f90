"""A per-key cap on the devices a gateway key with a device prefix brings in, so one such key
cannot fill the service's device cap (``GASLEAK_MAX_DEVICES``) on its own and lock every
other gateway's new devices out (newcomer)."""

from __future__ import annotations

from collections.abc import Sequence

from app.schemas.readings import Reading, Rejected
from app.slab import Columns, SlotIndex


class DeviceQuota:
    """At most ``limit`` tracked devices brought in by one key.

    A reading of a device that is tracked already (whoever brought it in) is always let
    through and costs the key nothing; a reading of a new device counts against its key. The
    key that brought a device in is a column of the ring buffers' slot index (an int32 per
    slot: 4 B a device; a set of ids per key held ~100 B a device), so a device leaves its
    key's count the moment its slot is freed (evicted when idle). Counted since start-up, in
    this process (devices restored from snapshots count for nobody).

    A device admitted here has no slot until the caller stores its reading; the caller does
    so before it next awaits, so the next :meth:`admit` finds the slots of the last message's
    new devices and books them to their key (those the buffers refused never count).

    Args:
        limit: devices per key (``GASLEAK_MAX_DEVICES_PER_KEY``).
        index: the ring buffers' slot index (:attr:`app.services.buffers.DeviceBuffers.index`).
    """

    def __init__(self, limit: int, index: SlotIndex) -> None:
        self.limit = limit
        self.index = index
        self.owner = Columns({"key": ("i", -1)})  # slot -> number of the key that brought it
        index.attach(self)
        self._numbers: dict[str, int] = {}  # key id -> its number
        self._count: list[int] = []  # key number -> tracked devices it brought in
        self._pending: tuple[int, set[str]] | None = None  # the last message's new devices

    def grow(self, capacity: int) -> None:
        """Size the owner column with the index (a :class:`app.slab.SlotListener`)."""
        self.owner.grow(capacity)

    def clear(self, slot: int) -> None:
        """A device leaves the index: it leaves its key's count."""
        k = self.owner.col("key")[slot]
        if k >= 0:
            self._count[k] -= 1
            self.owner.col("key")[slot] = -1

    def tracked(self, key_id: str) -> int:
        """Tracked devices ``key_id`` brought in (its last message's included)."""
        self._settle()
        k = self._numbers.get(key_id)
        return 0 if k is None else self._count[k]

    def _settle(self) -> None:
        """Book the last message's new devices that got a slot to their key."""
        if self._pending is None:
            return
        k, fresh = self._pending
        self._pending = None
        col = self.owner.col("key")
        for d in fresh:
            s = self.index.get(d)
            if s is not None and col[s] < 0:
                col[s] = k
                self._count[k] += 1

    def admit(
        self, key_id: str, index: Sequence[int], readings: Sequence[Reading], bad: list[Rejected]
    ) -> tuple[list[int], list[Reading]]:
        """The readings the key may store; those of new devices beyond its quota are added
        to ``bad`` (field ``device_id``, type ``key_device_quota``). The caller stores the
        kept readings before it next awaits (see the class doc)."""
        ok = self.admit_ids(key_id, [r.device_id for r in readings])
        kept_i: list[int] = []
        kept_r: list[Reading] = []
        for i, r, yes in zip(index, readings, ok, strict=True):
            if yes:
                kept_i.append(i)
                kept_r.append(r)
            else:
                bad.append(Rejected(index=i, errors=[self.error()]))
        return kept_i, kept_r

    def admit_ids(self, key_id: str, device_ids: Sequence[str]) -> list[bool]:
        """Per device id (one per reading, repeats allowed), whether the key may bring it
        in: a tracked device always, a new one while the key's quota has room (counting the
        new devices of this call). The caller gives the admitted new devices their slots
        before it next awaits (see the class doc)."""
        self._settle()
        k = self._numbers.get(key_id)
        if k is None:
            k = self._numbers[key_id] = len(self._count)
            self._count.append(0)
        fresh: set[str] = set()  # new in this message: not stored yet, so not tracked yet
        out: list[bool] = []
        for d in device_ids:
            if d not in fresh and self.index.get(d) is None:
                if self._count[k] + len(fresh) >= self.limit:
                    out.append(False)
                    continue
                fresh.add(d)
            out.append(True)
        if fresh:
            self._pending = (k, fresh)
        return out

    def error(self) -> dict[str, str]:
        return {
            "field": "device_id",
            "reason": f"this key's device quota is reached ({self.limit} tracked devices "
            "brought in by it, GASLEAK_MAX_DEVICES_PER_KEY); its new devices are refused "
            "until idle ones are evicted",
            "type": "key_device_quota",
        }
