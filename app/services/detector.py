"""Wires the scorer's output to the leak policy, the buffers and the event log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.alerting.leak import AlertPolicy
from app.alerting.profiles import Profiles
from app.services.buffers import DeviceBuffers, Window
from app.services.eventlog import EventLog


@dataclass
class AlertSink:
    """Receives each scored batch on the event loop, in arrival order."""

    buffers: DeviceBuffers
    policy: AlertPolicy
    log: EventLog
    profiles: Profiles | None = None

    async def __call__(self, windows: Sequence[Window], probs: np.ndarray) -> None:
        """Record each probability, run the policy, and publish the batch's events with the
        changed policy states in one store transaction (durable before anyone sees them).

        The gas concentration given to the policy is the window's last reading (column 0),
        in ppm. Devices switched off in their profile raise no leak alert.
        """
        events = []
        for w, p in zip(windows, probs.tolist(), strict=True):
            self.buffers.set_probability(w.device_id, p)
            if self.profiles is not None and not self.profiles.enabled(w.device_id):
                continue
            event = self.policy.update(w.device_id, p, w.ts, gas_ppm=float(w.values[-1, 0]))
            if event is not None:
                events.append(event)
        if events or self.policy.dirty:
            await self.log.publish(events)
