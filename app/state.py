"""The long-lived objects of one running service, built and torn down by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.alerting.configure import policy_config, safety_config
from app.alerting.leak import AlertPolicy
from app.alerting.profiles import Profiles
from app.alerting.safety import SafetyRules
from app.alerting.silences import Silences
from app.alerting.view import DeviceAlertView
from app.config import Settings
from app.ml.accel import accelerate
from app.ml.predictor import NoModel, Predictor, load_predictor
from app.ml.signal import SignalConfig
from app.services.admission import Admission
from app.services.alerts import AlertService
from app.services.audit import AuditLog
from app.services.buffers import DeviceBuffers
from app.services.detector import AlertSink
from app.services.devices import DeviceService
from app.services.eventlog import EventLog
from app.services.history import ReadingsRecorder
from app.services.hub import EventFilter, Hub
from app.services.ingest import Ingestor
from app.services.keys import KeyService
from app.services.mqtt import AlertOutbox, Broker, MqttIngress
from app.services.quota import DeviceQuota
from app.services.ratelimit import RateLimiter
from app.services.registry import Registry
from app.services.safety import SafetyService
from app.services.scorer import BatchScorer, InlineScorer
from app.services.signals import SignalBank
from app.services.silences import SilenceService
from app.services.snapshots import Snapshots
from app.services.tickets import TicketBook
from app.services.webhooks import RetryPolicy, WebhookDispatcher
from app.store import Store

if TYPE_CHECKING:
    from app.cluster.node import ClusterNode

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Everything a request handler may reach, through :mod:`app.deps`."""

    settings: Settings
    predictor: Predictor
    buffers: DeviceBuffers
    policy: AlertPolicy
    rules: SafetyRules
    view: DeviceAlertView
    hub: Hub
    log: EventLog
    scorer: BatchScorer | InlineScorer
    ingestor: Ingestor
    safety: SafetyService
    store: Store
    alerts: AlertService
    devices: DeviceService
    silences: SilenceService
    recorder: ReadingsRecorder
    webhooks: WebhookDispatcher
    sink: AlertSink
    keys: KeyService
    audit: AuditLog
    tickets: TicketBook
    admission: Admission
    mqtt: MqttIngress | None = None
    #: Device snapshots (single node with ``snapshot_interval_s`` > 0), else None.
    snapshots: Snapshots | None = None
    started_at: float = field(default_factory=time.time)
    evicted_total: int = 0
    cluster: ClusterNode | None = None  # cluster mode only (app/cluster)

    def active_alerts(self) -> int:
        """Open alerts of every kind (the per-device view's count)."""
        return self.view.count()

    def evict_idle(self) -> int:
        """Evict devices idle longer than the setting, keeping those with an open alert of
        any kind (a silent device's fault must still resolve when it comes back)."""
        gone = self.buffers.evict_idle(idle_s=self.settings.device_idle_s, keep=self.view.devices())
        self.policy.forget(gone)
        self.rules.forget(gone)
        self.evicted_total += len(gone)
        return len(gone)


def _init_torch_threads(n: int) -> None:
    if n > 0:
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(n)


def _webhooks(settings: Settings, store: Store) -> WebhookDispatcher:
    return WebhookDispatcher(
        store,
        settings.webhook_urls,
        secret=settings.webhook_secret.get_secret_value().encode(),
        timeout_s=settings.webhook_timeout_s,
        allowed_hosts=settings.webhook_allowed_hosts,
        retry=RetryPolicy(
            base_s=settings.webhook_backoff_base_s,
            max_s=settings.webhook_backoff_max_s,
            expire_s=settings.webhook_expire_s,
        ),
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
    executor = ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix="inference",
        initializer=_init_torch_threads,
        initargs=(settings.torch_threads,),
    )
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
    signals = SignalBank(
        predictor.signal_cfg
        if settings.model_enabled
        else SignalConfig(warmup=max(window, SignalConfig().warmup))
    )
    buffers = DeviceBuffers(
        window=window,
        max_devices=settings.max_devices,
        stride=settings.stride,
        signals=signals,
        stale_s=settings.readings_retention_s,  # older stamps: a reset clock (CLOCK_STALE_S)
    )
    state = await _alerting(settings, store, predictor, buffers, executor)
    if state.snapshots is not None:
        await state.snapshots.restore()
    await state.alerts.close_disabled()  # disabled before disabling closed its alerts
    webhooks = state.webhooks
    recorder = state.recorder
    scorer = state.scorer
    if not settings.cluster_nats_url:  # cluster mode: the owner of partition 0 sends them
        webhooks.start()
    recorder.start()
    scorer.start()
    state.admission.start()
    # What is loaded by now (torch, the model, scikit-learn, pydantic's schemas: ~390,000
    # objects tracked by the collector) lives as long as the service. Frozen (Python docs,
    # gc.freeze), it is left out of every later collection: a full (generation 2) collection
    # then scans what the service allocated since, not the libraries. Before, one took
    # ~340 ms on the event loop; after, 16-45 ms in the paced bench (README Performance).
    gc.collect()
    gc.freeze()
    try:
        async with _clustered(settings, state), _workers(settings, state):
            yield state
    finally:
        gc.unfreeze()  # several apps in one process (tests): each start freezes again
        await state.admission.stop()
        await scorer.stop()
        await state.log.flush_states()
        await recorder.stop()
        if state.snapshots is not None:
            try:
                await state.snapshots.save()
            except Exception:  # the rest of the shutdown still runs; the next start warms up
                log.exception("device snapshot at shutdown failed")
        await webhooks.stop()
        executor.shutdown(wait=True)


@contextlib.asynccontextmanager
async def _workers(settings: Settings, state: AppState) -> AsyncIterator[None]:
    state.mqtt = _mqtt(settings, state)  # after _clustered: readings forward in cluster mode
    if state.mqtt is not None:
        state.mqtt.start()
    tasks = [
        asyncio.create_task(_checkpoint_forever(state.store), name="wal-checkpoint"),
        asyncio.create_task(_evict_forever(state), name="evictor"),
        asyncio.create_task(_silent_forever(state), name="silent-sweep"),
        asyncio.create_task(_pending_forever(state), name="pending-sweep"),
        asyncio.create_task(_unsilence_forever(state), name="silence-end-sweep"),
    ]
    if state.snapshots is not None:
        tasks.append(
            asyncio.create_task(state.snapshots.run(settings.snapshot_interval_s), name="snapshots")
        )
    if settings.reminder_interval_s is not None:
        tasks.append(
            asyncio.create_task(
                _remind_forever(state, settings.reminder_interval_s), name="reminders"
            )
        )
    try:
        yield
    finally:
        if state.mqtt is not None:
            await state.mqtt.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # none left mid-query


@contextlib.asynccontextmanager
async def _clustered(settings: Settings, state: AppState) -> AsyncIterator[None]:
    """Cluster mode (``cluster_nats_url`` set): ingress publishes to the stream, this
    replica owns partitions by lease, its hub follows the shared event log. Otherwise
    nothing. On exit the partitions are handed back (flushed), then the workers stop."""
    if not settings.cluster_nats_url:
        yield
        return
    from app.cluster.bus import Bus
    from app.cluster.follower import EventFollower
    from app.cluster.node import ClusterNode, default_replica_id

    bus = Bus(
        settings.cluster_nats_url,
        partitions=settings.cluster_partitions,
        lease_ttl_s=settings.cluster_lease_ttl_s,
        stream_max_age_s=settings.cluster_stream_max_age_s,
    )
    await bus.connect()
    follower = EventFollower(state.store, state.hub)
    follower.listeners.append(state.webhooks.notify)

    def committed(events: list[dict[str, Any]]) -> None:
        follower.wake()
        bus.notify_events(events)

    state.log.on_commit = committed
    await bus.on_events(follower.wake)
    follower.start()
    node = ClusterNode(
        state,
        bus,
        replica_id=settings.cluster_replica_id or default_replica_id(),
        lease_ttl_s=settings.cluster_lease_ttl_s,
        replay_s=settings.cluster_replay_s,
    )
    state.cluster = node
    state.sink.accepts = node.accepts
    scorer = state.scorer
    state.sink.position = lambda: scorer.sunk_total
    state.alerts.owns = node.owns
    state.log.fence = node.may_write
    state.alerts.forward_ack = node.forward_ack
    # silences and profiles: stored by whichever replica got the request, reloaded by all
    state.silences.on_change = lambda: bus.broadcast("silences")
    state.safety.registry.on_change = lambda: bus.broadcast("profiles")
    await bus.on_changed("silences", state.silences.load)

    async def profiles_changed() -> None:
        await state.safety.registry.load()
        await state.alerts.close_disabled()  # a device of ours disabled on another replica

    await bus.on_changed("profiles", profiles_changed)
    state.ingestor.forward = bus.forward
    await node.start()
    log.info("cluster replica %s joined %s", node.replica_id, settings.cluster_nats_url)
    try:
        yield
    finally:
        await node.stop()
        await follower.stop()
        await bus.close()


def _mqtt(settings: Settings, state: AppState) -> MqttIngress | None:
    """The MQTT ingress when ``GASLEAK_MQTT_URL`` names a broker; its outbox listens to the
    event log from now on (events stored before start-up are not re-published)."""
    if settings.mqtt_url is None:
        return None
    broker = Broker.parse(
        settings.mqtt_url, settings.mqtt_username, settings.mqtt_password.get_secret_value()
    )
    store = state.store

    async def read(after: int) -> list[dict[str, Any]]:
        return await store.events_after(after, include_silenced=False, limit=500)

    outbox = AlertOutbox(read, cursor=state.log.last_event_id, max_events=settings.mqtt_outbox_max)
    state.log.listeners.append(outbox.notify)
    return MqttIngress(
        broker=broker,
        ingestor=state.ingestor,
        outbox=outbox,
        client_id=settings.mqtt_client_id,
        prefix=settings.mqtt_topic_prefix,
        dedupe=settings.mqtt_dedupe_readings,
        reconnect_max_s=settings.mqtt_reconnect_max_s,
    )


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
            "that window"
        )
    return predictor.window


async def _alerting(
    settings: Settings,
    store: Store,
    predictor: Predictor,
    buffers: DeviceBuffers,
    executor: ThreadPoolExecutor,
) -> AppState:
    """Build the alerting half and restore it from the store: registered devices, leak
    policy states, safety episodes, silences; every registered device or device with an open
    alert is watched for silence from now."""
    now = time.monotonic()
    profiles = Profiles(
        low_ppm=settings.threshold_low_ppm,
        high_ppm=settings.threshold_high_ppm,
        index=buffers.index,
    )
    registry = Registry(store=store, profiles=profiles)
    known = await registry.load()
    policy = AlertPolicy(policy_config(settings), predictor.model_type, units=profiles)
    rules = SafetyRules(
        safety_config(settings),
        profiles=profiles,
        index=buffers.index,
        intervals=buffers.signals.states.expected_intervals,
    )
    # cluster mode: each partition's states are restored by its owner when it takes it
    clustered = settings.cluster_nats_url is not None
    policy.restore({} if clustered else await store.states("leak"))
    rules.restore({} if clustered else await store.states("safety"), now=now)
    open_rows = [] if clustered else await store.open_alerts()
    for a in open_rows:
        if a["kind"] != "leak":
            rules.restore_open(
                a["device_id"], a["kind"], a["severity"], a["state"], a["alert_id"], now=now
            )
    rules.watch([] if clustered else known + [a["device_id"] for a in open_rows], now=now)
    silences = SilenceService(store=store, silences=Silences())
    await silences.load()

    async def replay(after: int, upto: int, f: EventFilter, limit: int) -> list[dict[str, Any]]:
        return await store.events_after(
            after,
            upto=upto,
            device_ids=f.device_ids,
            kinds=f.kinds,
            min_severity=None if f.min_severity is None else f.min_severity.value,
            include_silenced=f.include_silenced,
            limit=limit,
        )

    hub = Hub(
        queue_max=settings.subscriber_queue_max,
        replay=replay,
        replay_page=settings.replay_page,
        per_key=settings.ws_subscribers_per_key,
        behind_s=settings.subscriber_behind_s,
    )
    event_log = EventLog(
        store=store,
        hub=hub,
        silences=silences.silences,
        states={"leak": policy, "safety": rules},
        webhook_urls=settings.webhook_urls,
    )
    await event_log.start()
    webhooks = _webhooks(settings, store)
    event_log.listeners.append(webhooks.notify)
    recorder = ReadingsRecorder(
        store,
        queue_max=settings.readings_queue_max,
        retention_s=settings.readings_retention_s,
        interval_s=settings.readings_write_interval_s,
    )
    sink = AlertSink(buffers.signals, policy, event_log, profiles)
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
    safety = SafetyService(rules=rules, log=event_log, registry=registry)
    ingestor = Ingestor(
        buffers=buffers,
        scorer=scorer,
        max_items=settings.max_batch_readings,
        safety=safety,
        score=settings.model_enabled,
        record=recorder.record if settings.readings_history else None,
    )
    ingestor.units = profiles.other_units()  # a reading's gas range is its unit's
    buffers.axes = profiles.axes()  # a raw device's zero / polarity: detection's gas axis
    buffers.units = profiles.other_units()  # a %LEL reading under 0 is detected as 0
    if settings.max_devices_per_key is not None:
        ingestor.quota = DeviceQuota(settings.max_devices_per_key, buffers.index)
    admission = Admission(
        scorer=scorer,
        recorder=recorder if settings.readings_history else None,
        score_queue_max=settings.score_queue_max,
        readings_queue_max=settings.readings_queue_max,
        lag_max_s=settings.overload_loop_lag_s,
        wait_max_s=settings.overload_wait_s,
        limiter=RateLimiter(settings.ingest_rate_limit) if settings.ingest_rate_limit else None,
    )
    view = DeviceAlertView(policy, rules)
    alerts = AlertService(
        store=store, log=event_log, policy=policy, rules=rules, silences=silences.silences
    )
    silences.on_end = alerts.announce_unsilenced  # a DELETEd silence: announce at once
    devices = DeviceService(
        buffers=buffers, registry=registry, view=view, scores=buffers.signals.probability
    )
    devices.close_alerts = lambda d, detail, why: alerts.close_device(d, detail=detail, reason=why)
    audit = AuditLog(store.audit)
    bootstrap = settings.bootstrap_admin_key
    keys = KeyService(
        store.keys,
        audit,
        bootstrap=None if bootstrap is None else bootstrap.get_secret_value(),
        cache_s=settings.key_cache_s,
    )
    tickets = TicketBook(
        ttl_s=settings.ws_ticket_ttl_s,
        max_outstanding=settings.ws_tickets_max,
        per_key=settings.ws_tickets_per_key,
    )
    snapshots = (
        Snapshots(store.snapshots, buffers, keep_s=settings.device_idle_s)
        if settings.snapshot_interval_s > 0 and not clustered
        else None
    )
    if snapshots is not None:  # a restarted warm-up is saved at once (a kill keeps it)
        devices.on_restart = snapshots.save_devices
    return AppState(
        settings,
        predictor,
        buffers,
        policy,
        rules,
        view,
        hub,
        event_log,
        scorer,
        ingestor,
        safety,
        store,
        alerts,
        devices,
        silences,
        recorder,
        webhooks,
        sink,
        keys,
        audit,
        tickets,
        admission,
        snapshots=snapshots,
    )


async def _silent_forever(state: AppState) -> None:
    """Every min(30 s, silent_s / 4): raise the silent fault of newly silent devices."""
    period = min(30.0, state.settings.silent_s / 4)
    while True:
        await asyncio.sleep(period)
        try:
            await state.safety.sweep_silent(time.time())
        except Exception:  # a store outage is retried inside; anything else: log, go on
            log.exception("silent-device sweep failed")


async def _pending_forever(state: AppState, period_s: float = 1.0) -> None:
    """Every second: raise the threshold alarm of a low-set-point reading its device left
    unconfirmed for ``confirm_max_s`` (``SafetyService.sweep_pending``; a dict check when
    nothing is pending)."""
    while True:
        await asyncio.sleep(period_s)
        try:
            await state.safety.sweep_pending()
        except Exception:  # a store outage is retried inside; anything else: log, go on
            log.exception("pending set-point sweep failed")


async def _unsilence_forever(state: AppState, period_s: float = 1.0) -> None:
    """Every second: when a silence has ended, announce the alerts it kept quiet
    (``AlertService.sweep_silences``; a memory check unless one has ended)."""
    while True:
        try:
            await state.alerts.sweep_silences()
        except Exception:
            log.exception("silence-end sweep failed")
        await asyncio.sleep(period_s)


async def _remind_forever(state: AppState, interval_s: float) -> None:
    """Every min(60 s, interval / 4): re-notify unacknowledged critical alerts."""
    while True:
        await asyncio.sleep(min(60.0, interval_s / 4))
        try:
            await state.alerts.remind(interval_s)
        except Exception:
            log.exception("reminder sweep failed")


async def _checkpoint_forever(store: Store, period_s: float = 1.0) -> None:
    """Checkpoint the SQLite WAL every second beside the writers (``Store.checkpoint``)."""
    while True:
        await asyncio.sleep(period_s)
        try:
            await store.checkpoint()
        except Exception:  # busy or a disk error: the next round tries again
            log.warning("WAL checkpoint failed", exc_info=True)


async def _evict_forever(state: AppState) -> None:
    period = min(60.0, state.settings.device_idle_s / 2)
    while True:
        await asyncio.sleep(period)
        n = state.evict_idle()
        await state.log.publish([])  # persist the forgetting
        if n:
            log.info("evicted %d idle devices", n)
