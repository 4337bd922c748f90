"""``bench.trace``'s analysis: stage durations, CPU and lag from the files a run leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.trace import STAGES, analyse


def test_stage_durations_come_from_matching_alerts(tmp_path: Path) -> None:
    """Two alerts whose stages are 1 ms apart (the second 2 ms apart); a third alert the
    client never saw is left out; CPU comes from the samples inside the alerts' span."""
    t0 = 100.0
    rows, client = [], []
    for k, step in enumerate((0.001, 0.002)):
        times = {s: t0 + k + i * step for i, s in enumerate(STAGES)}
        ts = 1_767_225_600 + k
        row = {"device_id": f"dev-{k}", "ts": f"2026-01-01T00:00:0{k}+00:00"}
        row |= {s: t for s, t in times.items() if s not in ("send", "recv")}
        rows.append(row)
        client.append([f"dev-{k}", ts, times["send"], times["recv"]])
    rows.append({"device_id": "dev-9", "ts": "2026-01-01T00:00:09+00:00", "sent": 1.0})
    (tmp_path / "trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "client.json").write_text(json.dumps(client))
    (tmp_path / "trace.jsonl.threads").write_text(json.dumps({"11": "MainThread"}))
    cpu = [[t0 - 1, {"11": 5.0}], [t0 + 1, {"11": 6.0}], [t0 + 9, {"11": 9.0}]]
    (tmp_path / "cpu.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cpu))
    got = analyse(tmp_path)
    assert got["alerts"] == 2
    for q in got["stages_ms"].values():
        assert q["p50"] == pytest.approx(1.5) and q["max"] == pytest.approx(2.0)
    assert len(got["stages_ms"]) == len(STAGES) - 1
    span = (len(STAGES) - 1) * 1e3
    assert got["latency_ms"]["p50"] == pytest.approx(1.5 * span / 1e3)
    assert got["cpu_cores"] == {"MainThread": 0.5}  # 1 s of CPU over the 2 s sampled inside
    assert got["loop_lag_ms"] is None
