"""Latency histograms observed as requests and inference calls happen (prometheus-client).

One :class:`ServiceMetrics` per app, with its own registry (no module-level metric objects,
so apps built by tests do not share counts). Bucket edges, seconds: request buckets span a
1 ms health probe to a 10 s batch of 10,000 readings; scoring buckets span one window on a
GPU (~0.5 ms) to a full 256-window batch on a loaded 2-core CPU (README Performance: tens of
ms, more under load).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCORING_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    """The histograms: HTTP request duration, inference-call duration and batch size."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "gasleak_http_request_duration_seconds",
            "HTTP request duration from first byte in to last byte out, s",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS_S,
            registry=self.registry,
        )
        self.scoring_seconds = Histogram(
            "gasleak_scoring_duration_seconds",
            "Duration of one model call in the inference thread (the windows of a scored "
            "batch whose evidence gate is open; clean windows need none), s",
            buckets=SCORING_BUCKETS_S,
            registry=self.registry,
        )
        self.scoring_batch_windows = Histogram(
            "gasleak_scoring_batch_windows",
            "Windows in one model call (those of a batch whose evidence gate is open)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )


class TimedPredictor:
    """A predictor whose model calls are timed into ``metrics``; every other attribute is the
    wrapped predictor's. The scorer calls the model only for windows whose evidence gate is
    open (:func:`app.ml.predictor.leak_scores`), so in clean air there are none.

    Timed: ``leak_probability(windows, signal)`` (what the scorer calls, through
    :func:`app.ml.predictor.leak_scores`), with ``windows`` of shape ``(n_windows, window,
    3)`` float32; results are returned unchanged.
    Thread-safe: they run in the inference thread, and prometheus-client histograms take a
    lock per observation.
    """

    def __init__(self, inner: Any, metrics: ServiceMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def _timed(self, method: str, windows: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return getattr(self._inner, method)(windows, *args, **kwargs)
        finally:
            self._metrics.scoring_seconds.observe(time.perf_counter() - t0)
            self._metrics.scoring_batch_windows.observe(len(windows))

    def leak_probability(self, windows: Any, *args: Any, **kwargs: Any) -> Any:
        """The wrapped ``leak_probability``, timed."""
        return self._timed("leak_probability", windows, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
