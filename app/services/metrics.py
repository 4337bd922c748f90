"""Prometheus metrics read from the running state at scrape time (prometheus-client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.services.latency import ServiceMetrics
    from app.state import AppState


class StateCollector(Collector):
    """Exposes the service's counters without module-level metric objects."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Yield one family per counter or gauge."""
        s = self.state
        counters = {
            "gasleak_readings_accepted": (
                "Readings validated and taken (answered as accepted)",
                s.ingestor.accepted_total,
            ),
            "gasleak_readings_rejected": ("Readings refused", s.ingestor.rejected_total),
            "gasleak_windows_scored": ("Windows scored", s.scorer.windows_scored),
            "gasleak_scoring_batches": ("Inference calls", s.scorer.batches),
            "gasleak_scoring_errors": ("Windows whose scoring failed", s.scorer.errors),
            "gasleak_events_published": ("Alert events published", s.log.published),
            "gasleak_subscriber_overflows": (
                "Alert subscriber queue overflows (each switched the subscriber to catching up "
                "from the store)",
                s.hub.overflows,
            ),
            "gasleak_subscriber_drops": (
                "Alert subscribers closed with 1013 (stopped reading, or fell behind)",
                s.hub.dropped,
            ),
            "gasleak_devices_evicted": ("Idle devices evicted", s.evicted_total),
            "gasleak_readings_clock_step": (
                "Readings stored behind a newest reading stamped > 30 s ahead of the server "
                "clock (the device's clock put right)",
                s.buffers.clock_steps,
            ),
            "gasleak_readings_receipt_time": (
                "Readings placed at their receipt time, their device's clock stuck or reset "
                "(the clock sensor_fault)",
                s.buffers.receipt_stamped,
            ),
        }
        if s.mqtt is not None:
            counters.update(_mqtt_counters(s.mqtt.counts))
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(name, doc, value=value)
        yield CounterMetricFamily(
            "gasleak_windows_submitted",
            "Windows queued for scoring",
            value=s.scorer.windows_submitted,
        )
        shed = CounterMetricFamily(
            "gasleak_shed_messages",
            "Ingestion messages refused (429 / overloaded frame), by transport and reason",
            labels=["transport", "reason"],
        )
        for (transport, reason), n in sorted(s.admission.shed.items()):
            shed.add_metric([transport, reason], n)
        yield shed
        gauges: dict[str, tuple[str, float]] = {
            "gasleak_devices_tracked": ("Devices in the ring buffers", len(s.buffers)),
            "gasleak_windows_pending": ("Windows waiting for scoring", s.scorer.pending),
            "gasleak_active_alerts": ("Active alerts of every kind", s.active_alerts()),
            "gasleak_subscribers": ("Connected alert subscribers", s.hub.subscribers),
            "gasleak_last_batch_ms": (
                "Duration of the last inference call, ms",
                s.scorer.last_batch_ms,
            ),
            "gasleak_readings_write_pending": (
                "Readings waiting for the history writer",
                s.recorder.pending,
            ),
            "gasleak_shedding": (
                "1 while ingestion sheds (a message in the last 5 s)",
                float(s.admission.shedding()),
            ),
            "gasleak_event_loop_lag_seconds": (
                "Event-loop lag at the last probe, s",
                s.admission.lag_s,
            ),
            **_subscriber_queues(s),
        }
        if s.mqtt is not None:
            gauges["gasleak_mqtt_connected"] = (
                "1 while the MQTT link is up",
                int(s.mqtt.connected),
            )
        for gauge, (text, level) in gauges.items():
            yield GaugeMetricFamily(gauge, text, value=level)


_MQTT_DOCS = {
    "messages": "MQTT messages received on the readings topics",
    "bad_messages": "MQTT messages with a refused reading or not readings at all",
    "duplicates": "MQTT readings dropped as QoS 1 redeliveries",
    "alerts_published": "Alert events published to the alerts topics",
    "errors_published": "Error replies published to the errors topics",
    "errors_dropped": "Error replies dropped while the broker was slow or away",
    "connects": "Successful MQTT connections",
}


def _mqtt_counters(counts: dict[str, int]) -> dict[str, tuple[str, int]]:
    return {f"gasleak_mqtt_{k}": (doc, counts[k]) for k, doc in _MQTT_DOCS.items()}


def _subscriber_queues(s: AppState) -> dict[str, tuple[str, float]]:
    subs = list(getattr(s.hub, "_subs", ()))
    depths = [sub.queue.qsize() for sub in subs]
    return {
        "gasleak_subscriber_queue_depth_max": (
            "Events queued for the slowest alert subscriber",
            max(depths, default=0),
        ),
        "gasleak_subscriber_queue_depth_total": (
            "Events queued for all alert subscribers",
            sum(depths),
        ),
        "gasleak_subscribers_catching_up": (
            "Alert subscribers reading their backlog from the store after a queue overflow",
            sum(1 for sub in subs if sub.catching_up),
        ),
    }


def render_metrics(state: AppState, extra: ServiceMetrics | None = None) -> tuple[bytes, str]:
    """The Prometheus exposition of ``state`` (and of the ``extra`` histograms) and its
    content type."""
    registry = CollectorRegistry()
    registry.register(StateCollector(state))
    body = generate_latest(registry)
    if extra is not None:
        body += generate_latest(extra.registry)
    return body, CONTENT_TYPE_LATEST
