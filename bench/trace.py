"""Where an alert's time goes: ``python -m bench.trace [--devices 1000 --rate 1 --seconds 10]``.

Runs the paced phase of ``python -m bench`` (K devices × R readings/s, 10 % leaking, over
``/ws/readings``, one ``/ws/alerts`` subscriber) against a server process with timers
patched around each stage of the alert path, and prints, per stage, the p50 / p90 / max in
ms over the leak alerts of the run, the server's CPU per thread (cores) and the event
loop's lag; the last line is one JSON object.

Stages of one alert (each a time on the machine's monotonic clock, which the load
generator's ``time.perf_counter`` shares on Linux): ``send`` (the gateway sent the frame
holding the reading that raised it), ``ingest`` (the server began to ingest that message),
``submit`` (its window was queued for scoring), ``score0`` / ``score1`` (the model call of
its batch began / ended, in the inference thread), ``sink`` (the batch reached the alert
sink), ``write0`` (the event's transaction began on the store's writer thread: SQLite),
``stored`` (its commit was back on the event loop), ``fanout`` (handed to
the subscribers' queues), ``dequeued`` (the subscriber's task took it), ``sent`` (its
WebSocket send returned), ``recv`` (the subscriber received it). The patches wrap the
service's own functions (no behaviour changes); they cost some CPU, so totals run a little
above ``python -m bench``'s. ``BENCH_SWITCH_INTERVAL_S`` in the environment sets the
server's ``sys.setswitchinterval`` (an experiment on the GIL's hand-over; default 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGES = (
    "send",
    "ingest",
    "submit",
    "score0",
    "score1",
    "sink",
    "write0",
    "stored",
    "fanout",
    "dequeued",
    "sent",
    "recv",
)
LAG_PROBE_S = 0.01  # the loop-lag probe sleeps this long, then notes how late it woke


def install(out: Path) -> None:
    """Patch the service's stage functions to write, per leak ``alert.raised`` event, the
    times of its stages (JSON lines in ``out``; per device, the newest of each stage), the
    event loop's lag (``out.lag``) and thread names by native id (``out.threads``)."""
    from starlette.websockets import WebSocket

    from app import store as st
    from app.services import detector, hub, ingest, scorer

    pc = time.perf_counter
    seen: dict[str, dict[str, float]] = collections.defaultdict(dict)  # device -> stage -> t
    sink = out.open("a")
    current: list[Any] = [None]  # the message being ingested: its start time

    def wrap_async(cls: Any, name: str, before: Any) -> None:
        orig = getattr(cls, name)

        async def patched(self: Any, *a: Any, **k: Any) -> Any:
            before(self, *a, **k)
            return await orig(self, *a, **k)

        setattr(cls, name, patched)

    def note(stage: str, ids: Any, t: float | None = None) -> None:
        t = pc() if t is None else t
        for d in ids:
            seen[d][stage] = t

    wrap_async(ingest.Ingestor, "ingest_raw", lambda *_a, **_k: current.__setitem__(0, pc()))
    wrap_async(
        ingest.Ingestor, "ingest_rows", lambda _s, ids, *_a, **_k: note("ingest", ids, current[0])
    )
    wrap_async(scorer.BatchScorer, "submit", lambda _s, w, *_a, **_k: note("submit", w.device_ids))
    wrap_async(detector.AlertSink, "__call__", lambda _s, w, *_a, **_k: note("sink", w.device_ids))

    score = scorer.score_windows

    def timed_score(predictor: Any, windows: Any) -> Any:
        t0 = pc()
        result = score(predictor, windows)
        t1 = pc()
        note("score0", windows.device_ids, t0)
        note("score1", windows.device_ids, t1)
        return result

    scorer.score_windows = timed_score  # type: ignore[assignment]

    transaction = st.Store.transaction
    wanted: list[dict[str, float] | None] = [None]

    async def timed_transaction(self: Any, fn: Any, *, fast: bool = False) -> Any:
        box = wanted[0]
        wanted[0] = None
        if box is None:
            return await transaction(self, fn, fast=fast)

        def run(conn: Any) -> Any:  # the statements; the commit follows in the same thread
            box["write0"] = pc()
            return fn(conn)

        return await transaction(self, run, fast=fast)

    st.Store.transaction = timed_transaction  # type: ignore[method-assign]
    append = st.Store.append

    async def timed_append(self: Any, events: Any, **k: Any) -> Any:
        box: dict[str, float] = {}
        wanted[0] = box if events else None
        ids = await append(self, events, **k)
        t = pc()
        for e, _ in events:
            seen[e.device_id].update(box)
            seen[e.device_id]["stored"] = t
        return ids

    st.Store.append = timed_append  # type: ignore[method-assign]
    fan_out = hub.Hub.fan_out
    started: list[asyncio.Task[None]] = []

    def timed_fan_out(self: Any, events: list[dict[str, Any]]) -> None:
        t = pc()
        if not started:
            started.append(asyncio.get_running_loop().create_task(_lag(out)))
        fan_out(self, events)
        for e in events:
            if e.get("type") == "alert.raised" and e.get("kind") == "leak":
                seen[e["device_id"]]["fanout"] = t

    hub.Hub.fan_out = timed_fan_out  # type: ignore[method-assign]
    next_live = hub.Subscription._next_live

    async def timed_next_live(self: Any) -> Any:
        event = await next_live(self)
        if event is not None and event.get("type") == "alert.raised":
            seen[event["device_id"]]["dequeued"] = pc()
        return event

    hub.Subscription._next_live = timed_next_live  # type: ignore[method-assign]
    send_json = WebSocket.send_json

    async def timed_send_json(self: Any, data: Any, *a: Any, **k: Any) -> None:
        await send_json(self, data, *a, **k)
        if isinstance(data, dict) and (data.get("type"), data.get("kind")) == (
            "alert.raised",
            "leak",
        ):
            row = {"device_id": data["device_id"], "ts": data["ts"], "sent": pc()}
            row |= {s: t for s, t in seen[data["device_id"]].items() if s in STAGES}
            sink.write(json.dumps(row) + "\n")
            sink.flush()

    WebSocket.send_json = timed_send_json  # type: ignore[method-assign]

    def names() -> None:
        while True:
            m = {str(t.native_id): t.name for t in threading.enumerate()}
            Path(f"{out}.threads").write_text(json.dumps(m))
            time.sleep(1)

    threading.Thread(target=names, daemon=True, name="trace-names").start()


async def _lag(out: Path) -> None:
    """Every ``LAG_PROBE_S``: how late the event loop woke this task, s (``out.lag``)."""
    lags: list[float] = []
    while True:
        t = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_S)
        lags.append(time.perf_counter() - t - LAG_PROBE_S)
        if len(lags) >= 100:
            with open(f"{out}.lag", "a") as f:
                f.write(json.dumps([time.perf_counter(), *lags]) + "\n")
            lags.clear()


def _sample_cpu(pid: int, out: Path, stop: threading.Event) -> None:
    """Per-thread CPU seconds of ``pid`` every 0.5 s (JSON lines: time, {tid: seconds})."""
    tick = os.sysconf("SC_CLK_TCK")
    with out.open("w") as f:
        while not stop.is_set():
            row: dict[str, float] = {}
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1]
                    parts = fields.split()
                    row[tid] = (int(parts[11]) + int(parts[12])) / tick
            except (FileNotFoundError, ProcessLookupError):
                return
            f.write(json.dumps([time.perf_counter(), row]) + "\n")
            f.flush()
            stop.wait(0.5)


def analyse(work: Path) -> dict[str, Any]:
    """Stage durations (ms, p50 / p90 / max), per-thread CPU (cores) over the paced
    interval and the loop lag (ms), from the files a run left in ``work``."""
    from datetime import datetime

    sends = json.loads((work / "client.json").read_text())
    client = {(d, round(ts * 1000)): (s, r) for d, ts, s, r in sends}
    rows = []
    for line in (work / "trace.jsonl").read_text().splitlines():
        r = json.loads(line)
        key = (r["device_id"], round(datetime.fromisoformat(r["ts"]).timestamp() * 1000))
        if key in client and client[key][0] is not None:
            r["send"], r["recv"] = client[key]
            rows.append(r)
    if not rows:
        raise RuntimeError("no leak alert was traced")
    stages: dict[str, dict[str, float]] = {}
    for a, b in zip(STAGES, STAGES[1:], strict=False):
        ms = [(r[b] - r[a]) * 1000 for r in rows if a in r and b in r]
        if ms:
            p50, p90 = np.percentile(ms, [50, 90])
            stages[f"{a}->{b}"] = {
                "p50": round(p50, 1),
                "p90": round(p90, 1),
                "max": round(max(ms), 1),
            }
    total = [(r["recv"] - r["send"]) * 1000 for r in rows]
    t0, t1 = min(r["send"] for r in rows) - 1, max(r["recv"] for r in rows)
    samples = [json.loads(x) for x in (work / "cpu.jsonl").read_text().splitlines()]
    inside = [s for s in samples if t0 <= s[0] <= t1] or samples[-2:]
    names = json.loads(Path(f"{work / 'trace.jsonl'}.threads").read_text())
    cpu: collections.Counter[str] = collections.Counter()
    (ta, a), (tb, b) = inside[0], inside[-1]
    for tid, secs in b.items():
        if tid in a and tb > ta:
            cpu[names.get(tid, "other")] += (secs - a[tid]) / (tb - ta)
    lag: list[float] = []
    lag_file = Path(f"{work / 'trace.jsonl'}.lag")
    for line in lag_file.read_text().splitlines() if lag_file.exists() else []:
        r = json.loads(line)
        if t0 <= r[0] <= t1 + 1:
            lag += r[1:]
    p = np.percentile(total, [50, 90, 99])
    return {
        "alerts": len(rows),
        "latency_ms": dict(zip(("p50", "p90", "p99"), _ms(p / 1000), strict=True)),
        "stages_ms": stages,
        "cpu_cores": {k: round(v, 2) for k, v in cpu.most_common() if v >= 0.005},
        "loop_lag_ms": (
            dict(zip(("p50", "p90", "max"), _ms(np.percentile(lag, [50, 90, 100])), strict=True))
            if lag
            else None
        ),
    }


def _ms(seconds: np.ndarray) -> list[float]:
    """Seconds as milliseconds, to 0.1 ms."""
    return [round(float(x) * 1000, 1) for x in seconds]


def main(argv: list[str] | None = None) -> int:
    """Run the traced paced phase; print the stage table, then one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--gateways", type=int, default=8)
    args = p.parse_args(argv)
    from app.config import Settings
    from app.ml.predictor import load_predictor
    from bench import server
    from bench.__main__ import run_load
    from bench.calibrate import readings_to_raise

    settings = Settings()
    predictor = load_predictor(settings.artifacts_dir, device="cpu")
    raise_after = readings_to_raise(predictor, settings, rate=args.rate)
    work = Path(tempfile.mkdtemp(prefix="gasleak-trace-"))
    srv = server.start(
        {},
        module="bench.trace",
        args=["serve"],
        env={"GASLEAK_TRACE_OUT": str(work / "trace.jsonl")},
    )
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_cpu, args=(srv.proc.pid, work / "cpu.jsonl", stop))
    sampler.start()
    load_args = argparse.Namespace(**vars(args), leaky_fraction=0.1, track_devices=0)
    try:
        run_load(
            srv,
            load_args,
            ["prefill", "paced"],
            int(predictor.window) + (raise_after or 0),
            raise_after,
            extra={"dump": str(work / "client.json")},
        )
    finally:
        stop.set()
        sampler.join()
        srv.stop()
    result = analyse(work)
    print(f"{'stage':24s} {'p50':>8s} {'p90':>8s} {'max':>8s}   (ms)")
    for name, q in result["stages_ms"].items():
        print(f"{name:24s} {q['p50']:8.1f} {q['p90']:8.1f} {q['max']:8.1f}")
    print(f"reading->alert over {result['alerts']} alerts: {result['latency_ms']}")
    print(f"server CPU, cores: {result['cpu_cores']}; loop lag, ms: {result['loop_lag_ms']}")
    print(json.dumps({**result, "config": vars(args), "loadavg_end": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:  # the server process: patch, then run as bench.serve does
        from bench.serve import serve

        install(Path(os.environ["GASLEAK_TRACE_OUT"]))
        if os.environ.get("BENCH_SWITCH_INTERVAL_S"):  # an experiment: the GIL's hand-over
            sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL_S"]))
        serve(int(sys.argv[2]))
    else:
        sys.exit(main())
