"""The demo's replay tells the truth: bad input exits non-zero naming it; a replay prints each
alert's source row and ends with a summary; the demo's temp store is removed on exit."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.demo import pace
from app.demo_replay import ReplayError, ReplayLog, parse_rows
from bench.server import free_port
from main import main

ROOT = Path(__file__).resolve().parents[1]
COLS = ["eCO2[ppm]", "Temperature[C]", "Humidity[%]"]


def write_csv(path: Path, gas: list[float], header: list[str] = COLS) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([g, 21.0 + i % 2 * 0.01, 45.0] for i, g in enumerate(gas))
    return path


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--mode", "demo", *args])
    return code, capsys.readouterr().err


def test_missing_replay_file_exits_non_zero_naming_it(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    missing = tmp_path / "no-such-recording.csv"
    code, err = run_main(capsys, "--replay", str(missing))
    assert code != 0 and str(missing) in err


def test_bad_columns_are_named_with_those_present(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    f = write_csv(tmp_path / "r.csv", [400.0] * 5, header=["gas", "Temperature[C]", "RH"])
    code, err = run_main(capsys, "--replay", str(f))
    assert code == 2
    assert "'eCO2[ppm]'" in err and "'Humidity[%]'" in err and "'gas'" in err


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ("60000:59000", "60000 is not below 59000"),
        ("3:x", "expected two row numbers"),
        ("2:50", "it has 5 data rows"),
    ],
)
def test_bad_row_ranges_are_named(capsys, tmp_path: Path, rows: str, needle: str) -> None:  # noqa: ANN001
    f = write_csv(tmp_path / "r.csv", [400.0] * 5)
    code, err = run_main(capsys, "--replay", str(f), "--rows", rows)
    assert code == 2 and rows in err and needle in err


def test_non_numeric_value_names_row_and_column(tmp_path: Path) -> None:
    from app.demo_replay import load_replay

    f = tmp_path / "r.csv"
    f.write_text("eCO2[ppm],Temperature[C],Humidity[%]\n400,21,45\nn/a,21,45\n")
    with pytest.raises(ReplayError, match=r"row 1: .*'eCO2\[ppm\]': 'n/a'"):
        load_replay(f, tuple(COLS), None)  # type: ignore[arg-type]


def test_parse_rows_and_row_of() -> None:
    assert parse_rows("50021:51142") == (50021, 51142)
    log = ReplayLog(t0=1_767_225_600.0, first_row=100, n_rows=10, sent=25)
    assert log.row_of("2026-01-01T00:00:03.000Z") == 103
    assert log.row_of("2026-01-01T00:00:13.000Z") == 103  # second pass of --loop
    assert log.row_of("2025-12-31T23:59:59.000Z") is None


def test_replay_prints_rows_and_a_summary_and_cleans_up(tmp_path: Path) -> None:
    # rows 0-79 clean air, then gas doubling each second: first >= 5,000 ppm at row 84
    gas = [420.0 + i % 3 for i in range(80)] + [420.0 * 2 ** (k / 1.0) for k in range(1, 8)]
    crossing = next(i for i, g in enumerate(gas) if g >= 5000.0)
    f = write_csv(tmp_path / "leak.csv", gas)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GASLEAK_")}
    env.update(TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--mode",
            "demo",
            "--port",
            str(free_port()),
            "--speed",
            "100",
            "--replay",
            str(f),
            "--rows",
            f"2:{len(gas)}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(rf"\[threshold raised\].*set point 5000 ppm .* row {crossing} ", out), out
    assert f"replay finished: {len(gas) - 2} rows sent (rows 2-{len(gas) - 1} of {f})" in out
    first = re.search(r"first alert: (\w+) at row (\d+)", out)
    assert first and int(first.group(2)) <= crossing, out
    assert re.search(r"alerts raised: .*threshold [12]", out), out
    assert list(tmp.iterdir()) == []  # the demo's store folder is gone


async def test_demo_pace_never_sends_a_reading_before_its_time() -> None:
    """Once simulated time catches up with the clock, the demo waits for it: a reading is
    never sent before its timestamp (the server would refuse it as in the future)."""
    due = time.time() + 0.3
    await pace(due, speed=1000.0)
    assert time.time() >= due


async def test_alert_printer_prints_a_burst_beyond_its_queue_once_without_a_reconnect(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A burst of events larger than a subscriber's queue: the printer keeps reading, so the
    server lets it catch up from the store instead of closing it, and it prints every event
    once. Until 2 Dec the burst closed its socket with 1013 and the printer reconnected with
    since= (before that, it ended the demo with the close error)."""
    import asyncio

    import httpx

    from app.demo import print_alerts
    from tests.conftest import start_server, stop_server

    server = start_server({"GASLEAK_SUBSCRIBER_QUEUE_MAX": "20", "GASLEAK_MODEL_ENABLED": "false"})
    try:
        task = asyncio.create_task(print_alerts(server.base, server.key))
        await asyncio.sleep(1.0)  # subscribed
        now = time.time()
        burst = [
            {"device_id": f"storm-{i}", "ts": now, "gas_ppm": 20000.0}
            | {"temperature_c": 21.0, "humidity_pct": 45.0}
            for i in range(200)
        ]
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as http:
            r = await http.post("/api/readings", json=burst)
            assert r.status_code == 200 and r.json()["accepted"] == 200, r.text
            deadline, out = time.monotonic() + 60, ""
            while time.monotonic() < deadline:
                out += capsys.readouterr().out
                printed = set(re.findall(r"#(\d+) storm-", out))
                if len(printed) >= 200 or task.done():
                    break
                await asyncio.sleep(0.5)
        assert not task.done(), task.exception()
        assert len(printed) >= 200, out[-2000:]
        assert len(re.findall(r"#(\d+) storm-", out)) == len(printed)  # each once
        assert "resuming after event" not in out
        task.cancel()
    finally:
        stop_server(server)


def test_the_demo_printer_names_an_update_by_its_reason(capsys) -> None:
    """Every alert.updated printed as "escalated" (newcomer: a worsened re-alarm, an
    end-of-silence announcement and a real escalation looked alike)."""
    from app.demo import _print_event

    base = {
        "type": "alert.updated",
        "kind": "leak",
        "event_id": 7,
        "device_id": "sim-00",
        "severity": "critical",
        "probability": 0.99,
        "ts": "t",
        "model_type": "m",
    }
    for reason in ("worsened", "silence_ended", "escalated"):
        _print_event({**base, "reason": reason}, None)
    out = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0].strip("[ ").strip() for line in out] == [
        "worsened",
        "silence_ended",
        "escalated",
    ]


def test_the_demo_printer_names_the_gas_unit(capsys) -> None:
    """Events keep ``gas_ppm`` for ppm devices only; the printer shows ``gas`` in the
    device's own unit (``gas_unit``), and an event stored before units were kept by its
    ``gas_ppm``."""
    from app.demo import _print_event

    base = {"type": "alert.raised", "kind": "threshold", "event_id": 3, "device_id": "adc"}
    base |= {"severity": "warning", "probability": None, "ts": "t", "detail": "x"}
    _print_event({**base, "gas": 35_000.0, "gas_unit": "counts", "gas_ppm": None}, None)
    _print_event({**base, "gas_ppm": 900.0}, None)
    first, second = capsys.readouterr().out.splitlines()
    assert "gas=35000 counts" in first and "gas=900 ppm" in second


def test_help_states_the_training_defaults_that_training_uses() -> None:
    """``--help`` said 50 and 20 epochs while training ran 20 and 10 (newcomer)."""
    from app.ml.model import ModelConfig
    from app.training.lodo import LODO_EPOCHS

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, str(root / "main.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = " ".join(out.split())
    assert f"autoencoder epochs ({ModelConfig.epochs})" in text
    assert f"supervised fine-tuning epochs ({ModelConfig.finetune_epochs})" in text
    assert f"LODO autoencoder epochs ({LODO_EPOCHS[0]})" in text
    assert f"LODO fine-tuning epochs ({LODO_EPOCHS[1]})" in text
