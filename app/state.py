"""The long-lived objects of one running service, built and torn down by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app.config import Settings
from app.ml.predictor import NoModel, Predictor, load_predictor
from app.services.buffers import DeviceBuffers
from app.services.detector import AlertSink
from app.services.hub import AlertHub
from app.services.ingest import Ingestor
from app.services.policy import AlertPolicy, PolicyConfig
from app.services.safety import SafetyConfig, SafetyRules
from app.services.scorer import BatchScorer

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Everything a request handler may reach, through :mod:`app.deps`."""

    settings: Settings
    predictor: Predictor
    buffers: DeviceBuffers
    policy: AlertPolicy
    hub: AlertHub
    scorer: BatchScorer
    ingestor: Ingestor
    safety: SafetyRules
    started_at: float = field(default_factory=time.time)
    evicted_total: int = 0

    def evict_idle(self) -> int:
        """Evict devices idle longer than the setting, keeping those with an active alert
        (leak or safety: a silent device's fault must still resolve when it comes back)."""
        gone = self.buffers.evict_idle(
            idle_s=self.settings.device_idle_s,
            keep=set(self.policy.active()) | self.safety.with_active(),
        )
        self.policy.forget(gone)
        self.safety.forget(gone)
        self.evicted_total += len(gone)
        return len(gone)


def _init_torch_threads(n: int) -> None:
    if n > 0:
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(n)


@contextlib.asynccontextmanager
async def build_state(settings: Settings) -> AsyncIterator[AppState]:
    """Load the model and start the scorer; on exit score what is queued and stop.

    Raises:
        app.ml.artifacts.ArtifactError: the model files are missing or corrupt.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference",
                                  initializer=_init_torch_threads,
                                  initargs=(settings.torch_threads,))
    loop = asyncio.get_running_loop()
    predictor: Predictor = NoModel()
    if settings.model_enabled:
        predictor = await loop.run_in_executor(
            executor,
            lambda: load_predictor(
                settings.artifacts_dir, device=settings.device, use_torch=settings.use_torch
            ),
        )
    log.info("model loaded: %s on %s", predictor.model_type, predictor.device)
    buffers = DeviceBuffers(
        window=settings.window, max_devices=settings.max_devices, stride=settings.stride
    )
    policy = AlertPolicy(
        PolicyConfig(
            raise_p=settings.alert_raise_probability,
            raise_n=settings.alert_raise_windows,
            clear_p=settings.alert_clear_probability,
            clear_n=settings.alert_clear_windows,
            critical_p=settings.alert_critical_probability,
        ),
        model_type=predictor.model_type,
    )
    hub = AlertHub(queue_max=settings.subscriber_queue_max, recent_max=settings.recent_events_max)
    scorer = BatchScorer(
        predictor,
        executor=executor,
        sink=AlertSink(buffers, policy, hub),
        max_batch=settings.batch_max_size,
        max_delay_s=settings.batch_max_delay_ms / 1000,
        queue_max=settings.score_queue_max,
    )
    safety = SafetyRules(safety_config(settings))
    ingestor = Ingestor(buffers=buffers, scorer=scorer, max_items=settings.max_batch_readings,
                        safety=safety, publish=hub.publish, score=settings.model_enabled)
    state = AppState(settings, predictor, buffers, policy, hub, scorer, ingestor, safety)
    scorer.start()
    evictor = asyncio.create_task(_evict_forever(state), name="evictor")
    silence = asyncio.create_task(_silence_forever(state), name="silence-sweep")
    try:
        yield state
    finally:
        silence.cancel()
        evictor.cancel()
        await scorer.stop()
        executor.shutdown(wait=True)


def safety_config(s: Settings) -> SafetyConfig:
    """The safety rules' parameters from the settings."""
    return SafetyConfig(
        low_ppm=s.threshold_low_ppm, high_ppm=s.threshold_high_ppm,
        hysteresis=s.threshold_hysteresis, clear_readings=s.safety_clear_readings,
        stuck_readings=s.stuck_readings,
        max_rate_per_s=(s.max_gas_rate_ppm_s, s.max_temp_rate_c_s, s.max_rh_rate_pct_s),
        range_min=(s.gas_range_ppm[0], s.temp_range_c[0], 0.0),
        range_max=(s.gas_range_ppm[1], s.temp_range_c[1], 100.0), silent_s=s.silent_s,
    )  # fmt: skip


async def _silence_forever(state: AppState) -> None:
    """Every min(30 s, silent_s / 4): publish a sensor_fault for each newly silent device."""
    period = min(30.0, state.settings.silent_s / 4)
    while True:
        await asyncio.sleep(period)
        for body in state.safety.silent_devices(time.monotonic()):
            res = state.hub.publish(body)
            if asyncio.iscoroutine(res):
                await res


async def _evict_forever(state: AppState) -> None:
    period = min(60.0, state.settings.device_idle_s / 2)
    while True:
        await asyncio.sleep(period)
        n = state.evict_idle()
        if n:
            log.info("evicted %d idle devices", n)
