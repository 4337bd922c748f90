"""Machine description, the summary JSON and the printed table of ``python -m bench``."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and the load average when the run started."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem / 2**20, 1),
        "gpu": gpu,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(
    args: argparse.Namespace,
    settings: Any,
    mach: dict[str, Any],
    ceil: dict[str, Any],
    batched: dict[str, Any],
    naive: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON line: headline keys first, details after."""
    paced, sat, mem = batched["paced"], batched["saturate"], batched["memory"]
    ceiling_wps = ceil["best"]["windows_per_s"]
    naive_wps = naive["saturate"]["windows_per_s"] if naive else None
    return {
        "readings_per_s": sat["readings_per_s"],
        "windows_per_s": sat["windows_per_s"],
        "model_ceiling_windows_per_s": ceiling_wps,
        "naive_windows_per_s": naive_wps,
        "latency_ms": paced["latency_ms"],
        "rss_mb": mem["rss_mb"],
        "bytes_per_device": mem["bytes_per_device"],
        "dropped": paced["dropped"]
        + sat["dropped"]
        + (naive["saturate"]["dropped"] if naive else 0),
        "overload": {
            **batched["overload"],
            "readings_shed": paced["readings_shed"] + sat["readings_shed"],
            "backlog": paced["backlog"],
            "http_429": mem["http_429"],
            "naive": naive["overload"] if naive else None,
        },
        "vs_ceiling": round(sat["windows_per_s"] / ceiling_wps, 3),
        "vs_naive": round(sat["windows_per_s"] / naive_wps, 2) if naive_wps else None,
        "paced": paced,
        "saturate": sat,
        "naive": naive["saturate"] if naive else None,
        "memory": mem,
        "ceiling": ceil,
        "config": {
            "devices": args.devices,
            "rate": args.rate,
            "seconds": args.seconds,
            "gateways": args.gateways,
            "torch_threads": settings.torch_threads,
            "batch_max_size": settings.batch_max_size,
            "batch_max_delay_ms": settings.batch_max_delay_ms,
            "accel": settings.accel,
            "svm_backend": settings.svm_backend,
            "device": settings.device,
            "stride": settings.stride,
            "store": "postgresql (fsync on)" if getattr(args, "postgres", False) else "sqlite",
        },
        "machine": {**mach, "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
    }


def print_table(r: dict[str, Any]) -> None:
    """Human-readable summary."""
    p, s, m, lat, o = r["paced"], r["saturate"], r["memory"], r["latency_ms"], r["overload"]
    c = r["config"]
    rows = [
        (
            "machine",
            f"{r['machine']['nproc']} x {r['machine']['cpu']}, GPU: {r['machine']['gpu']}, "
            f"load {r['machine']['loadavg_start']} -> {r['machine']['loadavg_end']}",
        ),
        ("config", ", ".join(f"{k}={v}" for k, v in c.items())),
        (
            "model ceiling (in-process)",
            f"{r['model_ceiling_windows_per_s']:,} windows/s "
            f"(threads={r['ceiling']['best']['threads']}, "
            f"batch={r['ceiling']['best']['batch']})",
        ),
        ("paced: offered", f"{p['offered_readings_per_s']:,.0f} readings/s"),
        (
            "paced: accepted / scored",
            f"{p['readings_per_s']:,} readings/s, {p['windows_per_s']:,} windows/s",
        ),
        (
            "paced: reading->alert latency",
            f"p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms, max {lat['max']} ms "
            f"(n={lat['n']}; leaky alerted {p['leaky_alerted']}/{p['leaky_devices']}, "
            f"false alerts {p['false_alerts']})",
        ),
        (
            "saturated: batched service",
            f"{s['readings_per_s']:,} readings/s, "
            f"{s['windows_per_s']:,} windows/s "
            f"({r['vs_ceiling']:.0%} of the model ceiling; the model runs only on windows "
            f"whose evidence gate is open: {p['leaky_devices']:,} of {c['devices']:,} devices "
            "leak here)",
        ),
        (
            "saturated: naive (inline)",
            f"{r['naive_windows_per_s']} windows/s (batched is {r['vs_naive']}x)",
        ),
        (
            "memory",
            f"{m['devices_tracked']:,} devices tracked (cap {m['max_devices']:,}, "
            f"holds: {m.get('cap_holds')}), RSS {m['rss_before_mb']} -> {m['rss_mb']} MB, "
            f"{m['bytes_per_device']} B/device",
        ),
        ("dropped readings", f"{r['dropped']} (windows unscored: {s['windows_unscored']})"),
        (
            "overload",
            f"shed {o['shed_messages']} messages {o['shed_by_reason']} "
            f"({o['readings_shed']:,} readings; {o['backlog']:,} held at the gateways), "
            f"HTTP 429: {o['http_429']}; gateways open {o['gateways_alive']}/{o['gateways']}; "
            f"accepted then lost: {o['accepted_then_lost']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
