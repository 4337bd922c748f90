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
from app.ml.predictor import NoModel, Predictor, load_predictor
from app.services.alerts import AlertService
from app.ml.signal import SignalConfig
from app.services.buffers import DeviceBuffers
from app.services.signals import SignalBank
from app.services.detector import AlertSink
from app.services.history import ReadingsRecorder
from app.services.hub import AlertHub
from app.services.ingest import Ingestor
from app.services.policy import AlertPolicy, PolicyConfig
from app.services.safety import SafetyConfig, SafetyRules
from app.services.scorer import BatchScorer, InlineScorer
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
    scorer: BatchScorer | InlineScorer
    ingestor: Ingestor
    safety: SafetyRules
    store: Store
    alerts: AlertService
    recorder: ReadingsRecorder
    webhooks: WebhookDispatcher
    sink: AlertSink
    started_at: float = field(default_factory=time.time)
    evicted_total: int = 0

    def active_alerts(self) -> int:
        """Active alerts of every kind: leak (the policy) and threshold/sensor_fault (safety)."""
        return len(self.policy.active()) + self.safety.count_active()

    def evict_idle(self) -> int:
        """Evict devices idle longer than the setting, keeping those with an active alert
        (leak or safety: a silent device's fault must still resolve when it comes back)."""
        gone = self.buffers.evict_idle(
            idle_s=self.settings.device_idle_s,
            keep=set(self.policy.active()) | self.safety.with_active(),
        )
        self.policy.forget(gone)
        self.sink.forget(gone)
        self.safety.forget(gone)
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
    predictor: Predictor = NoModel()
    if settings.model_enabled:
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
    window = model_window(settings, predictor)
    signals = SignalBank(predictor.signal_cfg if settings.model_enabled
                         else SignalConfig(warmup=max(window, SignalConfig.warmup)))
    buffers = DeviceBuffers(window=window, max_devices=settings.max_devices,
                            stride=settings.stride, signals=signals)
    policy = _policy(settings, predictor.model_type)
    policy.restore(await store.policy_states())
    hub = AlertHub(store=store, queue_max=settings.subscriber_queue_max,
                   replay_page=settings.replay_page, webhook_urls=settings.webhook_urls)
    await hub.start()
    webhooks = _webhooks(settings, store)
    hub.listeners.append(webhooks.notify)
    recorder = ReadingsRecorder(store, queue_max=settings.readings_queue_max,
                                retention_s=settings.readings_retention_s)
    sink = AlertSink(signals, policy, hub)
    scorer: BatchScorer | InlineScorer
    if settings.scoring_mode == "inline":  # the naive design, for the benchmark
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
    safety = SafetyRules(safety_config(settings))
    for a in await store.open_alerts(exclude_kind="leak"):
        safety.restore_active(a["device_id"], a["kind"], a["severity"], a["reason"],
                              a["alert_id"])
    ingestor = Ingestor(buffers=buffers, scorer=scorer, max_items=settings.max_batch_readings,
                        safety=safety, publish=hub.publish_one, score=settings.model_enabled,
                        record=recorder.record if settings.readings_history else None)
    alerts = AlertService(store=store, hub=hub, policy=policy)
    state = AppState(settings, predictor, buffers, policy, hub, scorer, ingestor, safety, store,
                     alerts, recorder, webhooks, sink)
    webhooks.start()
    recorder.start()
    scorer.start()
    evictor = asyncio.create_task(_evict_forever(state), name="evictor")
    silence = asyncio.create_task(_silence_forever(state), name="silence-sweep")
    try:
        yield state
    finally:
        silence.cancel()
        evictor.cancel()
        await scorer.stop()
        await recorder.stop()
        await webhooks.stop()
        executor.shutdown(wait=True)


class ModelMismatch(ValueError):
    """A setting disagrees with the loaded model (start-up refuses to go on)."""


def model_window(settings: Settings, predictor: Predictor) -> int:
    """The window length: the model's (from its manifest); ``GASLEAK_WINDOW`` may only
    repeat it. Without a model, the setting (default 60).

    Raises:
        ModelMismatch: ``GASLEAK_WINDOW`` differs from the loaded model's window.
    """
    if not settings.model_enabled:
        return settings.window or 60
    if settings.window is not None and settings.window != predictor.window:
        raise ModelMismatch(
            f"GASLEAK_WINDOW={settings.window} but the loaded model ({predictor.model_type}, "
            f"{settings.artifacts_dir}) was trained on windows of {predictor.window} readings; "
            f"unset GASLEAK_WINDOW or set it to {predictor.window}, or train a model with "
            "that window")
    return predictor.window


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
        bodies = state.safety.silent_devices(time.monotonic())
        if bodies:
            await state.hub.publish(bodies)


async def _evict_forever(state: AppState) -> None:
    period = min(60.0, state.settings.device_idle_s / 2)
    while True:
        await asyncio.sleep(period)
        n = state.evict_idle()
        await state.hub.publish([], states=state.policy.take_dirty)  # persist the forgetting
        if n:
            log.info("evicted %d idle devices", n)
