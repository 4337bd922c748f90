"""Wires the scorer's output to the leak policy, the signal models and the event log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from app.alerting.events import EventType
from app.alerting.leak import STILL_ABOVE_READINGS, AlertPolicy
from app.alerting.profiles import Profiles
from app.ml.features import ambient_allowance, trailing
from app.ml.signal import reads_dropout
from app.services.eventlog import EventLog
from app.services.scorer import Scores
from app.services.signals import SignalBank
from app.services.windows import Window, WindowBatch, as_sent


@dataclass
class AlertSink:
    """Receives each scored batch on the event loop, in arrival order."""

    signals: SignalBank
    policy: AlertPolicy
    log: EventLog
    profiles: Profiles | None = None
    #: Cluster mode: ``(device_id, window index)`` -> apply it? Windows of devices this
    #: replica does not own (any more, or not yet) are dropped.
    accepts: Callable[[str, int], bool] | None = None
    #: Cluster mode: the scorer's count of windows handed on before this batch (so window
    #: ``i`` of a batch has index ``position() + i`` in submission order).
    position: Callable[[], int] | None = None

    async def __call__(self, windows: WindowBatch | Sequence[Window], scores: Scores) -> None:
        """Record each score, run the policy (a window with evidence keeps an open leak
        episode from clearing), hold each device's signal level while its episode is open,
        and publish the batch's events with the changed policy states in one store
        transaction (durable before anyone sees them).

        The gas concentration given to the policy is the window's last reading (column 0);
        whether an open alert's gas still stands far above its raise level is judged on the
        median of the window's last :data:`~app.alerting.leak.STILL_ABOVE_READINGS` readings,
        which is also the level an open alert's re-alarm on worsening compares. A window
        whose recent readings are a sensor dropout (:func:`~app.ml.signal.reads_dropout`,
        0 ppm under a leak) never counts as clear: it says nothing of the gas.
        Devices switched off in their profile raise no leak alert. A high window whose own
        last reading is under the evidence gate (:func:`~app.ml.features.trailing`) does not
        lengthen its run's span.
        """
        events = []
        base = 0 if self.position is None else self.position()
        batch = windows if isinstance(windows, WindowBatch) else WindowBatch.of(windows)
        probs, evidence = scores.probability.tolist(), scores.evidence.tolist()
        for i, d in enumerate(batch.device_ids):
            if self.accepts is not None and not self.accepts(d, base + i):
                continue
            p = probs[i]
            self.signals.set_probability(d, p)  # a slot column, not a dict
            if self.profiles is not None and not self.profiles.enabled(d):
                continue
            if self.policy.quiet(d, p):  # most windows: nothing to update, no alert open
                self.signals.hold(d, False)
                continue
            values = batch.values[i]
            median = float(np.median(values[-STILL_ABOVE_READINGS:, 0]))
            recent = as_sent(median)
            sig = batch.signal[i]
            last = values[-1]
            cfg = self.signals.cfg
            explained = ambient_allowance(
                float(last[1]), float(last[2]), float(sig[2]), float(sig[3]), cfg
            )
            # a high window held up only by the running median does not lengthen its run
            edge = p >= self.policy.config.raise_p and bool(
                trailing(values[None], sig[None], cfg)[0]
            )
            event = self.policy.update(
                d,
                p,
                float(batch.ts[i]),
                gas_ppm=as_sent(last[0]),
                elevated=evidence[i]
                or self._above_base(d, recent, explained)
                or reads_dropout(median, float(sig[0]), float(sig[1]), self.signals.cfg),
                level=float(sig[0]),
                scale=float(sig[1]),
                gas_level=recent,
                explained=explained,
                pace=self.signals.pace(d),
                trailing=edge,
                interval=self.signals.interval(d),
            )
            if event is not None:
                events.append(event)
            self.signals.hold(d, self.policy.open_alert(d) is not None)
            if event is not None and event.type == EventType.RESOLVED:
                self.signals.rebase(d, recent)  # the held level catches up with clean air
        if events or self.policy.dirty:
            await self.log.publish(events)

    def _above_base(self, device_id: str, gas: float, explained: float) -> bool:
        """The device's open leak alert was raised at a level the gas still stands far above
        (:meth:`DeviceAlertState.still_above`), after what the temperature and humidity
        change explains (``explained``, log ratio, at the window's last reading). The gate
        itself compares with the signal model's current level, which a restart mid-leak
        (service restart, data gap) relearns from the leak."""
        st = self.policy.open_alert(device_id)
        if st is None:
            return False
        cfg = self.signals.cfg
        return st.still_above(gas, cfg.z_hold, cfg.min_log_ratio, explained)
