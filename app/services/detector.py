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

    def __call__(self, windows: Sequence[Window], probs: np.ndarray) -> None:
        """Record each probability, run the policy, publish the events it returns."""
        for w, p in zip(windows, probs.tolist(), strict=True):
            self.buffers.set_probability(w.device_id, p)
            event = self.policy.update(w.device_id, p, w.ts)
            if event is not None:
                self.hub.publish(event)
