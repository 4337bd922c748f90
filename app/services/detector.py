"""Wires the scorer's output to the alert policy, the signal models and the hub."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.services.hub import AlertHub
from app.services.policy import AlertPolicy
from app.services.scorer import Scores
from app.services.signals import SignalBank
from app.services.windows import Window


@dataclass
class AlertSink:
    """Receives each scored batch on the event loop, in arrival order."""

    signals: SignalBank
    policy: AlertPolicy
    hub: AlertHub
    last_probability: dict[str, float] = field(default_factory=dict)

    async def __call__(self, windows: Sequence[Window], scores: Scores) -> None:
        """Record each score, run the policy (a window with evidence keeps an open leak
        episode from clearing), hold each device's signal level while its episode is open,
        and publish the batch's events with the changed policy states in one store
        transaction (durable before anyone sees them).

        The gas concentration given to the policy is the window's last reading (column 0).
        """
        events = []
        for w, p, ev in zip(windows, scores.probability.tolist(), scores.evidence.tolist(),
                            strict=True):
            self.last_probability[w.device_id] = p
            event = self.policy.update(w.device_id, p, w.ts, gas_ppm=float(w.values[-1, 0]),
                                       elevated=ev)
            if event is not None:
                events.append(event)
            st = self.policy.states.get(w.device_id)
            self.signals.hold(w.device_id, st is not None and st.alert_id is not None)
        if events or self.policy.dirty:
            await self.hub.publish(events, states=self.policy.take_dirty)

    def forget(self, device_ids: Sequence[str]) -> None:
        """Drop evicted devices' last scores."""
        for d in device_ids:
            self.last_probability.pop(d, None)
