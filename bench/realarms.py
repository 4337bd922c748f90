"""Leak alerts raised and re-alarmed (``worsened``) on the real clean stretches and the real
events, replayed as the service runs them (``app.training.online_replay.replay``: signal
model, evidence gate, :class:`app.alerting.leak.AlertPolicy` with the service's settings).
Prints one line per stretch or event that raises anything. Needs ``../shared/data``.

    python -m bench.realarms [--svm]
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.alerting.configure import policy_config
from app.config import Settings
from app.ml.predictor import load_predictor
from app.training import real_cases as R
from app.training.online_replay import replay
from app.training.reference_detectors import gated_detector

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    """Replay every real clean stretch and real event; print raises and re-alarms by row."""
    pred = load_predictor(ROOT / "artifacts", device="cpu", use_torch="--svm" not in sys.argv)
    det, policy = gated_detector("gated", pred, ""), policy_config(Settings())
    print(f"model: {pred.model_type}")
    cases = [c for c in R.clean_stretches(DATA) if c.group == "real"]
    for c in cases + R.real_events(DATA):
        run = replay(det, c.series, c.ts, policy, pred.signal_cfg)
        if len(run.raised) or len(run.worsened) or len(run.recurred):
            print(
                f"{c.name:66s} raised at rows {run.raised.tolist()}, "
                f"re-alarmed (worsened) at rows {run.worsened.tolist()}, "
                f"recurred at rows {run.recurred.tolist()}"
            )


if __name__ == "__main__":
    main()
