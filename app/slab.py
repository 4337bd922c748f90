"""Per-device state in struct-of-arrays slabs, indexed by one slot per device.

Keeping a Python object per device costs far more than its numbers: an object header, a
slot or ``__dict__`` per field, a boxed ``float`` (24 B) per value and a dict entry keyed by
the id. 100,000 devices with one such object each for the signal model and one for the safety
rules held ~600 B each on top of their ring buffers (issue 13, item 5). Here:

- :class:`SlotIndex` maps a device id to a slot (one index for the whole service, ~10 B a
  device beside the id string) and a slot back to its id; freed slots are reused. Whoever
  holds state per device registers a :class:`SlotListener` and is told when the slots grow
  and when one is freed, so a freed slot never carries the state of the device that had it.
- :class:`Columns` holds one ``array.array`` per field, one value per slot: 8 bytes a
  ``float64`` instead of a 24-byte ``float`` object plus a pointer. ``array`` (not numpy)
  because the rules read and write one device at a time, and indexing an ``array`` gives a
  plain Python ``float`` without the cost of a numpy scalar; :meth:`Columns.view` gives a
  numpy view for the sweeps over all devices.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

#: Slots added at a time (or half the capacity, whichever is more), so 10 devices do not pay
#: for 100,000 and 100,000 do not pay for a resize per device.
GROW = 1024
_EMPTY, _GONE = -1, -2  # hash table cells: never used; used by a device since removed


class SlotListener(Protocol):
    """Holder of per-slot state: sized with the index, cleared when a slot is freed."""

    def grow(self, capacity: int) -> None:
        """Make room for slots ``0 .. capacity - 1`` (new ones in their default state)."""

    def clear(self, slot: int) -> None:
        """Return ``slot`` to its default state (its device is being removed;
        :meth:`SlotIndex.owner` still names it)."""


class SlotIndex:
    """Device id -> slot, slot -> device id; slots are reused after :meth:`remove`.

    A ``dict[str, int]`` costs ~84 B an entry at 100,000 devices (its 24-byte entry with
    the dict's spare room, its index table, and an ``int`` object per slot above 256), more
    than all of a device's signal state. So the id -> slot side is an open-addressing hash
    table of int32 slots (``array('i')``, linear probing on ``hash(device_id)``, kept at most
    half full, deletions marked so probes go on past them): ~10 B a device at 100,000. The
    slot -> id side keeps the ids' UTF-8 bytes one after another in one ``bytearray``, with
    each slot's offset (``array('I')``) and length (``array('h')``, -1 for a free slot): the
    only copy of the ids the service keeps, 17 B for an 11-character id where one ``bytes``
    object a device took 52 B (and, allocated among each message's short-lived objects, kept
    the allocator's pools of them from being freed). The bytes of removed ids are dropped
    when they are more than half the buffer. A lookup is a hash, a few array reads, one
    ``encode`` and a ``startswith`` (~0.3 µs against a dict's ~0.05 µs); :meth:`owner`
    decodes.

    Args:
        max_slots: capacity never grows past this (None: no limit). The caller enforces any
            cap on the number of devices (:class:`app.services.buffers.DeviceBuffers` does).
    """

    def __init__(self, max_slots: int | None = None) -> None:
        self.max_slots = max_slots
        self._table: array[int] = array("i", [_EMPTY]) * 8  # cell -> slot, or a marker
        self._filled = 0  # cells not _EMPTY (devices and _GONE markers)
        self._n = 0
        self._ids = bytearray()  # the ids' UTF-8 bytes (ASCII for valid ids), back to back
        self._at: array[int] = array("I")  # slot -> offset of its id in _ids
        self._len: array[int] = array("h")  # slot -> length of its id; -1: free
        self._dead = 0  # bytes of _ids that belonged to removed devices
        self._free: list[int] = []
        self._listeners: list[SlotListener] = []

    @property
    def capacity(self) -> int:
        """Slots allocated in every listener (used or free)."""
        return len(self._len)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, device_id: object) -> bool:
        return isinstance(device_id, str) and self.get(device_id) is not None

    def __iter__(self) -> Iterator[str]:
        ids, at = self._ids, self._at
        return (ids[at[s] : at[s] + n].decode() for s, n in enumerate(self._len) if n >= 0)

    def _holds(self, slot: int, key: bytes) -> bool:
        """Whether ``slot`` holds the id whose UTF-8 bytes are ``key``."""
        return self._len[slot] == len(key) and self._ids.startswith(key, self._at[slot])

    def get(self, device_id: str) -> int | None:
        """The device's slot, or None when it has none."""
        table, mask = self._table, len(self._table) - 1
        i, key = hash(device_id) & mask, None
        while True:
            s = table[i]
            if s == _EMPTY:
                return None
            if s >= 0:
                key = key or device_id.encode()
                if self._holds(s, key):
                    return s
            i = (i + 1) & mask

    def owner(self, slot: int) -> str | None:
        """The device id in ``slot``, or None when the slot is free."""
        n = self._len[slot]
        if n < 0:
            return None
        a = self._at[slot]
        return self._ids[a : a + n].decode()

    def attach(self, listener: SlotListener) -> None:
        """Register ``listener`` and size it to the current capacity."""
        self._listeners.append(listener)
        listener.grow(self.capacity)

    def add(self, device_id: str) -> int:
        """The slot of ``device_id``, taking a free one (growing every listener) when new.

        Raises:
            OverflowError: no free slot and ``max_slots`` reached.
            ValueError: the id's UTF-8 form is longer than 32,767 bytes.
        """
        table, mask = self._table, len(self._table) - 1
        i, gone, key = hash(device_id) & mask, -1, device_id.encode()
        while True:
            s = table[i]
            if s == _EMPTY:
                break
            if s == _GONE:
                gone = i if gone < 0 else gone
            elif self._holds(s, key):
                return s
            i = (i + 1) & mask
        if len(key) > 32767:
            raise ValueError("device_id: longer than 32,767 bytes")
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self._at[slot], self._len[slot] = len(self._ids), len(key)
        self._ids += key
        if gone >= 0:
            i = gone
        else:
            self._filled += 1
        table[i] = slot
        self._n += 1
        if 2 * self._filled > len(table):
            self._rehash()
        return slot

    def remove(self, device_id: str) -> int | None:
        """Free the device's slot (every listener clears it); the slot, or None if unknown."""
        table, mask = self._table, len(self._table) - 1
        i, key = hash(device_id) & mask, device_id.encode()
        while True:
            slot = table[i]
            if slot == _EMPTY:
                return None
            if slot >= 0 and self._holds(slot, key):
                break
            i = (i + 1) & mask
        for listener in self._listeners:
            listener.clear(slot)  # owner(slot) still names the device here
        table[i] = _GONE
        self._dead += self._len[slot]
        self._len[slot] = -1
        self._free.append(slot)
        self._n -= 1
        if self._dead > max(4096, len(self._ids) // 2):
            self._compact()
        return slot

    def _compact(self) -> None:
        """Drop the bytes of removed ids from ``_ids`` (offsets move; slots do not)."""
        ids, at, out = self._ids, self._at, bytearray()
        for s, n in enumerate(self._len):
            if n >= 0:
                a = at[s]
                at[s] = len(out)
                out += ids[a : a + n]
        self._ids, self._dead = out, 0

    def _rehash(self) -> None:
        """A table at most a third full of live devices, without the _GONE markers."""
        size = 8
        while size < 3 * self._n:
            size *= 2
        table: array[int] = array("i", [_EMPTY]) * size
        mask = size - 1
        for s in range(self.capacity):
            d = self.owner(s)
            if d is None:
                continue
            i = hash(d) & mask  # positions come from the str's hash
            while table[i] != _EMPTY:
                i = (i + 1) & mask
            table[i] = s
        self._table, self._filled = table, self._n

    def _grow(self) -> None:
        old = self.capacity
        new = old + max(GROW, old // 2)
        if self.max_slots is not None:
            new = min(new, self.max_slots)
        if new <= old:
            raise OverflowError(f"all {old} slots are in use")
        for listener in self._listeners:
            listener.grow(new)
        self._at = self._at + array("I", [0]) * (new - old)  # exact sizes, as Columns.grow
        self._len = self._len + array("h", [-1]) * (new - old)
        self._free.extend(range(new - 1, old - 1, -1))  # lowest slot first

    def used(self) -> np.ndarray:
        """(capacity,) bool: which slots hold a device."""
        return np.frombuffer(self._len, dtype=np.int16) >= 0

    def nbytes(self) -> int:
        """Bytes of the index itself: table, offsets, lengths and the ids' bytes."""
        return (
            len(self._table) * self._table.itemsize
            + len(self._at) * self._at.itemsize
            + len(self._len) * self._len.itemsize
            + len(self._ids)
        )


class Columns:
    """One ``array.array`` per field, one value per slot (a :class:`SlotListener`).

    Args:
        fields: name -> (``array`` typecode, default value). ``'d'`` float64, ``'i'`` int32,
            ``'b'`` int8 (flags). Each column is an attribute of that name; growing replaces
            it with a new array, so look it up again after the index may have grown.
    """

    def __init__(self, fields: dict[str, tuple[str, float]]) -> None:
        self._fields = fields
        for name, (code, _) in fields.items():
            setattr(self, name, array(code))

    def col(self, name: str) -> array[Any]:
        """The column ``name``."""
        out: array[Any] = getattr(self, name)
        return out

    def grow(self, capacity: int) -> None:
        """Extend every column to ``capacity`` slots with the defaults."""
        for name, (code, default) in self._fields.items():
            col = self.col(name)
            if capacity > len(col):  # a new array of the exact size: extend() over-allocates
                setattr(self, name, col + array(code, [default]) * (capacity - len(col)))

    def clear(self, slot: int) -> None:
        """Set ``slot`` back to the defaults."""
        for name, (_, default) in self._fields.items():
            self.col(name)[slot] = default

    def view(self, name: str) -> np.ndarray:
        """A numpy view of column ``name`` (read it at once: growing the column may move it)."""
        return np.frombuffer(self.col(name), dtype=self.col(name).typecode)

    def row_bytes(self) -> int:
        """Bytes per slot over all columns."""
        return sum(array(code).itemsize for code, _ in self._fields.values())

    def nbytes(self) -> int:
        """Bytes held by the columns (allocated length, not counting over-allocation)."""
        return sum(len(self.col(n)) * self.col(n).itemsize for n in self._fields)
