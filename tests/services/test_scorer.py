"""Micro-batching: batched and one-at-a-time scoring agree; nothing is lost under backpressure.

Uses the shipped model and real recordings (smoke_iot) when present, else simulated air.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app.config import Settings
from app.ml.signal import SignalConfig
from app.services.buffers import DeviceBuffers
from app.services.scorer import BatchScorer, InlineScorer, score_windows
from app.services.signals import SignalBank
from app.services.windows import WindowBatch
from tests.conftest import SMOKE_CSV


@pytest.fixture(scope="module")
def predictor(shipped_predictor):
    """The shipped model, with torch on the service's thread count (1 of the 2 cores)."""
    return shipped_predictor


def real_windows(n_devices: int = 6, per_device: int = 40) -> WindowBatch:
    """Windows of several devices cut from the smoke_iot recording (or simulated air)."""
    if SMOKE_CSV.exists():
        raw = np.genfromtxt(
            SMOKE_CSV, delimiter=",", skip_header=1, usecols=(3, 1, 2), max_rows=60_000
        )
    else:
        from app.sim import clean_air

        raw = clean_air(60_000, np.random.default_rng(1))
    buf = DeviceBuffers(window=60, max_devices=n_devices, signals=SignalBank(SignalConfig()))
    step = len(raw) // n_devices
    ids, ts, vals = [], [], []
    for d in range(n_devices):
        rows = raw[d * step : d * step + SignalConfig().warmup - 1 + per_device]
        ids += [f"d{d}"] * len(rows)
        ts.append(1.7e9 + np.arange(len(rows), dtype=float))
        vals.append(rows)
    stored = buf.store(ids, np.concatenate(ts), np.concatenate(vals))
    assert stored.windows is not None and len(stored.windows) == n_devices * per_device
    return stored.windows


def test_batched_and_single_window_calls_give_the_same_probabilities(predictor) -> None:
    wb = real_windows()
    batched = predictor.leak_probability(wb.values, wb.signal)
    single = np.array([predictor.leak_probability(w.values[None], w.signal[None])[0] for w in wb])
    assert batched.shape == (len(wb),)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-6)
    assert batched.std() > 0.01  # real, varied windows: not a constant output
    gated = score_windows(predictor, wb)
    np.testing.assert_array_equal(gated.probability, np.where(gated.evidence, batched, 0.0))


def run_scorer(scorer_cls, predictor, windows: WindowBatch, **kw):
    got: list[tuple[str, float, float]] = []
    sizes: list[int] = []

    async def sink(batch, scores):
        sizes.append(len(batch))
        got.extend(
            (w.device_id, w.ts, float(p)) for w, p in zip(batch, scores.probability, strict=True)
        )

    async def main():
        import torch  # the service sets threads in its executor thread (OpenMP is per thread)

        with ThreadPoolExecutor(
            1, initializer=torch.set_num_threads, initargs=(Settings().torch_threads or 1,)
        ) as ex:
            scorer = scorer_cls(predictor, executor=ex, sink=sink, **kw)
            scorer.start()
            for k in range(0, len(windows), 13):  # chunks as ingestion would submit them
                await scorer.submit(windows[k : k + 13])
            await scorer.drain()
            await scorer.stop()
            return scorer

    scorer = asyncio.run(main())
    return got, sizes, scorer


def test_batch_scorer_matches_inline_scorer(predictor) -> None:
    wb = real_windows()
    batched, sizes, s1 = run_scorer(
        BatchScorer, predictor, wb, max_batch=64, max_delay_s=0.002, queue_max=40
    )
    inline, inline_sizes, s2 = run_scorer(InlineScorer, predictor, wb)
    assert set(inline_sizes) == {1} and len(inline) == len(wb)
    assert max(sizes) <= 64 and max(sizes) > 1
    assert s1.windows_scored == s2.windows_scored == len(wb)
    assert s1.batches == len(sizes) < s2.batches == len(wb)
    assert [g[:2] for g in batched] == [g[:2] for g in inline]  # same order, nothing lost
    np.testing.assert_allclose([g[2] for g in batched], [g[2] for g in inline], atol=1e-6)


def test_backpressure_waits_and_loses_nothing(predictor) -> None:
    wb = real_windows(n_devices=3, per_device=50)
    got, sizes, scorer = run_scorer(
        BatchScorer, predictor, wb, max_batch=8, max_delay_s=0.0, queue_max=10
    )
    assert len(got) == len(wb) == scorer.windows_scored and scorer.pending == 0
    assert max(sizes) <= 8
    for d in ("d0", "d1", "d2"):  # each device's windows in time order
        ts = [t for dev, t, _ in got if dev == d]
        assert ts == sorted(ts) and len(ts) == 50


def test_wait_sunk_returns_once_a_submits_windows_reached_the_sink(predictor) -> None:
    """Cluster mode acks a batch of readings after ``wait_sunk(submitted_total)``: by then
    every window of that submit has been handed to the sink, later submits or not."""
    wb = real_windows(n_devices=2, per_device=30)
    first, second = wb[:20], wb[20:]

    async def main() -> tuple[int, int, int]:
        sunk: list[int] = []

        async def sink(windows, _scores) -> None:
            await asyncio.sleep(0.01)  # a store write
            sunk.append(len(windows))

        with ThreadPoolExecutor(1) as ex:
            s = BatchScorer(
                predictor, executor=ex, sink=sink, max_batch=8, max_delay_s=0.0, queue_max=100
            )
            s.start()
            await s.submit(first)
            ticket = s.submitted_total
            await s.submit(second)
            await s.wait_sunk(ticket)
            at_ticket = sum(sunk)
            await s.wait_sunk(s.submitted_total)
            done = sum(sunk)
            await s.stop()
        return ticket, at_ticket, done

    ticket, at_ticket, done = asyncio.run(main())
    assert ticket == 20
    assert 20 <= at_ticket < len(wb)  # the first submit's windows, not (yet) all of them
    assert done == len(wb)


def test_the_next_batch_is_scored_while_the_sink_commits_the_last(predictor) -> None:
    """The sink (the policy and the store's commit) of one batch and the model call of the
    next overlap: an alert waits for one model call ahead of its own, not also for the
    previous batch's commit. Batches still reach the sink one at a time, in order."""
    wb = real_windows(n_devices=2, per_device=24)

    class CountingExecutor(ThreadPoolExecutor):
        """One worker thread, counting the scoring calls handed to it."""

        submitted = 0

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.submitted += 1
            return super().submit(fn, *args, **kwargs)

    async def main() -> tuple[int, list[float], int]:
        release = asyncio.Event()
        firsts: list[float] = []
        in_sink, most = 0, 0

        async def sink(windows, _scores) -> None:
            nonlocal in_sink, most
            in_sink += 1
            most = max(most, in_sink)
            firsts.extend(windows.ts[:1].tolist())
            if len(firsts) == 1:
                await release.wait()  # the first batch's commit is slow
            in_sink -= 1

        with CountingExecutor(1) as ex:
            s = BatchScorer(
                predictor, executor=ex, sink=sink, max_batch=8, max_delay_s=0.0, queue_max=100
            )
            s.start()
            await s.submit(wb)
            for _ in range(300):  # until a second batch is handed to the model, or 3 s
                if ex.submitted >= 2:
                    break
                await asyncio.sleep(0.01)
            scored_while_blocked = ex.submitted
            release.set()
            await s.wait_sunk(s.submitted_total)
            await s.stop()
        return scored_while_blocked, firsts, most

    scored, firsts, most = asyncio.run(main())
    assert scored >= 2  # the next batch went to the model while the first one's sink waited
    assert len(firsts) == -(-len(wb) // 8) and most == 1  # every batch, one sink at a time
    assert firsts == [float(wb.ts[i]) for i in range(0, len(wb), 8)]  # in submission order
