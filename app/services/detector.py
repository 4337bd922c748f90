"""Wires the scorer's output to the alert policy, the buffers and the hub."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.services.buffers import DeviceBuffers, Window
from app.services.hub import AlertHub
from app.services.policy import AlertPolicy


@dataclass
class AlertSink:
    """Receives each scored batch on the event loop, in arrival order."""

    buffers: DeviceBuffers
    policy: AlertPolicy
    hub: AlertHub

    async def __call__(self, windows: Sequence[Window], probs: np.ndarray) -> None:
        """Record each probability, run the policy, and publish the batch's events with the
        changed policy states in one store transaction (durable before anyone sees them).

        The gas concentration given to the policy is the window's last reading (column 0),
        in ppm.
        """
        events = []
        for w, p in zip(windows, probs.tolist(), strict=True):
            self.buffers.set_probability(w.device_id, p)
            event = self.policy.update(w.device_id, p, w.ts, gas_ppm=float(w.values[-1, 0]))
            if event is not None:
                events.append(event)
        if events or self.policy.dirty:
            await self.hub.publish(events, states=self.policy.take_dirty)
