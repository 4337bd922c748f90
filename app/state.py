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
from app.ml.predictor import Predictor, load_predictor
from app.services.alerts import AlertService
from app.services.buffers import DeviceBuffers
from app.services.detector import AlertSink
from app.services.history import ReadingsRecorder
from app.services.hub import AlertHub
from app.services.ingest import Ingestor
from app.services.policy import AlertPolicy, PolicyConfig
from app.services.scorer import BatchScorer
from app.services.webhooks import RetryPolicy, WebhookDispatcher
from app.store import Store

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
    store: Store
    alerts: AlertService
    recorder: ReadingsRecorder
    webhooks: WebhookDispatcher
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


def _policy(settings: Settings, model_type: str) -> AlertPolicy:
    return AlertPolicy(
        PolicyConfig(
            raise_p=settings.alert_raise_probability,
            raise_n=settings.alert_raise_windows,
            clear_p=settings.alert_clear_probability,
            clear_n=settings.alert_clear_windows,
            critical_p=settings.alert_critical_probability,
            critical_gas_ppm=settings.alert_critical_gas_ppm,
            escalate_after_s=settings.alert_escalate_after_s,
        ),
        model_type=model_type,
    )


def _webhooks(settings: Settings, store: Store) -> WebhookDispatcher:
    return WebhookDispatcher(
        store, settings.webhook_urls,
        secret=settings.webhook_secret.get_secret_value().encode(),
        timeout_s=settings.webhook_timeout_s,
        retry=RetryPolicy(base_s=settings.webhook_backoff_base_s,
                          max_s=settings.webhook_backoff_max_s,
                          expire_s=settings.webhook_expire_s),
    )


@contextlib.asynccontextmanager
async def build_state(settings: Settings) -> AsyncIterator[AppState]:
    """Migrate the store, load the model, restore policy state, start the workers; on exit
    score what is queued, flush, and stop in reverse order.

    Raises:
        app.ml.artifacts.ArtifactError: the model files are missing or corrupt.
        sqlalchemy.exc.SQLAlchemyError: the store cannot be opened or migrated.
    """
    store = Store(settings.db_url)
    try:
        await store.migrate()
        async with _running(settings, store) as state:
            yield state
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _running(settings: Settings, store: Store) -> AsyncIterator[AppState]:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference",
                                  initializer=_init_torch_threads,
                                  initargs=(settings.torch_threads,))
    loop = asyncio.get_running_loop()
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
    policy = _policy(settings, predictor.model_type)
    policy.restore(await store.policy_states())
    hub = AlertHub(store=store, queue_max=settings.subscriber_queue_max,
                   replay_page=settings.replay_page, webhook_urls=settings.webhook_urls)
    await hub.start()
    webhooks = _webhooks(settings, store)
    hub.listeners.append(webhooks.notify)
    recorder = ReadingsRecorder(store, queue_max=settings.readings_queue_max,
                                retention_s=settings.readings_retention_s)
    scorer = BatchScorer(
        predictor,
        executor=executor,
        sink=AlertSink(buffers, policy, hub),
        max_batch=settings.batch_max_size,
        max_delay_s=settings.batch_max_delay_ms / 1000,
        queue_max=settings.score_queue_max,
    )
    ingestor = Ingestor(buffers=buffers, scorer=scorer, max_items=settings.max_batch_readings,
                        record=recorder.record if settings.readings_history else None)
    alerts = AlertService(store=store, hub=hub, policy=policy)
    state = AppState(settings, predictor, buffers, policy, hub, scorer, ingestor, store, alerts,
                     recorder, webhooks)
    webhooks.start()
    recorder.start()
    scorer.start()
    evictor = asyncio.create_task(_evict_forever(state), name="evictor")
    try:
        yield state
    finally:
        evictor.cancel()
        await scorer.stop()
        await recorder.stop()
        await webhooks.stop()
        executor.shutdown(wait=True)


async def _evict_forever(state: AppState) -> None:
    period = min(60.0, state.settings.device_idle_s / 2)
    while True:
        await asyncio.sleep(period)
        n = state.evict_idle()
        await state.hub.publish([], states=state.policy.take_dirty)  # persist the forgetting
        if n:
            log.info("evicted %d idle devices", n)
