"""A %LEL head's leak on a drifted zero, offline through the service's path (signal model,
gate, model, leak policy: :func:`bench.detection_probe.alerts`): a zero-suppressed head at
0.0 %LEL (0.1 %LEL steps) and heads whose zero drifted to -0.1, -0.5 and -1.0 %LEL (0.05 %LEL
noise), clean and with a +3 / +5 / +8 %LEL step at row 600, three seeds each, 1 Hz. Prints
the rows where a leak alert is raised: clean rows should print none.

    python -m bench.lel_zero_probe
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.ml.predictor import load_predictor
from bench.detection_probe import alerts

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    pred = load_predictor(ROOT / "artifacts", use_torch=True)
    n = 1200
    t, h = np.full(n, 20.0), np.full(n, 50.0)
    for zero in (0.0, -0.1, -0.5, -1.0):
        for leak in (0.0, 3.0, 5.0, 8.0):
            for seed in range(3):
                g = zero + np.random.default_rng(seed).normal(0, 0.05, n)
                if zero == 0.0:
                    g = np.maximum(np.round(g, 1), 0.0)  # zero suppression, 0.1 %LEL steps
                g = np.round(g, 2)
                g[600:] += leak
                a = alerts(pred, g, t, h)
                print(f"zero {zero:5.2f} %LEL, +{leak:3.1f} %LEL at row 600, seed {seed}: {a[:4]}")


if __name__ == "__main__":
    main()
