"""The whole-message fast path gives the same replies and stored state as the per-item path."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest

from app.errors import InvalidBody
from app.schemas.readings import IngestResult, Rejected, iso
from app.services.buffers import DeviceCapReached
from app.services.ingest import Ingestor, _cap_error, out_of_range, parse_body, validate
from tests.conftest import reading
from tests.services.test_buffers import Reference
from tests.services.test_buffers import make as make_buffers

T0 = 1_767_225_600.0


class Collect:
    """Stands in for the scorer: keeps what would be scored (the model is not under test)."""

    def __init__(self) -> None:
        self.windows: list = []

    async def submit(self, windows) -> None:
        self.windows.extend((w.device_id, w.ts) for w in windows)


def reference(buf: Reference, raw: bytes, out: list, max_items: int = 50) -> IngestResult:
    """The per-item design: json.loads, validate each, is_late + append in ts order."""
    items, was_array = parse_body(raw, max_items=max_items)
    good, bad = validate(items)
    outside = dict(out_of_range([r for _, r in good], {}))  # the unit's range: ppm here
    bad += [Rejected(index=good[j][0], errors=[e]) for j, e in outside.items()]
    good = [g for j, g in enumerate(good) if j not in outside]
    if not was_array and bad:
        raise InvalidBody(bad[0].errors)
    accepted = 0
    for ts, i, r in sorted(((r.ts, i, r) for i, r in good), key=lambda t: t[0]):
        if buf.is_late(r.device_id, ts):
            last = buf.last[r.device_id]
            bad.append(
                Rejected(
                    index=i,
                    errors=[
                        {
                            "field": "ts",
                            "type": "out_of_order",
                            "reason": f"older than this device's latest reading ({iso(last)}); "
                            "readings must arrive in time order per device, a backlog oldest "
                            "first (its gas was still checked against the safety set points)",
                        }
                    ],
                )
            )
            continue
        try:
            w = buf.append(r.device_id, ts, (r.gas_ppm, r.temperature_c, r.humidity_pct))
        except DeviceCapReached:
            bad.append(Rejected(index=i, errors=[_cap_error(buf.max_devices)]))
            continue
        accepted += 1
        if w is not None:
            out.append((w.device_id, w.ts))
    bad.sort(key=lambda b: b.index)
    return IngestResult(accepted=accepted, rejected=bad)


def messages() -> list[bytes]:
    rng = np.random.default_rng(3)
    msgs = []
    for k in range(30):
        batch = [
            reading(
                f"d{rng.integers(0, 7)}",
                # within JUMP_MIN_S of each other: the plain order rule of the reference
                T0 + k * 0.1 + float(rng.integers(-15, 10)) * 0.01,
                float(rng.uniform(400, 900)),
            )
            for _ in range(int(rng.integers(1, 20)))
        ]
        if k % 5 == 1:
            batch[0]["gas_ppm"] = -1.0  # out of the ppm range
        if k % 7 == 2:
            batch.append({"device_id": "x", "gas_ppm": 1})
        msgs.append(json.dumps(batch).encode())
    msgs.append(json.dumps(reading("d1", T0 + 4, 500.0)).encode())
    msgs.append(json.dumps(reading("d1", T0 - 1, 500.0)).encode())  # single, late
    msgs.append(b"[]")
    return msgs


def test_fast_path_replies_match_per_item_path() -> None:
    fast_buf = make_buffers(4, 5)
    ref_buf = Reference(4, 5)
    scorer, ref_windows = Collect(), []
    ingestor = Ingestor(buffers=fast_buf, scorer=scorer, max_items=50)  # type: ignore[arg-type]
    outcomes = set()
    for raw in messages():
        got = asyncio.run(ingestor.ingest_raw(raw))
        want = reference(ref_buf, raw, ref_windows)
        assert got.model_dump() == want.model_dump(), raw
        outcomes |= {e["type"] for r in got.rejected for e in r.errors}
    assert {"out_of_order", "device_cap", "unit_range", "missing"} <= outcomes
    assert sorted(scorer.windows) == sorted(ref_windows) and scorer.windows
    assert {
        d: fast_buf.last_ts[fast_buf.slot_for(d)] for d in fast_buf.device_ids()
    } == ref_buf.last


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"device_id": "a", "gas_ppm": math.inf, "temperature_c": 1, "humidity_pct": 1}),
        json.dumps([reading("a", T0, 1.0)] * 51),
        "[1, 2]",
        b"\xff\xfe",
    ],
)
def test_fast_path_errors_match(raw) -> None:
    ingestor = Ingestor(
        buffers=make_buffers(4, 5),
        scorer=Collect(),  # type: ignore[arg-type]
        max_items=50,
    )
    try:
        want = reference(Reference(4, 5), raw, [])
    except InvalidBody as exc:
        with pytest.raises(InvalidBody) as got:
            asyncio.run(ingestor.ingest_raw(raw))
        assert got.value.detail == exc.detail
        return
    assert asyncio.run(ingestor.ingest_raw(raw)).model_dump() == want.model_dump()


def test_large_messages_take_turns_so_the_loop_polls_between_them() -> None:
    """Sixty concurrent 2,000-reading POSTs ran back to back on the event loop and /livez
    waited 2.3-4.0 s (newcomer). A large message now waits its turn behind the others and
    lets the loop run other work first: here a probe scheduled after three large messages
    runs before the second of them is decoded (it ran after all three before); small
    messages never wait."""
    from app.services.ingest import LARGE_MESSAGE_BYTES

    buf = make_buffers(4, 200)
    ingestor = Ingestor(buffers=buf, scorer=Collect(), max_items=5000)  # type: ignore[arg-type]
    order: list[str] = []
    decode = ingestor.decode

    def traced(raw, **kw):  # noqa: ANN001, ANN003
        order.append(f"decode {len(raw) > LARGE_MESSAGE_BYTES}")
        return decode(raw, **kw)

    ingestor.decode = traced  # type: ignore[method-assign]
    big = [
        json.dumps([reading(f"b{k}-{i % 50}", T0 + i // 50, 400.0) for i in range(1000)]).encode()
        for k in range(3)
    ]
    assert all(len(b) > LARGE_MESSAGE_BYTES for b in big)
    small = json.dumps(reading("s", T0, 400.0)).encode()

    async def probe() -> None:
        order.append("probe")

    async def main() -> list[IngestResult]:
        tasks = [asyncio.create_task(ingestor.ingest_raw(b)) for b in big]
        tasks.append(asyncio.create_task(ingestor.ingest_raw(small)))
        await asyncio.gather(probe(), *tasks)
        return [t.result() for t in tasks]

    results = asyncio.run(main())
    assert [r.accepted for r in results] == [1000, 1000, 1000, 1]  # nothing lost
    assert order[:3] == ["decode False", "probe", "decode True"], order


def test_a_message_is_split_into_rounds_of_at_most_k_readings_per_device() -> None:
    """``chunks_per_device``: each round holds at most k readings of a device, earliest
    first by ``ts`` (stable), every reading exactly once; one round when none has more."""
    from app.services.ingest import chunks_per_device

    ids = ["a", "b", "a", "a", "b", "a", "a"]
    ts = np.array([5.0, 1.0, 1.0, 3.0, 2.0, 3.0, 9.0])
    rounds = chunks_per_device(ids, ts, 2)
    assert [r.tolist() for r in rounds] == [[1, 2, 3, 4], [0, 5], [6]]
    assert [r.tolist() for r in chunks_per_device(ids, ts, 5)] == [list(range(7))]
    assert [r.tolist() for r in chunks_per_device([], np.array([]), 3)] == [[]]
