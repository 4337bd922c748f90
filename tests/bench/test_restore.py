"""``python -m bench.restore`` runs end to end on a tiny fleet (the figures are README's)."""

from __future__ import annotations

import pytest

from bench.restore import run


async def test_the_restore_bench_rebuilds_then_restores_every_device(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await run(devices=3, readings=70, stale=2, keep_s=86_400.0, repeats=1)
    out = capsys.readouterr().out
    assert "'rebuilt': 3, 'rebuilt_readings': 210" in out, out
    assert "restored from snapshots" in out and "'devices': 3" in out, out
