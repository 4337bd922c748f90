"""Ingestion: raw JSON -> validated readings -> ring buffers -> windows for the scorer.

Every reading of a message is either accepted (stored, and queued for scoring once its
device's window is full) or listed in ``rejected`` with its index and the reasons; nothing
is dropped silently.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.errors import InvalidBody, pydantic_errors
from app.schemas.readings import IngestResult, Reading, Rejected
from app.services.buffers import DeviceBuffers, DeviceCapReached, Window
from app.services.safety import SafetyRules
from app.services.scorer import BatchScorer

_READING = TypeAdapter(Reading)


def parse_body(raw: bytes | str, *, max_items: int) -> tuple[list[Any], bool]:
    """Decode a message into a list of candidate readings.

    Returns:
        (items, was_array). A single object becomes a one-item list.

    Raises:
        InvalidBody: not JSON, not an object or array of objects, or more than ``max_items``.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBody([{"field": "(body)", "reason": f"not valid JSON: {exc}"}]) from None
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
        try:
            good.append((i, _READING.validate_python(item)))
        except ValidationError as exc:
            bad.append(Rejected(index=i, errors=pydantic_errors(list(exc.errors()))))
    return good, bad


class Ingestor:
    """Stores readings and hands full windows to the scorer.

    Args:
        buffers: the ring buffers.
        scorer: the batching scorer.
        max_items: most readings in one message.
        safety: rules applied to every accepted reading (None: none).
        publish: where safety events go (the hub's ``publish``; may be sync or async).
        score: False when no model is loaded: windows are not submitted for scoring.
        record: optional; awaited with each message's accepted readings as
            ``(device_id, ts, gas_ppm, temperature_c, humidity_pct)`` (readings history).
    """

    def __init__(
        self, *, buffers: DeviceBuffers, scorer: BatchScorer, max_items: int,
        safety: SafetyRules | None = None, publish: Callable[[dict[str, Any]], Any] | None = None,
        score: bool = True,
        record: Callable[[list[tuple[str, float, float, float, float]]], Awaitable[None]]
        | None = None,
    ) -> None:  # fmt: skip
        self.record = record
        self.buffers = buffers
        self.scorer = scorer
        self.max_items = max_items
        self.safety = safety
        self.publish = publish
        self.score = score
        self.accepted_total = 0
        self.rejected_total = 0

    async def ingest_raw(self, raw: bytes | str) -> IngestResult:
        """Parse, validate and store one message (HTTP body or WebSocket frame).

        Raises:
            InvalidBody: the message is not readings at all, or a single reading is invalid.
        """
        items, was_array = parse_body(raw, max_items=self.max_items)
        good, bad = validate(items)
        if not was_array and bad:
            self.rejected_total += 1
            raise InvalidBody(bad[0].errors)
        return await self.ingest(good, bad)

    async def ingest(
        self, good: list[tuple[int, Reading]], bad: list[Rejected]
    ) -> IngestResult:
        """Store validated readings in time order per device and queue due windows."""
        now = time.time()
        rows = sorted(
            ((r.ts if r.ts is not None else now, i, r) for i, r in good), key=lambda t: t[0]
        )
        windows: list[Window] = []
        kept: list[tuple[str, float, float, float, float]] = []
        accepted = 0
        for ts, i, r in rows:
            reason = self._refusal(r.device_id, ts)
            if reason:
                bad.append(Rejected(index=i, errors=[reason]))
                continue
            try:
                w = self.buffers.append(r.device_id, ts, (r.gas_ppm, r.temperature_c, r.humidity_pct))
            except DeviceCapReached:
                bad.append(Rejected(index=i, errors=[_cap_error(self.buffers.max_devices)]))
                continue
            accepted += 1
            if self.record is not None:
                kept.append((r.device_id, ts, r.gas_ppm, r.temperature_c, r.humidity_pct))
            if w is not None and self.score:
                windows.append(w)
            await self._safety(r.device_id, ts, r)
        if kept and self.record is not None:
            await self.record(kept)
        await self.scorer.submit(windows)
        self.accepted_total += accepted
        self.rejected_total += len(bad)
        bad.sort(key=lambda b: b.index)
        return IngestResult(accepted=accepted, rejected=bad)

    async def _safety(self, device_id: str, ts: float, r: Reading) -> None:
        """Run the safety rules on one accepted reading and publish what they raise."""
        if self.safety is None or self.publish is None:
            return
        now = time.monotonic()
        for body in self.safety.check(device_id, ts, r.gas_ppm, r.temperature_c,
                                      r.humidity_pct, now=now):  # fmt: skip
            res = self.publish(body)
            if inspect.isawaitable(res):
                await res

    def _refusal(self, device_id: str, ts: float) -> dict[str, str] | None:
        if self.buffers.is_late(device_id, ts):
            last = self.buffers.info(device_id)["last_ts"]  # type: ignore[index]
            return {
                "field": "ts",
                "reason": f"older than this device's latest reading ({last:.3f}); "
                "readings must arrive in time order per device",
                "type": "out_of_order",
            }
        if not math.isfinite(ts):
            return {"field": "ts", "reason": "not a finite time", "type": "finite_number"}
        return None


def _cap_error(cap: int) -> dict[str, str]:
    return {
        "field": "device_id",
        "reason": f"device cap reached ({cap} tracked); new devices are refused until idle "
        "ones are evicted",
        "type": "device_cap",
    }
