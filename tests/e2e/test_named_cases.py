"""The detection and alarm cases named in the issues, replayed against a real server.

Runs ``../shared/checks/named_cases.py`` (the project's acceptance probe: clean slices, a
slow wave, a glitch, methane releases, a persistent leak, the gas fire, an alternating set
point, a jittered pair) against a real uvicorn server on a fresh store, with each model.
Every case must hold.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_data, start_server, stop_server

CHECK = Path(__file__).resolve().parents[3] / "shared" / "checks" / "named_cases.py"


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("block_torch", [False, True], ids=["lstm_svm", "pure_svm"])
def test_named_cases_hold(block_torch: bool) -> None:
    if not CHECK.is_file():
        pytest.fail(f"{CHECK} is missing (shared/ should sit beside the repository)")
    server = start_server(block_torch=block_torch)
    try:
        out = subprocess.run(
            [sys.executable, str(CHECK), server.base, server.key],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop_server(server)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 failed" in out.stdout
