"""``python -m bench``: end-to-end throughput, alert latency and memory of the real service,
against the model's in-process ceiling and the naive one-window-per-call mode.

Prints a table, then as its last line one JSON object (keys: readings_per_s, windows_per_s,
model_ceiling_windows_per_s, naive_windows_per_s, latency_ms {p50, p95, p99}, rss_mb,
bytes_per_device, dropped, and more detail).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import report, server
from bench.calibrate import readings_to_raise
from bench.ceiling import ceiling

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``python -m bench --help``."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=1000, help="simulated devices (K)")
    p.add_argument("--rate", type=float, default=1.0, help="readings/s per device (R), paced")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    p.add_argument("--gateways", type=int, default=8, help="WebSocket connections sending")
    p.add_argument("--leaky-fraction", type=float, default=0.1, help="devices that leak")
    p.add_argument(
        "--track-devices", type=int, default=100_000, help="devices tracked in the memory phase"
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="server's GASLEAK_TORCH_THREADS (default: the service default)",
    )
    p.add_argument("--batch-max-size", type=int, default=None)
    p.add_argument("--batch-max-delay-ms", type=float, default=None)
    p.add_argument("--accel", default=None, help="none|int8|torchscript|onnx")
    p.add_argument("--svm-backend", default=None, help="array|sklearn")
    p.add_argument("--gpu", action="store_true", help="score on CUDA; bigger ceiling batches")
    p.add_argument("--skip-naive", action="store_true", help="do not run the naive mode")
    p.add_argument(
        "--postgres",
        action="store_true",
        help="store on a throwaway PostgreSQL (.ci/postgres.sh, fsync on; a fresh database "
        "per server) instead of SQLite",
    )
    p.add_argument(
        "--memory-only",
        action="store_true",
        help="only the memory phase, on a fresh server (--repeat times); one JSON line each",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of --memory-only")
    p.add_argument(
        "--accel-compare",
        action="store_true",
        help="only compare the encoder variants in-process (speed and detection)",
    )
    return p.parse_args(argv)


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    """GASLEAK_* overrides for the batched server."""
    opts = {
        "torch_threads": args.torch_threads,
        "batch_max_size": args.batch_max_size,
        "batch_max_delay_ms": args.batch_max_delay_ms,
        "accel": args.accel,
        "svm_backend": args.svm_backend,
        "device": "cuda" if args.gpu else "cpu",
    }
    return {k: str(v) for k, v in opts.items() if v is not None}


def run_load(
    srv: server.Server,
    args: argparse.Namespace,
    phases: list[str],
    prefill: int,
    raise_after: int | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``bench.load`` in its own process against ``srv``; its JSON result. ``extra``:
    more keys of its configuration (``dump``: ``bench.trace``)."""
    cfg = {
        "base": srv.base,
        "devices": args.devices,
        "rate": args.rate,
        "seconds": args.seconds,
        "gateways": args.gateways,
        "leaky_fraction": args.leaky_fraction,
        "track_devices": args.track_devices,
        "server_pid": srv.proc.pid,
        "phases": phases,
        "prefill": prefill,
        "raise_after": raise_after,
        **(extra or {}),
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", json.dumps(cfg)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GASLEAK_BOOTSTRAP_ADMIN_KEY": srv.key},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


#: The throwaway PostgreSQL of ``--postgres`` (None: each server has its own SQLite file).
PG: list[Any] = [None]


def with_server(settings: dict[str, str], fn: Any) -> Any:
    """Start a server with ``settings`` (on a fresh PostgreSQL database under
    ``--postgres``), call ``fn(server)``, always stop it."""
    if PG[0] is not None:
        settings = {**settings, "database_url": PG[0].new_database()}
    srv = server.start(settings)
    try:
        return fn(srv)
    finally:
        srv.stop()


def main(argv: list[str] | None = None) -> int:
    """Run every phase; print the table and the JSON line."""
    args = parse_args(argv)
    if not args.postgres:
        return run_all(args)
    from bench.cluster import Postgres

    PG[0] = Postgres.start(fsync=True)
    try:
        return run_all(args)
    finally:
        PG[0].stop()
        PG[0] = None


def run_all(args: argparse.Namespace) -> int:
    """Every phase of ``args``; print the table and the JSON line."""
    from app.config import Settings

    settings = Settings(**{k: v for k, v in server_settings(args).items()})
    machine = report.machine()
    threads = settings.torch_threads or os.cpu_count() or 1
    if args.memory_only:
        for _ in range(args.repeat):
            mem = with_server(
                server_settings(args), lambda s: run_load(s, args, ["memory"], 0, None)
            )["memory"]
            print(
                json.dumps({"memory": mem, "machine": {**machine, "loadavg_end": os.getloadavg()}})
            )
        return 0
    if args.accel_compare:
        from bench import accel_cmp

        cmp = accel_cmp.compare(settings, batches=[1, 256], threads=threads)
        accel_cmp.print_table(cmp)
        print(json.dumps({**cmp, "machine": {**machine, "loadavg_end": os.getloadavg()}}))
        return 0
    ceil = ceiling(
        settings.artifacts_dir,
        device=settings.device,
        accel=settings.accel,
        svm=settings.svm_backend,
        threads=sorted({threads, os.cpu_count() or 1}),
        batches=[1024, 8192, 32768] if args.gpu else [1, 64, 256, 1024],
    )
    predictor = ceil.pop("predictor")
    window = int(predictor.window)  # the model's (GASLEAK_WINDOW may only repeat it)
    raise_after = readings_to_raise(predictor, settings, rate=args.rate)
    prefill = window + (raise_after or 0)  # clean history, then the leaks' lead-in
    batched = with_server(
        server_settings(args),
        lambda s: run_load(s, args, ["prefill", "paced", "saturate"], prefill, raise_after),
    )
    # Memory on a fresh server of its own: the RSS growth per added device then does not
    # depend on how much freed heap the saturate phase left to reuse (on the same server it
    # read 896-915 B/device with one build and 1,103-1,143 with the next, whose saturate
    # phase left 30 MB less heap behind and whose final RSS was lower).
    batched["memory"] = with_server(
        server_settings(args), lambda s: run_load(s, args, ["memory"], prefill, raise_after)
    )["memory"]
    naive = None
    if not args.skip_naive:
        naive = with_server(
            {**server_settings(args), "scoring_mode": "inline"},
            lambda s: run_load(s, args, ["prefill", "saturate"], window, None),
        )  # no leak lead-in
    ceil["raise_after_readings"] = raise_after
    result = report.summarise(args, settings, machine, ceil, batched, naive)
    report.print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
