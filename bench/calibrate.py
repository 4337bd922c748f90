"""How many leaky readings the shipped model and alert policy need before ``alert.raised``.

The latency figure measures the pipeline (send -> alert frame) for the reading that raises
the alert, not the model's detection delay; knowing that delay lets the load generator start
each leak early enough that its alert falls inside the measured interval.
"""

from __future__ import annotations

import json

import numpy as np

from bench.load import Fleet


def readings_to_raise(
    predictor: object, settings: object, *, rate: float, max_readings: int = 600
) -> int | None:
    """Leaky readings (after a clean window) until the policy raises; None if it never does.

    Uses the load generator's own encoding for a leaky device, the service's buffers,
    the given predictor and the policy thresholds of ``settings``.
    """
    from app.alerting.leak import AlertPolicy, PolicyConfig
    from app.ml.signal import SignalConfig
    from app.services.buffers import DeviceBuffers
    from app.services.scorer import score_windows
    from app.services.signals import SignalBank

    w = predictor.window  # type: ignore[attr-defined]
    cfg: SignalConfig = predictor.signal_cfg  # type: ignore[attr-defined]
    fleet = Fleet(1, rate, 1.7e9, {0: (cfg.warmup + 5) / rate})
    rows = [
        json.loads(fleet.encode(0, fleet.ts_of(0, k))) for k in range(cfg.warmup + 5 + max_readings)
    ]
    buf = DeviceBuffers(window=w, max_devices=1, signals=SignalBank(cfg))
    stored = buf.store(
        ["x"] * len(rows),
        np.array([r["ts"] for r in rows]),
        np.array([[r["gas_ppm"], r["temperature_c"], r["humidity_pct"]] for r in rows]),
    )
    assert stored.windows is not None
    scores = score_windows(predictor, stored.windows)  # type: ignore[arg-type]
    s = settings
    policy = AlertPolicy(
        PolicyConfig(
            s.alert_raise_probability,
            s.alert_raise_windows,  # type: ignore[attr-defined]
            s.alert_clear_probability,
            s.alert_clear_windows,  # type: ignore[attr-defined]
            s.alert_critical_probability,
        ),
        model_type="x",
    )  # type: ignore[attr-defined]
    onset_ts = fleet.t0 + fleet.leak_onset[0]
    for wdw, p, e in zip(
        stored.windows, scores.probability.tolist(), scores.evidence.tolist(), strict=True
    ):
        ev = policy.update("x", p, wdw.ts, elevated=e)
        if ev is not None and ev.type == "alert.raised":
            if wdw.ts < onset_ts:
                return None  # raised on clean air: no honest latency target
            return int(round((wdw.ts - onset_ts) * rate)) + 1
    return None
