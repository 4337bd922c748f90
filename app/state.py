"""The long-lived objects of one running service, built and torn down by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app.config import Settings
from app.ml.accel import accelerate
from app.ml.predictor import Predictor, load_predictor
from app.services.buffers import DeviceBuffers
from app.services.detector import AlertSink
from app.services.hub import AlertHub
from app.services.ingest import Ingestor
from app.services.policy import AlertPolicy, PolicyConfig
from app.services.scorer import BatchScorer, InlineScorer

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Everything a request handler may reach, through :mod:`app.deps`."""

    settings: Settings
    predictor: Predictor
    buffers: DeviceBuffers
    policy: AlertPolicy
    hub: AlertHub
    scorer: BatchScorer | InlineScorer
    ingestor: Ingestor
    started_at: float = field(default_factory=time.time)
    evicted_total: int = 0

    def evict_idle(self) -> int:
        """Evict devices idle longer than the setting, keeping those with an active alert."""
        gone = self.buffers.evict_idle(
            idle_s=self.settings.device_idle_s, keep=set(self.policy.active())
        )
        self.policy.forget(gone)
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
    predictor = await loop.run_in_executor(
        executor,
        lambda: accelerate(
            load_predictor(
                settings.artifacts_dir, device=settings.device, use_torch=settings.use_torch
            ),
            settings.accel,
            svm=settings.svm_backend,
            threads=settings.torch_threads or (os.cpu_count() or 1),
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
    sink = AlertSink(buffers, policy, hub)
    scorer: BatchScorer | InlineScorer
    if settings.scoring_mode == "inline":
        scorer = InlineScorer(predictor, executor=executor, sink=sink)
    else:
        scorer = BatchScorer(
            predictor,
            executor=executor,
            sink=sink,
            max_batch=settings.batch_max_size,
            max_delay_s=settings.batch_max_delay_ms / 1000,
            queue_max=settings.score_queue_max,
        )
    ingestor = Ingestor(buffers=buffers, scorer=scorer, max_items=settings.max_batch_readings)
    state = AppState(settings, predictor, buffers, policy, hub, scorer, ingestor)
    scorer.start()
    evictor = asyncio.create_task(_evict_forever(state), name="evictor")
    try:
        yield state
    finally:
        evictor.cancel()
        await scorer.stop()
        executor.shutdown(wait=True)


async def _evict_forever(state: AppState) -> None:
    period = min(60.0, state.settings.device_idle_s / 2)
    while True:
        await asyncio.sleep(period)
        n = state.evict_idle()
        if n:
            log.info("evicted %d idle devices", n)
