"""Ingestion: raw JSON -> validated readings -> ring buffers -> windows for the scorer.

Every reading of a message is either accepted (stored, and queued for scoring once its
device's window is full) or listed in ``rejected`` with its index and the reasons; nothing
is dropped silently.

Fast path: the whole message is validated in one ``TypeAdapter.validate_json`` call (no
``json.loads``, no per-item call) and stored with one :meth:`DeviceBuffers.store`. Only when
that fails does the message go through the per-item path, so the replies (accepted count,
rejected indices, field and reason) are the same either way.

Repeated keys (``{"gas_ppm": 400, "gas_ppm": 20000}``) are refused: pydantic's JSON parser
keeps the last one silently, so the fast path counts each field name's occurrences in the
raw text (:func:`keys_once`) and leaves anything ambiguous to the per-item path, which
decodes with :func:`app.jsonio.loads_marked` and rejects just the readings that repeat a key.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from app.alerting.leak import STILL_ABOVE_READINGS
from app.errors import Forbidden, InvalidBody, pydantic_errors
from app.jsonio import (
    MAX_KEYS,
    Ambiguous,
    Crowded,
    crowded_error,
    duplicate_error,
    loads_marked,
)
from app.ml.features import evidence
from app.ml.signal import reads_dropout
from app.schemas.readings import (
    GAS_RANGE,
    MAX_FUTURE_S,
    RH_RANGE_PCT,
    TEMP_RANGE_C,
    IngestResult,
    Reading,
    Rejected,
    Warned,
    ambient_issues,
    device_id_ok,
    gas_out_of_range,
    iso,
    stamp_seconds,
)
from app.services.buffers import (
    BAD_TS,
    CAPPED,
    DUPLICATE,
    LATE,
    TWICE,
    DeviceBuffers,
    DeviceCapReached,
)
from app.services.quota import DeviceQuota
from app.services.safety import SafetyService
from app.services.scorer import Scorer
from app.services.windows import WindowBatch

#: A message above this size (bytes; ~250 readings, ~10 ms of CPU here) waits for its turn
#: behind the other large ones (:meth:`Ingestor.ingest_raw`).
LARGE_MESSAGE_BYTES = 32 * 1024
#: Readings of one device stored before its windows are scored and the alert sink has run,
#: when a message holds more of them (a gateway's backlog) and a window among them passes the
#: evidence gate: a leak alert raised by those windows holds the device's signal model before
#: the next readings are learned, as it does for readings sent one by one. A backlog of 600
#: readings stored at once taught the signal model a leak raised in its first part (noise
#: scale 43 -> 576 ppm, level 700 -> 885), and the next leak, 20 min after the all-clear,
#: was never raised (newcomer of 1 Dec 06:30; in batches of 10 it was, 6 s in). 10 keeps the
#: readings learned after a raise and before its hold at most 10, about the alarm delay.
#: While a message is stored in rounds, messages naming one of its devices wait for it, so a
#: device's readings keep the order of their messages (a later message stored between two
#: rounds made the rest of the backlog "out of order").
HOLD_CHUNK_READINGS = 10
#: The same wait applies to a round with a device whose leak alert is open (its signal model
#: held) and whose gas does not read as a sensor at 0 (:meth:`Ingestor._may_clear`): the
#: all-clear that releases the hold is then applied within a round too. Without
#: it a 2,000-reading backlog learned its readings after the leak had ended with the level
#: still held, and clean air coming back after a ventilation boost (0.75x) raised a second
#: critical leak alert that never cleared: 16 of 16 runs of a newcomer's script (a x2 leak
#: of 20 min 20 min into an hour's boost or 15 min before its end, 8 seeds each), 0 since;
#: in messages of 500 readings, and in the offline replay, none before either (3-4 Dec).


def chunks_per_device(device_ids: Sequence[str], ts: np.ndarray, k: int) -> list[np.ndarray]:
    """Split a message into rounds that each hold at most ``k`` readings of any device, in
    time order per device (round j: each device's readings ``j*k .. j*k+k-1`` by ``ts``,
    stable). One round (all indices) when no device has more than ``k``.

    Args:
        device_ids: N ids. ts: (N,) float64 epoch s (NaN sorts last). k: >= 1.

    Returns:
        Index arrays (int64) into the message, one per round, in order.
    """
    n = len(device_ids)
    if n <= k:
        return [np.arange(n, dtype=np.int64)]
    _, dev = np.unique(np.asarray(device_ids, dtype=object).astype(str), return_inverse=True)
    order = np.lexsort((np.arange(n), ts, dev))
    grouped = dev[order]
    first = np.r_[True, grouped[1:] != grouped[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start
    rounds = rank // k
    if rounds.max() == 0:
        return [np.arange(n, dtype=np.int64)]
    return [np.flatnonzero(rounds == j) for j in range(int(rounds.max()) + 1)]


_READING = TypeAdapter(Reading)
#: Cluster mode's hand-off of valid readings: (device_ids, ts (N,), values (N, 3)).
Forward = Callable[[Sequence[str], np.ndarray, np.ndarray], Awaitable[None]]
#: ``cache_strings="keys"``: pydantic-core's JSON parser keeps up to 16,384 short strings
#: it has seen, values too by default, so every device id of a message stayed referenced
#: (~1 MB for 20,000 new devices) and pinned the allocator's pools around them: resident
#: memory a tracked device of the bench's memory phase grew ~100 B from it. Only the keys
#: (the five field names) repeat; parsing 20,000 readings took as long either way.
_READINGS = TypeAdapter(list[Reading], config=ConfigDict(cache_strings="keys"))


def _names_and_objects(raw: bytes | str) -> tuple[int, int]:
    """How many ``:`` and ``{`` a message holds: its names and objects, at most (a string's
    own are counted too), without decoding it."""
    if isinstance(raw, bytes):
        return raw.count(b":"), raw.count(b"{")
    return raw.count(":"), raw.count("{")


def parse_body(raw: bytes | str, *, max_items: int) -> tuple[list[Any], bool]:
    """Decode a message into a list of candidate readings.

    Returns:
        (items, was_array). A single object becomes a one-item list. An object that repeats
        a key is an :class:`app.jsonio.Ambiguous` (rejected by :func:`validate`).

    Raises:
        InvalidBody: not JSON (NaN/Infinity included), nested too deeply, not an object or
            array of objects, more than ``max_items``, or objects of over
            :data:`CROWDED_COLONS_PER_OBJECT` colons each (``too_many_fields``, before
            decoding).
    """
    colons, objects = _names_and_objects(raw)
    if colons > CROWDED_COLONS_PER_OBJECT * max(objects, 1):
        # refused before decoding: json.loads alone took 1.2 s of the event loop for one
        # object of 700,000 names (newcomer of 10 Dec)
        raise InvalidBody(
            [
                {
                    "field": "(body)",
                    "reason": f"{colons} name separators (:) in {objects} objects: no object "
                    f"this API takes has more than {MAX_KEYS} names",
                    "type": "too_many_fields",
                }
            ]
        )
    data = loads_marked(raw)
    if isinstance(data, dict):
        return [data], False
    if not isinstance(data, list):
        raise InvalidBody(
            [{"field": "(body)", "reason": "must be a reading object or an array of them"}]
        )
    if len(data) > max_items:
        raise InvalidBody(
            [{"field": "(body)", "reason": f"{len(data)} readings; at most {max_items} a message"}]
        )
    return data, True


def validate(items: list[Any]) -> tuple[list[tuple[int, Reading]], list[Rejected]]:
    """Validate each candidate on its own, so the good readings of a batch survive."""
    good: list[tuple[int, Reading]] = []
    bad: list[Rejected] = []
    for i, item in enumerate(items):
        if isinstance(item, Crowded):  # refused by its size, not name by name
            bad.append(Rejected(index=i, errors=[crowded_error(item.size, "(reading)")]))
            continue
        if isinstance(item, Ambiguous):
            bad.append(Rejected(index=i, errors=[duplicate_error(k) for k in item.duplicates]))
            continue
        try:
            good.append((i, _READING.validate_python(item)))
        except ValidationError as exc:
            bad.append(Rejected(index=i, errors=pydantic_errors([dict(e) for e in exc.errors()])))
    return good, bad


class Ahead(NamedTuple):
    """A reading refused only because its ``ts`` stands more than 5 min
    (:data:`app.schemas.readings.MAX_FUTURE_S`) ahead of the server clock, valid otherwise.

    ``pos``: its index in the message; ``ts``: its stamp, epoch s; ``gas``: in its
    device's unit; ``refused``: why its device was refused too (a new device past the device
    cap or its key's device quota, :meth:`Ingestor.admit_ahead`), None while admitted."""

    pos: int
    device_id: str
    ts: float
    gas: float
    refused: str | None = None


def ahead_of_clock(items: list[Any], bad: list[Rejected]) -> list[Ahead]:
    """Readings refused only because their ``ts`` stands more than 5 min
    (:data:`app.schemas.readings.MAX_FUTURE_S`) ahead of
    the server clock, valid otherwise. Their gas
    still goes to the safety set points (a gateway 400 s fast posting 30,000 ppm raised
    nothing: newcomer)."""
    out: list[Ahead] = []
    for b in bad:
        errs = b.errors
        if not errs or not all(
            e.get("field") == "ts" and "ahead of the server clock" in str(e.get("reason"))
            for e in errs
        ):
            continue
        item = items[b.index]
        if not isinstance(item, dict):
            continue
        try:
            r = _READING.validate_python({**item, "ts": None})
            stamp = stamp_seconds(item["ts"])
        except (ValidationError, ValueError, TypeError):
            continue
        out.append(Ahead(b.index, r.device_id, stamp, r.gas_ppm))
    return out


def out_of_range(
    readings: Sequence[Reading], units: Mapping[str, str]
) -> list[tuple[int, dict[str, str]]]:
    """The readings whose gas lies outside the range of their device's unit
    (:data:`app.schemas.readings.GAS_RANGE`): (position, error) each, in order.

    Args:
        readings: validated readings.
        units: device id -> unit for the devices whose unit is not ppm (the others read
            ppm; ``Profiles.other_units``).

    Cost: one comparison per reading (and one dict lookup while any device has another
    unit than ppm)."""
    lo, hi, _ = GAS_RANGE["ppm"]
    out = []
    for i, r in enumerate(readings):
        g = r.gas_ppm
        unit = units.get(r.device_id) if units else None
        if unit is not None:
            err = gas_out_of_range(g, unit)
            if err is not None:
                out.append((i, err))
        elif not lo <= g <= hi:
            out.append((i, gas_out_of_range(g, "ppm") or {}))
    return out


_KEYS = ("device_id", "gas_ppm", "temperature_c", "humidity_pct")
_KEYS_B = tuple(f'"{k}"'.encode() for k in _KEYS)
_KEYS_S = tuple(f'"{k}"' for k in _KEYS)


def keys_once(raw: bytes | str, readings: Sequence[Reading]) -> bool:
    """Whether no reading of a validated message repeats a key, from the raw text alone.

    Every reading has each required field once at least, and the only strings a valid
    reading holds (``device_id``: ``[A-Za-z0-9._:-]``; ``ts``: digits, ``-:.TZtz+``) cannot
    contain a quoted field name, so ``"gas_ppm"`` occurring exactly N times in N readings
    means once each; likewise ``"ts"`` against the readings that set ``ts``. A backslash
    (a name spelled with escapes) gives False, as does any other count: the caller then
    decodes the message item by item. Cost: five ``count`` passes over the text.
    """
    if isinstance(raw, bytes):
        if b"\\" in raw:
            return False
        keys, ts = _KEYS_B, b'"ts"'
        counts = [raw.count(k) for k in keys]
        n_ts = raw.count(ts)
    else:
        if "\\" in raw:
            return False
        counts = [raw.count(k) for k in _KEYS_S]
        n_ts = raw.count('"ts"')
    n = len(readings)
    if any(c != n for c in counts):
        return False
    return n_ts == 0 or n_ts == sum(1 for r in readings if "ts" in r.model_fields_set)


#: :func:`parse_body` refuses a whole message with more colons than this many per ``{``
#: before decoding it: a reading holds at most 5 + 64 + a ``ts`` string's few (a device id
#: may be 64 colons), so only messages whose objects hold over a hundred names each reach it.
CROWDED_COLONS_PER_OBJECT = 2 * MAX_KEYS
#: :func:`validate_fast` leaves to :func:`parse_body` a message with more colons than this
#: many per ``{``: a reading has 5 names and a ``ts`` string 2 colons more, so one far past
#: it holds an object of too many names (:data:`app.jsonio.MAX_KEYS`), which pydantic would
#: refuse name by name (0.3-0.7 s of the event loop for 700,000 names) before
#: :func:`parse_body` refuses it by its size. A string's own colons only choose the path.
FAST_COLONS_PER_OBJECT = 16


def validate_fast(raw: bytes | str, *, max_items: int) -> tuple[list[Reading], bool] | None:
    """Validate a whole message in one call: (readings, was_array), or None when any part
    of it is invalid or may repeat a key (then :func:`parse_body` and :func:`validate` give
    the reasons)."""
    colons, objects = _names_and_objects(raw)
    if colons > FAST_COLONS_PER_OBJECT * max(objects, 1):
        return None  # some object holds far more names than a reading: parse_body refuses it
    try:
        text = raw.lstrip()
        if text[:1] in (b"[", "["):
            readings = _READINGS.validate_json(raw)
            if len(readings) > max_items or not keys_once(raw, readings):
                return None
            return readings, True
        one = [_READING.validate_json(raw)]
        return (one, False) if keys_once(raw, one) else None
    except ValidationError:
        return None


def ambient_warnings(index: Sequence[int], vals: np.ndarray) -> list[Warned]:
    """Take each reading's temperature and humidity as :func:`ambient_issues` says, in
    place in ``vals`` ((N, 3) gas, °C, %RH): a value outside its physical range becomes NaN
    (unknown: the gas is still taken), a humidity just outside 0-100 %RH is clipped. Returns
    the warnings of the readings changed, by their ``index`` in the message. Cost: two
    vectorised range checks; per-reading work only for the readings out of range."""
    if not len(vals):
        return []
    t, h = vals[:, 1], vals[:, 2]
    odd = np.flatnonzero(
        (t < TEMP_RANGE_C[0])
        | (t > TEMP_RANGE_C[1])
        | (h < RH_RANGE_PCT[0])
        | (h > RH_RANGE_PCT[1])
    )
    out = []
    for j in odd.tolist():
        vals[j, 1], vals[j, 2], notes = ambient_issues(float(t[j]), float(h[j]))
        out.append(Warned(index=index[j], warnings=notes))
    return out


def fill_ambient(
    device_ids: Sequence[str], ts: np.ndarray, vals: np.ndarray, last: Callable[[str], Any]
) -> np.ndarray:
    """``vals`` with every unknown (NaN) temperature or humidity replaced by its device's
    previous known one (in time order; before the message, ``last(device_id)``: its newest
    stored (gas, °C, %RH) row or None), else by :data:`AMBIENT_UNKNOWN`: the ring buffers,
    the detector's windows and the history hold numbers, and a value held unchanged is one
    the detector reads as no ambient change (:meth:`app.ml.signal.SignalStates` lets an
    unknown reading move nothing). A copy; ``vals`` is left as it is."""
    out = vals.copy()
    held: dict[str, list[float]] = {}
    for j in np.argsort(ts, kind="stable").tolist():
        d = device_ids[j]
        prev = held.get(d)
        if prev is None:
            row = last(d)
            prev = list(AMBIENT_UNKNOWN) if row is None else [float(row[1]), float(row[2])]
            held[d] = prev
        for c in (1, 2):
            if math.isnan(out[j, c]):
                out[j, c] = prev[c - 1]
            else:
                prev[c - 1] = float(out[j, c])
    return out


#: The temperature and humidity (°C, %RH) an unknown value is held at when its device has
#: no known one before it (a new device whose probe failed): a room's, so that the
#: detector's ambient levels start from a plausible value.
AMBIENT_UNKNOWN = (20.0, 50.0)


class Ingestor:
    """Stores readings and hands full windows to the scorer.

    Args:
        buffers: the ring buffers.
        scorer: the batching (or inline) scorer.
        max_items: most readings in one message.
        safety: the safety rules' hook, given every message's accepted readings in time
            order (None: none).
        score: False when no model is loaded: windows are not submitted for scoring.
        record: optional; awaited with each message's accepted readings as
            ``(device_id, ts, gas_ppm, temperature_c, humidity_pct)`` (readings history).
        forward: cluster mode: valid readings are handed to it (``device_ids``, ``ts`` (N,)
            float64 epoch s, values (N, 3) float64) instead of being stored here; it returns
            once they are durable in the stream (then they count as accepted) or raises.
            The partition owner stores them with :meth:`ingest_rows`.
    """

    def __init__(
        self,
        *,
        buffers: DeviceBuffers,
        scorer: Scorer,
        max_items: int,
        safety: SafetyService | None = None,
        score: bool = True,
        record: Callable[[list[tuple[str, float, float, float, float]]], Awaitable[None]]
        | None = None,
        forward: Forward | None = None,
    ) -> None:
        self.forward = forward
        self.record = record
        self.safety = safety
        self.score = score
        self.buffers = buffers
        self.scorer = scorer
        self.max_items = max_items
        self.accepted_total = 0
        self.rejected_total = 0
        #: Per-key device quota of keys with a device prefix (None: none; wired in
        #: ``app/state.py``; not in cluster mode, where this replica tracks only its share).
        self.quota: DeviceQuota | None = None
        #: Device id -> gas unit of the devices whose unit is not ppm
        #: (``Profiles.other_units``, wired in ``app/state.py``): a reading's gas range
        #: depends on its device's unit (:func:`out_of_range`). Empty: every device reads ppm.
        self.units: Mapping[str, str] = {}
        #: One large message's CPU work at a time (:meth:`ingest_raw`).
        self._large = asyncio.Semaphore(1)
        #: Devices of a message being stored in rounds (:meth:`ingest_rows`), and the
        #: condition a message naming one of them waits on until that message is stored.
        self._in_rounds: set[str] = set()
        self._rounds_done = asyncio.Condition()

    async def ingest_raw(
        self, raw: bytes | str, *, device_prefix: str | None = None, key_id: str | None = None
    ) -> IngestResult:
        """Parse, validate and store one message (HTTP body or WebSocket frame).

        Args:
            device_prefix: the sender's key may only post device ids starting with this.
            key_id: the sender's key; with a ``device_prefix`` and ``quota`` set, the
                readings of new devices beyond the key's quota are rejected
                (``key_device_quota``, :class:`app.services.quota.DeviceQuota`).

        Raises:
            InvalidBody: the message is not readings at all, or a single reading is invalid.
            Forbidden: a reading, valid or not, names a device id outside ``device_prefix``
                (nothing of the message is stored, whatever its other errors).

        A message over :data:`LARGE_MESSAGE_BYTES` takes its turn: large messages are
        decoded and stored one at a time, and each first lets the event loop poll its sockets
        once. Their work is all on the event loop's thread anyway, so this costs them no
        throughput, but the loop no longer runs a burst of them back to back without reading
        a socket: sixty concurrent 2,000-reading POSTs kept ``/livez`` waiting 2.3-4.0 s
        (Docker's health check gives up at 4 s), every other client too. Small messages
        (one reading per WebSocket frame) do not wait for the turn.
        """
        if len(raw) <= LARGE_MESSAGE_BYTES:
            return await self._ingest_raw(raw, device_prefix, key_id)
        async with self._large:
            await asyncio.sleep(0)  # the others queue on the semaphore; sockets are polled
            return await self._ingest_raw(raw, device_prefix, key_id)

    async def _ingest_raw(
        self, raw: bytes | str, device_prefix: str | None, key_id: str | None
    ) -> IngestResult:
        ahead: list[Ahead] = []
        gas_refused: list[tuple[str, str]] = []
        quota_key = key_id if device_prefix is not None else None
        try:
            try:
                index, readings, bad = self.decode(
                    raw,
                    ahead=ahead,
                    device_prefix=device_prefix,
                    key_id=quota_key,
                    gas_refused=gas_refused,
                )
            finally:
                await self.refused_ahead(ahead, device_prefix)
            return await self._ingest_admitted(index, readings, bad, quota_key)
        finally:
            # after the message's accepted readings are stored: a new device whose first
            # message also holds a reading refused for its gas is tracked by then
            await self.refused_gas_faults(gas_refused, device_prefix)

    async def _ingest_admitted(
        self,
        index: list[int],
        readings: list[Reading],
        bad: list[Rejected],
        quota_key: str | None,
    ) -> IngestResult:
        """:meth:`ingest` of a decoded message, the key's device quota applied first."""
        if self.quota is not None and quota_key is not None and self.forward is None:
            before = readings
            index, readings = self.quota.admit(quota_key, index, readings, bad)
            if len(readings) < len(before):
                kept = {id(r) for r in readings}
                result = await self.ingest(index, readings, bad)  # before any other await
                # refused for the key's quota, but dangerous gas still raises the alarm
                await self.refused_gas(
                    [r for r in before if id(r) not in kept],
                    "refused: this key's device quota is reached",
                )
                return result
        return await self.ingest(index, readings, bad)

    async def refused_gas(self, readings: Sequence[Reading], why: str) -> None:
        """Readings refused for their device (the device cap, a key's device quota): none is
        stored, but gas at or above a set point still raises the threshold alarm at the
        receipt time (:meth:`SafetyService.on_late`; newcomer: 30,000 ppm from a device over
        the cap raised nothing), and clean gas counts towards that alarm's all-clear (it never
        cleared: newcomer of 2 Dec). Single node only (not with ``forward``)."""
        if readings and self.safety is not None and self.forward is None:
            now = time.time()
            await self.safety.on_late(
                [(r.device_id, now if r.ts is None else r.ts, r.gas_ppm) for r in readings],
                why=why,
                clears=True,  # in the device's own order: clean gas ends its alarm
            )

    async def refused_ahead(self, ahead: Sequence[Ahead], device_prefix: str | None = None) -> None:
        """Readings :meth:`decode` refused only for a ``ts`` too far ahead of the server
        clock (its ``ahead``), those of ``device_prefix`` only (the sender's key). Those
        admitted (:meth:`admit_ahead`) have their devices registered, their gas checked
        against the set points and their ``clock`` fault raised
        (:meth:`SafetyService.on_ahead`); those of a new device refused for the device cap
        or the key's quota only raise the threshold alarm of dangerous gas, as any reading
        refused for its device does (:meth:`SafetyService.on_late`). Single node only (not
        with ``forward``)."""
        rows = [a for a in ahead if device_prefix is None or a.device_id.startswith(device_prefix)]
        if not rows or self.safety is None or self.forward is not None:
            return
        admitted = [(a.device_id, a.ts, a.gas) for a in rows if a.refused is None]
        if admitted:
            await self.safety.on_ahead(admitted)
        for why in dict.fromkeys(a.refused for a in rows if a.refused is not None):
            await self.safety.on_late(
                [(a.device_id, a.ts, a.gas) for a in rows if a.refused == why],
                why=why,
                clears=True,
            )

    async def refused_gas_faults(
        self, rows: Sequence[tuple[str, str]], device_prefix: str | None = None
    ) -> None:
        """Readings :meth:`decode` refused for their gas alone (its ``gas_refused``), those
        of ``device_prefix`` only and of devices tracked (a refused reading takes no slot;
        called once the message's accepted readings are stored, so a device's first
        message counts too): the device was heard from, so it is not ``silent``, and its
        ``out_of_range`` sensor fault names the refusal (:meth:`SafetyService.on_refused`;
        as :meth:`refused_ahead` does for a stamp too far ahead). Single node only."""
        if not rows or self.safety is None or self.forward is not None:
            return
        index = self.buffers.index
        kept = [
            (d, why)
            for d, why in rows
            if (device_prefix is None or d.startswith(device_prefix)) and index.get(d) is not None
        ]
        if kept:
            await self.safety.on_refused(kept)

    def admit_ahead(
        self, rows: Sequence[Ahead], bad: Sequence[Rejected], key_id: str | None = None
    ) -> list[Ahead]:
        """Apply the device cap and the key's device quota to readings refused for a stamp
        too far ahead, as to any other reading: a tracked device is always let through; a
        new one takes a slot (:meth:`DeviceBuffers.heard`) unless ``max_devices`` are
        tracked or ``key_id``'s quota is reached (newcomer: 3,000 readings stamped 400 s
        ahead registered 3,000 devices past both, each with a ``clock`` fault). A refused
        reading's entry in ``bad`` gets the same error as a reading refused for its device
        (``device_cap``, ``key_device_quota``) beside its ``ts`` error.

        Args:
            rows: from :func:`ahead_of_clock`. bad: the message's refused readings.
            key_id: the sender's key when it has a device prefix (its quota applies).

        Returns:
            ``rows``, those refused marked with why (``Ahead.refused``). Cluster mode
            (``forward``): unchanged, since this replica tracks no devices.
        """
        if not rows or self.forward is not None:
            return list(rows)
        quota = self.quota if key_id is not None else None
        ok = (
            [True] * len(rows)
            if quota is None or key_id is None
            else quota.admit_ids(key_id, [a.device_id for a in rows])
        )
        entry = {b.index: b for b in bad}
        out: list[Ahead] = []
        for a, yes in zip(rows, ok, strict=True):
            err, why = None, None
            if not yes:
                assert quota is not None
                err, why = quota.error(), "its key's device quota is reached"
            else:
                try:
                    self.buffers.heard(a.device_id)
                except DeviceCapReached:
                    err, why = _cap_error(self.buffers.max_devices), "the device cap is reached"
            if err is None or why is None:
                out.append(a)
                continue
            entry[a.pos].errors.append(err)
            out.append(a._replace(refused=f"more than {MAX_FUTURE_S:.0f} s ahead, and {why}"))
        return out

    def decode(
        self,
        raw: bytes | str,
        *,
        device_id: str | None = None,
        ahead: list[Ahead] | None = None,
        device_prefix: str | None = None,
        key_id: str | None = None,
        gas_refused: list[tuple[str, str]] | None = None,
    ) -> tuple[list[int], list[Reading], list[Rejected]]:
        """Parse and validate one message: (index, readings, rejected), for :meth:`ingest`.

        Args:
            raw: one reading or a JSON array of them.
            device_id: the device the message's channel names (an MQTT topic), or None. A
                reading without ``device_id`` gets it; one naming another device is
                rejected (field ``device_id``, type ``topic_mismatch``).
            ahead: if given, extended with the readings refused only for a ``ts`` too far
                ahead (:func:`ahead_of_clock`), the device cap and ``key_id``'s device
                quota applied (:meth:`admit_ahead`), also when the refusal raises.
            device_prefix: the sender's key may only post device ids starting with this:
                every reading that names a device id outside it is refused, valid or not.
            key_id: the sender's key, when it has a ``device_prefix`` (its device quota).
            gas_refused: if given, extended with (device_id, reasons) of each reading refused
                for its gas alone whose device id is valid, also when the refusal raises
                (:meth:`refused_gas_faults`).

        Raises:
            Forbidden: a reading names a device id (a string) outside ``device_prefix``,
                whatever else is wrong with the message (nothing of it is taken).
            InvalidBody: the message is not readings at all, or a single reading is invalid
                (counted in ``rejected_total``).
        """
        fast = validate_fast(raw, max_items=self.max_items)
        if fast is not None and (
            device_id is None or all(r.device_id == device_id for r in fast[0])
        ):
            index, readings, was_array = list(range(len(fast[0]))), fast[0], fast[1]
            bad: list[Rejected] = []
            if device_prefix is not None:
                check_prefix(index, readings, device_prefix)
        else:
            items, was_array = parse_body(raw, max_items=self.max_items)
            if device_prefix is not None:  # before anything else is refused or taken
                check_prefix_items(items, device_prefix)
            checked = items if device_id is None else [_on_topic(x, device_id) for x in items]
            good, bad = validate(checked)
            _gas_range_too(checked, bad, self.units)
            if gas_refused is not None:
                gas_refused += _gas_only(items, bad, device_id)
            if device_id is not None:
                good, bad = _same_device(good, bad, device_id)
            if ahead is not None:
                rows = [
                    a
                    for a in ahead_of_clock(items, bad)
                    if gas_out_of_range(a.gas, self.units.get(a.device_id, "ppm")) is None
                ]
                ahead += self.admit_ahead(rows, bad, key_id)
            index, readings = [i for i, _ in good], [r for _, r in good]
        outside = out_of_range(readings, self.units)
        if outside:  # the gas range depends on the device's unit: checked after the schema
            drop = {j for j, _ in outside}
            if gas_refused is not None:
                gas_refused += [(readings[j].device_id, e["reason"]) for j, e in outside]
            bad += [Rejected(index=index[j], errors=[e]) for j, e in outside]
            bad.sort(key=lambda b: b.index)
            index = [i for j, i in enumerate(index) if j not in drop]
            readings = [r for j, r in enumerate(readings) if j not in drop]
        if not was_array and bad:
            self.rejected_total += 1
            raise InvalidBody(bad[0].errors)
        return index, readings, bad

    async def ingest(
        self, index: Sequence[int], readings: Sequence[Reading], bad: list[Rejected]
    ) -> IngestResult:
        """Store validated readings in time order per device and queue the windows due.

        Args:
            index: position in the message of each reading.
            readings: the valid readings; ``ts`` None means now.
            bad: readings already refused by validation (extended here).
        """
        n = len(readings)
        accepted = 0
        warned: list[Warned] = []
        if n:
            now = time.time()
            ts = np.fromiter((now if r.ts is None else r.ts for r in readings), np.float64, n)
            # sent without ts: stamped now, never a resend (README "Wire contract")
            stamped = np.fromiter((r.ts is not None for r in readings), np.bool_, n)
            vals = np.array(
                [(r.gas_ppm, r.temperature_c, r.humidity_pct) for r in readings], dtype=np.float64
            ).reshape(n, 3)
            warned = ambient_warnings(index, vals)
            ids = [r.device_id for r in readings]
            if self.forward is not None:
                await self.forward(ids, ts, vals)
                accepted = n
            else:
                codes, prior = await self.ingest_rows(
                    ids, ts, vals, stamped=None if stamped.all() else stamped
                )
                refused = np.flatnonzero(codes).tolist()
                for j in refused:
                    reason = self._reason(int(codes[j]), float(prior[j]), float(ts[j]), ids[j])
                    bad.append(Rejected(index=index[j], errors=[reason]))
                accepted = n - len(refused)
        self.accepted_total += accepted
        self.rejected_total += len(bad)
        bad.sort(key=lambda b: b.index)
        if warned and bad:
            gone = {b.index for b in bad}  # a refused reading's reply is its refusal
            warned = [w for w in warned if w.index not in gone]
        return IngestResult(accepted=accepted, rejected=bad, warnings=warned)

    async def ingest_rows(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        vals: np.ndarray,
        *,
        strict: bool = False,
        stamped: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store validated readings (ring buffers, safety rules, history) and queue the
        windows due for scoring.

        Args:
            device_ids: N device ids.
            ts: (N,) float64 epoch seconds.
            vals: (N, 3) float64 gas ppm, °C, %RH.
            strict: refuse a reading not newer than its device's newest as ``LATE`` (cluster
                mode: a redelivered reading is dropped, not stored twice).
            stamped: (N,) bool, False for a reading sent without ``ts`` (stamped on
                receipt: never refused as a duplicate, :meth:`DeviceBuffers.store`); None:
                all sent with one.

        Returns:
            (codes (N,) uint8, 0 = stored; prior_ts (N,) float64), as
            :meth:`DeviceBuffers.store` gives them.
        """
        ambient = vals[:, 1:]
        unknown = np.isnan(ambient).any(axis=1) if len(vals) else None
        if unknown is not None and unknown.any():
            # a temperature or humidity out of its physical range (NaN: unknown): the ring,
            # the detector and the history get the device's previous value, the safety rules
            # the NaN (the ``ambient_out_of_range`` fault)
            told, vals = vals, fill_ambient(device_ids, ts, vals, self.buffers.newest)
        else:
            told = None
        rounds = chunks_per_device(device_ids, ts, HOLD_CHUNK_READINGS)
        ids = set(device_ids) if self._in_rounds or len(rounds) > 1 else None
        if ids is not None and not self._in_rounds.isdisjoint(ids):
            # a device of this message is being stored in rounds: its readings keep the
            # order of their messages, as when every message was stored at once
            async with self._rounds_done:
                await self._rounds_done.wait_for(lambda: self._in_rounds.isdisjoint(ids))
        if len(rounds) == 1:
            return await self._ingest_round(
                device_ids, ts, vals, strict, last=True, stamped=stamped, told=told
            )
        assert ids is not None
        self._in_rounds |= ids
        try:
            codes = np.zeros(len(ts), dtype=np.uint8)
            prior = np.full(len(ts), np.nan)
            for j, idx in enumerate(rounds):
                codes[idx], prior[idx] = await self._ingest_round(
                    [device_ids[i] for i in idx.tolist()],
                    ts[idx],
                    vals[idx],
                    strict,
                    last=j == len(rounds) - 1,
                    stamped=None if stamped is None else stamped[idx],
                    told=None if told is None else told[idx],
                )
            return codes, prior
        finally:
            self._in_rounds -= ids
            async with self._rounds_done:
                self._rounds_done.notify_all()

    async def _ingest_round(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        vals: np.ndarray,
        strict: bool,
        *,
        last: bool,
        stamped: np.ndarray | None = None,
        told: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`ingest_rows` for one round of :func:`chunks_per_device`; unless it is the
        ``last``, wait for its windows to be scored and sunk when one passes the evidence
        gate (:data:`HOLD_CHUNK_READINGS`). ``told``: the round's values as the safety rules
        get them (an unknown temperature or humidity NaN), None: ``vals``."""
        stored = self.buffers.store(device_ids, ts, vals, strict=strict, stamped=stamped)
        if self.safety is not None or self.record is not None:
            await self._per_reading(device_ids, ts, vals, stored.codes, stored.ts, told)
        late = np.flatnonzero(stored.codes == LATE)
        if late.size and self.safety is not None and not strict:
            # refused for its order (its device's clock stepped back, or an earlier reading
            # was stamped ahead), but dangerous gas still raises the threshold alarm; not in
            # cluster mode (strict), where LATE is a redelivery already checked
            await self.safety.on_late(
                [(device_ids[j], float(ts[j]), float(vals[j, 0])) for j in late.tolist()]
            )
        capped = np.flatnonzero(stored.codes == CAPPED)
        if capped.size and self.safety is not None and not strict:
            await self.safety.on_late(
                [(device_ids[j], float(ts[j]), float(vals[j, 0])) for j in capped.tolist()],
                why="refused: the device cap is reached",
                clears=True,
            )
        win = stored.windows
        if win is not None and self.score:
            await self.scorer.submit(win)
            if not last and (
                evidence(win.values, win.signal, self.buffers.signals.cfg).any()
                or self._may_clear(win)
            ):
                await self.scorer.wait_sunk(self.scorer.submitted_total)
        return stored.codes, stored.prior_ts

    def _may_clear(self, win: WindowBatch) -> bool:
        """Whether a window of the round is of a device whose leak alert is open (its level
        held) and whose recent readings (the median of the last
        :data:`~app.alerting.leak.STILL_ABOVE_READINGS`, as the alert sink judges them) do
        not read as a sensor at 0: its all-clear may come in this round. A sensor at 0
        never clears an alert (:func:`~app.ml.signal.reads_dropout`), and waiting on its
        rounds made a 5,000-reading backlog of zeros 5x slower (newcomer of 4 Dec)."""
        signals = self.buffers.signals
        for i, d in enumerate(win.device_ids):
            if signals.held(d):
                median = float(np.median(win.values[i, -STILL_ABOVE_READINGS:, 0]))
                level, scale = float(win.signal[i, 0]), float(win.signal[i, 1])
                if not reads_dropout(median, level, scale, signals.cfg):
                    return True
        return False

    async def _per_reading(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        vals: np.ndarray,
        codes: np.ndarray,
        placed: np.ndarray | None = None,
        told: np.ndarray | None = None,
    ) -> None:
        """Safety rules on each accepted reading, then the history record, in time order.

        ``placed``: where the buffers put each reading on its device's time line (epoch s;
        None = at its ``ts``); a reading placed elsewhere (its device's clock broken) goes
        to the rules and the history at that time, and the rules' ``clock`` fault names its
        own stamp. ``told``: the values the rules get (an unknown temperature or humidity
        NaN: the ``ambient_out_of_range`` fault), None: ``vals``; the history gets ``vals``."""
        v = vals.tolist()
        at = ts if placed is None else placed
        if len(device_ids) == 1:  # one reading: no sort
            kept_j = [0] if codes[0] == 0 else []
        else:
            order = np.argsort(at, kind="stable")
            kept_j = order[codes[order] == 0].tolist()
        kept = [(device_ids[j], float(at[j]), v[j][0], v[j][1], v[j][2]) for j in kept_j]
        clock = None
        if placed is not None and kept:
            stale_s = self.buffers.stale_s
            clock = [_clock_fault(float(ts[j]), float(at[j]), stale_s) for j in kept_j]
        if kept and self.safety is not None:
            # judged on the signal models as this message left them (a sensor at 0 is one
            # once such readings outlasted a dropout); no per-reading work while no device
            # has a run of such readings (almost always)
            signals = self.buffers.signals
            dropout = None
            if signals.states.dead_since:
                axes = self.buffers.axes  # the levels are on the detection axis (a raw zero)
                unit = self.safety.registry.profiles.unit
                dropout = [
                    signals.dropout(d, gas, axes.get(d), unit(d)) for d, _, gas, _, _ in kept
                ]
                dropout = dropout if any(dropout) else None
            if told is not None:
                t = told.tolist()
                rows = [
                    (k[0], k[1], t[j][0], t[j][1], t[j][2])
                    for j, k in zip(kept_j, kept, strict=True)
                ]
                await self.safety.on_readings(rows, clock, dropout)
            else:
                await self.safety.on_readings(kept, clock, dropout)
        if kept and self.record is not None:
            await self.record(kept)

    def _reason(self, code: int, last: float, ts: float, device_id: str) -> dict[str, str]:
        """The refusal of a reading stamped ``ts`` of ``device_id`` with ``code``, its device's
        newest time before the message ``last`` (epoch s)."""
        pending = self.buffers.pending(device_id) if code == LATE and ts > last else math.nan
        if ts < pending:  # a backlog sent newest first (buffers.JUMP_FACTOR)
            return {
                "field": "ts",
                "reason": f"older than this device's reading stamped {iso(pending)}, received "
                f"before it, and far after its latest placed reading ({iso(last)}): taken "
                "for a backlog sent newest first, which cannot be placed in time order; if "
                "it is one, send the backlog oldest first (resend this reading so); "
                "readings must arrive in time order per device (its gas was still checked "
                "against the safety set points)",
                "type": "out_of_order",
            }
        if code == LATE:
            return {
                "field": "ts",
                "reason": f"older than this device's latest reading ({iso(last)}); "
                "readings must arrive in time order per device, a backlog oldest first "
                "(its gas was still checked against the safety set points)",
                "type": "out_of_order",
            }
        if code == CAPPED:
            return _cap_error(self.buffers.max_devices)
        if code == DUPLICATE:
            return {
                "field": "ts",
                "reason": "this device's reading at this time, with these values, is stored "
                "already (a resend); it is not stored twice",
                "type": "duplicate",
            }
        if code == TWICE:
            return {
                "field": "ts",
                "reason": "the same values as this device's latest stored reading, stamped "
                "within a tenth of its typical interval after it (within 1 s while that "
                "interval is not known): the same reading delivered again (two gateways, a "
                "redelivery stamped on arrival); it is not stored twice",
                "type": "duplicate",
            }
        assert code == BAD_TS, code
        return {"field": "ts", "reason": "not a finite time", "type": "finite_number"}


def _clock_fault(ts: float, at: float, stale_s: float) -> str | None:
    """The ``clock`` fault's detail for a reading stamped ``ts`` that the buffers placed at
    ``at`` (epoch s), or None when it is at its own stamp. ``stale_s``: the buffers' bound
    on a stamp behind the server clock (:data:`app.services.buffers.CLOCK_STALE_S`, s); a
    reading placed for that is named by its field, ``ts``, and that reason."""
    if at == ts:
        return None
    if at - ts > stale_s:
        return (
            f"`ts` {iso(ts)} is {_span(at - ts)} behind the server clock, more than the "
            f"readings retention ({_span(stale_s)}), and keeps pace with it (the device's "
            f"clock was reset?): placed at the server's receipt time {iso(at)}, so the "
            "history keeps it"
        )
    return (
        f"reading stamped {iso(ts)} does not advance this device's time line (its clock is "
        f"stuck or was reset): placed at the server's receipt time {iso(at)}"
    )


def _span(s: float) -> str:
    """A duration of ``s`` seconds in words: whole days from a day up, else seconds."""
    days = s / 86_400.0
    return f"{days:,.0f} days" if days >= 1.0 else f"{s:,.0f} s"


def check_prefix(index: Sequence[int], readings: Sequence[Reading], prefix: str) -> None:
    """Refuse a message holding a device id that does not start with ``prefix``.

    Raises:
        Forbidden: naming the index and device id of every such reading.
    """
    _forbid([(i, r.device_id) for i, r in zip(index, readings, strict=True)], prefix)


def check_prefix_items(items: Sequence[Any], prefix: str) -> None:
    """:func:`check_prefix` on a message's decoded items, valid or not: any item naming a
    device id (a string) outside ``prefix`` makes the whole message a prefix violation,
    whatever else is wrong with it (newcomer: an outside device with a bad gas value hid
    the violation; the in-prefix readings were stored and the reply was 200).

    Raises:
        Forbidden: naming the index and device id of every such item.
    """
    _forbid(
        [
            (i, d)
            for i, x in enumerate(items)
            if isinstance(x, dict) and isinstance(d := x.get("device_id"), str)
        ],
        prefix,
    )


def _forbid(ids: Sequence[tuple[int, str]], prefix: str) -> None:
    outside = [
        {
            "index": i,
            "field": "device_id",
            "reason": f"device {d!r} is outside this key's device prefix {prefix!r}",
            "type": "device_prefix",
        }
        for i, d in ids
        if not d.startswith(prefix)
    ]
    if outside:
        raise Forbidden(outside)


#: Largest message (HTTP body, WebSocket frame, MQTT payload) decoded, bytes: 10,000 readings
#: of ~200 B with room to spare.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _on_topic(item: Any, device_id: str) -> Any:
    """A candidate reading with the channel's device id filled in where it has none (an
    object that repeated a key stays marked, so it is refused as on the other routes)."""
    if isinstance(item, dict) and "device_id" not in item:
        if isinstance(item, Ambiguous):
            marked = Ambiguous({**item, "device_id": device_id})
            marked.duplicates = item.duplicates
            return marked
        return {**item, "device_id": device_id}
    return item


def _gas_only(
    items: Sequence[Any], bad: Sequence[Rejected], device_id: str | None
) -> list[tuple[str, str]]:
    """(device_id, reasons) of each refused item whose every error is about its
    ``gas_ppm`` value (a repeated ``gas_ppm`` key is malformed JSON from its sender, not a
    sensor's fault) and whose device id (``device_id``, the channel's, where it names none)
    is valid."""
    out = []
    for b in bad:
        item = items[b.index]
        if not b.errors or any(
            e.get("field") != "gas_ppm" or e.get("type") == "duplicate_key" for e in b.errors
        ):
            continue
        if not isinstance(item, dict):
            continue
        d = item.get("device_id", device_id)
        if isinstance(d, str) and device_id_ok(d):
            out.append((d, "; ".join(f"gas_ppm: {e.get('reason')}" for e in b.errors)))
    return out


def _gas_range_too(items: Sequence[Any], bad: Sequence[Rejected], units: Mapping[str, str]) -> None:
    """Add the gas range error (:func:`gas_out_of_range`, in its device's unit: ``units``,
    else ppm) to each refused item whose ``gas_ppm`` is a finite number outside it and
    whose errors name other fields only: the schema refuses such an item before the range
    (which depends on the unit) is checked, and its reply named only the other fields. An
    item refused as a whole (a repeated key, too many names) is left as it is."""
    for b in bad:
        item = items[b.index]
        if not isinstance(item, dict) or isinstance(item, (Ambiguous, Crowded)):
            continue
        if any(e.get("field") == "gas_ppm" for e in b.errors):
            continue  # the schema refused it already (not a finite number, ...)
        g = item.get("gas_ppm")
        if isinstance(g, bool) or not isinstance(g, (int, float)):
            continue
        d = item.get("device_id")
        unit = units.get(d, "ppm") if isinstance(d, str) else "ppm"
        err = gas_out_of_range(float(g), unit)
        if err is not None:
            at = sum(1 for e in b.errors if e.get("field") == "device_id")
            b.errors.insert(at, err)


def _same_device(
    good: list[tuple[int, Reading]], bad: list[Rejected], device_id: str
) -> tuple[list[tuple[int, Reading]], list[Rejected]]:
    """Move valid readings that name another device than the channel's to ``bad``."""
    kept = []
    for i, r in good:
        if r.device_id == device_id:
            kept.append((i, r))
            continue
        reason = (
            f"{r.device_id!r} differs from the topic's device {device_id!r}; publish to "
            f"the topic of the reading's device, or leave device_id out"
        )
        bad.append(
            Rejected(
                index=i, errors=[{"field": "device_id", "reason": reason, "type": "topic_mismatch"}]
            )
        )
    bad.sort(key=lambda b: b.index)
    return kept, bad


def _cap_error(cap: int) -> dict[str, str]:
    return {
        "field": "device_id",
        "reason": f"device cap reached ({cap} tracked); new devices are refused until idle "
        "ones are evicted",
        "type": "device_cap",
    }
