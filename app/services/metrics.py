"""Prometheus metrics read from the running state at scrape time (prometheus-client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.state import AppState


class StateCollector(Collector):
    """Exposes the service's counters without module-level metric objects."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Yield one family per counter or gauge."""
        s = self.state
        counters = {
            "gasleak_readings_accepted": ("Readings stored", s.ingestor.accepted_total),
            "gasleak_readings_rejected": ("Readings refused", s.ingestor.rejected_total),
            "gasleak_windows_scored": ("Windows scored", s.scorer.windows_scored),
            "gasleak_scoring_batches": ("Inference calls", s.scorer.batches),
            "gasleak_scoring_errors": ("Windows whose scoring failed", s.scorer.errors),
            "gasleak_events_published": ("Alert events published", s.log.published),
            "gasleak_subscriber_overflows": ("Subscribers dropped as too slow", s.hub.overflows),
            "gasleak_devices_evicted": ("Idle devices evicted", s.evicted_total),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(name, doc, value=value)
        gauges = {
            "gasleak_devices_tracked": ("Devices in the ring buffers", len(s.buffers)),
            "gasleak_windows_pending": ("Windows waiting for scoring", s.scorer.pending),
            "gasleak_active_alerts": ("Active alerts of every kind", s.active_alerts()),
            "gasleak_subscribers": ("Connected alert subscribers", s.hub.subscribers),
            "gasleak_last_batch_ms": ("Duration of the last inference call, ms",
                                      s.scorer.last_batch_ms),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=value)


def render_metrics(state: AppState) -> tuple[bytes, str]:
    """The Prometheus exposition of ``state`` and its content type."""
    registry = CollectorRegistry()
    registry.register(StateCollector(state))
    return generate_latest(registry), CONTENT_TYPE_LATEST
