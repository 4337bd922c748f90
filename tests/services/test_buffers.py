"""Ring buffers: window order, stride, fixed memory, cap, eviction, and the batched store
against a per-reading reference."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.signal import DeviceSignal, SignalConfig
from app.services.buffers import DeviceBuffers, DeviceCapReached
from app.services.signals import SignalBank
from app.services.windows import Window


def make(
    window: int, max_devices: int, stride: int = 1, clock=None, warmup: int | None = None
) -> DeviceBuffers:
    """Buffers whose signal warm-up equals the window (the shortest allowed) by default."""
    extra = {} if clock is None else {"clock": clock}
    return DeviceBuffers(
        window=window,
        max_devices=max_devices,
        stride=stride,
        signals=SignalBank(SignalConfig(warmup=warmup or window)),
        **extra,
    )


class Reference:
    """The per-reading path the batched store must match: a list per device, one
    DeviceSignal each, a window when the signal is warm and on the stride."""

    def __init__(
        self, window: int, max_devices: int, stride: int = 1, warmup: int | None = None
    ) -> None:
        self.window, self.max_devices, self.stride = window, max_devices, stride
        self.warmup = warmup or window
        self.rows: dict[str, list] = {}
        self.sig: dict[str, DeviceSignal] = {}
        self.last: dict[str, float] = {}

    def is_late(self, d: str, ts: float) -> bool:
        return d in self.last and ts < self.last[d]

    def append(self, d: str, ts: float, v: tuple[float, float, float]) -> Window | None:
        if d not in self.rows:
            if len(self.rows) >= self.max_devices:
                raise DeviceCapReached(d)
            self.rows[d] = []
            self.sig[d] = DeviceSignal(SignalConfig(warmup=self.warmup))
        self.rows[d].append(v)
        self.last[d] = ts
        s = self.sig[d]
        _, level, scale, t_level, rh_level = s.learn_one(v[0], ts, v[1], v[2])
        if not s.warm or (s.n_ - self.warmup) % self.stride:
            return None
        vals = np.asarray(self.rows[d][-self.window :], dtype=np.float32)
        bound = s.ratio_bound(v[1], v[2])
        return Window(d, ts, vals, np.array([level, scale, t_level, rh_level, bound]))


def fill(buf: DeviceBuffers, device: str, n: int, start: float = 0.0) -> list:
    """Store n readings one message each; the window each made due (or None)."""
    out = []
    for i in range(n):
        b = buf.store([device], np.array([start + i]), np.array([[float(i), 20.0, 40.0]]))[1]
        out.append(None if b is None else next(iter(b)))
    return out


def test_window_is_last_readings_oldest_first() -> None:
    buf = make(4, 10)
    out = fill(buf, "a", 10)
    assert out[:3] == [None, None, None]
    np.testing.assert_array_equal(out[3].values[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[9].values[:, 0], [6, 7, 8, 9])
    assert out[9].values.dtype == np.float32 and out[9].values.shape == (4, 3)
    assert out[9].ts == 9.0 and out[9].signal.shape == (5,)


def test_snapshot_is_a_copy() -> None:
    buf = make(3, 10)
    w = fill(buf, "a", 3)[-1]
    fill(buf, "a", 3, start=3)
    np.testing.assert_array_equal(w.values[:, 0], [0, 1, 2])


def test_stride() -> None:
    buf = make(3, 10, stride=2)
    out = fill(buf, "a", 9)
    assert [i for i, w in enumerate(out) if w is not None] == [2, 4, 6, 8]


def test_no_window_before_the_signal_is_warm() -> None:
    buf = DeviceBuffers(window=3, max_devices=2, signals=SignalBank(SignalConfig(warmup=5)))
    out = fill(buf, "a", 7)
    assert [i for i, w in enumerate(out) if w is not None] == [4, 5, 6]
    with pytest.raises(ValueError, match="warm-up 2 < window 3"):
        DeviceBuffers(window=3, max_devices=2, signals=SignalBank(SignalConfig(warmup=2)))


def test_a_gap_restarts_the_warm_up_and_the_window() -> None:
    buf = make(3, 2)
    fill(buf, "a", 5)
    out = fill(buf, "a", 4, start=4 + 3600.0)
    assert [i for i, w in enumerate(out) if w is not None] == [2, 3]
    np.testing.assert_array_equal(out[2].values[:, 0], [0, 1, 2])  # no pre-gap reading


def test_devices_do_not_mix() -> None:
    buf = make(2, 10)
    buf.store(["a", "b"], np.array([0.0, 0.0]), np.array([[1.0, 0, 0], [100.0, 0, 0]]))
    w = next(iter(buf.store(["a"], np.array([1.0]), np.array([[2.0, 0, 0]]))[1]))
    np.testing.assert_array_equal(w.values[:, 0], [1, 2])
    assert buf.info("b")["buffer_fill"] == 1


def test_cap_and_eviction_free_slots() -> None:
    now = [0.0]
    buf = make(2, 3, clock=lambda: now[0])
    for d in "abc":
        fill(buf, d, 1)
    with pytest.raises(DeviceCapReached):
        buf.slot_for("d")
    now[0] = 10.0
    fill(buf, "b", 1, start=1.0)
    assert buf.evict_idle(idle_s=5.0) == ["a", "c"]
    assert len(buf) == 1 and "b" in buf and len(buf.signals) == 1
    fill(buf, "d", 1)
    assert buf.info("d")["readings_seen"] == 1
    assert buf.info("a") is None


def test_memory_is_fixed_per_device() -> None:
    buf = make(60, 5000)
    fill(buf, "a", 500)
    before = buf.nbytes()
    fill(buf, "a", 500, start=500)
    assert buf.nbytes() == before
    assert buf.nbytes() / buf.capacity < 60 * 3 * 4 + 64


def test_device_view_reports_warm_up_then_level() -> None:
    buf = make(3, 1)
    buf.store(["a"] * 2, np.arange(2.0), np.array([[400.0, 20, 40], [410.0, 20, 40]]))
    assert buf.info("a")["signal"]["state"] == "warming_up"
    assert buf.info("a")["signal"]["readings_to_warm"] == 1
    buf.store(["a"], np.array([2.0]), np.array([[420.0, 20, 40]]))
    sig = buf.info("a")["signal"]
    # the running median of three turns 400, 410, 420 into 400, 410, 410; their median
    assert sig["state"] == "ready" and sig["level"] == pytest.approx(410.0)
    assert sig["settling"] is True  # scored, under the settling period's stricter bound
    k = np.arange(3.0, 3.0 + SignalConfig().settle_s)  # 1 Hz, until settle_s have passed
    for part, settled in ((k[:-2], False), (k[-2:], True)):
        buf.store(["a"] * len(part), part, np.full((len(part), 3), [410.0, 20, 40]))
        assert buf.info("a")["signal"]["settling"] is not settled


def test_device_view_says_what_the_evidence_gate_asks_of_the_last_reading() -> None:
    """A newcomer saw "z 19.9, p 0" and could not tell the gate's ratio bound from a model
    saying no: the view gives the rise over the level, the rise needed (with what a
    temperature change explains) and the scales needed."""
    buf = make(3, 1)
    buf.store(["a"] * 100, np.arange(100.0), np.full((100, 3), [400.0, 20, 40]))
    gate = buf.info("a")["signal"]["gate"]  # settling: +49 %
    assert gate["needs_rise_pct"] == pytest.approx(100 * (np.exp(0.4) - 1), abs=0.01)
    buf.store(["a"] * 600, np.arange(100.0, 700.0), np.full((600, 3), [400.0, 20, 40]))
    buf.store(["a"], np.array([700.0]), np.array([[460.0, 20, 40]]))
    gate = buf.info("a")["signal"]["gate"]
    assert gate["rise_pct"] == pytest.approx(14.96, abs=0.01)  # 461 / 401
    assert gate["needs_rise_pct"] == pytest.approx(100 * (np.exp(0.2) - 1), abs=0.01)
    assert gate["needs_z"] == 4.0 and gate["open"] is False  # over 4 scales, under +22 %
    buf.store(["a"], np.array([701.0]), np.array([[600.0, 25, 40]]))  # 5 C warmer too
    gate = buf.info("a")["signal"]["gate"]
    assert gate["needs_rise_pct"] == pytest.approx(100 * (np.exp(0.2 + 5 * 0.0175) - 1), abs=0.01)
    assert gate["open"] is True
    assert make(3, 1).info("b") is None


# --- the batched path: DeviceBuffers.store -------------------------------------------------

from app.services.windows import BAD_TS, CAPPED, LATE, STORED, WindowBatch  # noqa: E402


def per_reading(buf: Reference, ids, ts, vals):
    """The reference: is_late + append for each reading in stable ts order."""
    codes, windows = [0] * len(ids), []
    for i in sorted(range(len(ids)), key=lambda i: ts[i]):
        if buf.is_late(ids[i], ts[i]):
            codes[i] = LATE
            continue
        try:
            w = buf.append(ids[i], ts[i], tuple(float(v) for v in vals[i]))
        except DeviceCapReached:
            codes[i] = CAPPED
            continue
        if w is not None:
            windows.append(w)
    return codes, windows


def readings(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) float64: gas 300-900 ppm at full precision, °C and %RH over the schema's whole
    ranges to two decimals (what the ring keeps exactly: app.services.buffers.Ring)."""
    return np.c_[
        rng.uniform(300, 900, n),
        np.round(rng.uniform(-40, 125, n), 2),
        np.round(rng.uniform(0, 100, n), 2),
    ]


def by_device(windows) -> dict:
    out: dict = {}
    for w in windows:
        out.setdefault(w.device_id, []).append(w)
    return out


@pytest.mark.parametrize(("stride", "warmup"), [(1, 5), (3, 5), (1, 8)])
def test_store_matches_per_reading_append(stride: int, warmup: int) -> None:
    """warmup 8 > window 5: the ring keeps 8 readings, for the warm-up, and windows are its
    last 5."""
    rng = np.random.default_rng(0)
    a = make(5, 6, stride=stride, warmup=warmup)
    b = Reference(5, 6, stride=stride, warmup=warmup)
    clock = {f"d{k}": 0.0 for k in range(8)}  # 8 ids for a cap of 6: some are refused
    for _ in range(40):
        n = int(rng.integers(1, 30))
        ids = [f"d{k}" for k in rng.integers(0, 8, n)]
        ts = []
        for d in ids:  # mostly increasing per device, sometimes late
            clock[d] += float(rng.choice([1.0, 1.0, 1.0, 0.0, -2.5]))
            ts.append(clock[d])
        vals = readings(rng, n)
        codes, batch, *_ = a.store(ids, np.array(ts), vals)
        ref_codes, ref = per_reading(b, ids, ts, vals)
        assert codes.tolist() == ref_codes
        got = by_device(batch or [])
        want = by_device(ref)
        assert got.keys() == want.keys()
        for d in want:
            assert [w.ts for w in got[d]] == [w.ts for w in want[d]]
            for x, y in zip(got[d], want[d], strict=True):
                np.testing.assert_array_equal(x.values, y.values)
                np.testing.assert_allclose(x.signal, y.signal, rtol=1e-12)
    assert set(a.device_ids()) == set(b.rows)
    assert CAPPED in codes.tolist() or len(a) == 6


def test_store_long_run_keeps_last_window() -> None:
    buf = make(4, 2)
    vals = np.c_[np.arange(11.0), np.ones((11, 2))]
    codes, batch, *_ = buf.store(["a"] * 11, np.arange(11.0), vals)
    assert codes.tolist() == [STORED] * 11
    assert batch.ts.tolist() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    np.testing.assert_array_equal(batch.values[-1][:, 0], [7, 8, 9, 10])
    np.testing.assert_array_equal(buf.snapshot(buf.slot_for("a"))[:, 0], [7, 8, 9, 10])


def test_store_rejects_non_finite_ts_without_tracking_the_device() -> None:
    buf = make(2, 2)
    codes, batch, *_ = buf.store(["x"], np.array([np.nan]), np.ones((1, 3)))
    assert codes.tolist() == [BAD_TS] and batch is None and "x" not in buf


def test_window_batch_is_a_copy_and_iterates_windows() -> None:
    buf = make(2, 4)
    _, batch, *_ = buf.store(["a", "b", "a", "b"], np.array([0.0, 0, 1, 1]), np.ones((4, 3)))
    buf.store(["a", "b"], np.array([2.0, 2]), np.full((2, 3), 7.0))
    assert isinstance(batch, WindowBatch) and len(batch) == 2
    assert sorted(w.device_id for w in batch) == ["a", "b"]
    assert float(batch.values.max()) == 1.0
    assert len(WindowBatch.concat([batch, batch[:1]])) == 3


def test_cap_holds_under_batches_and_eviction_frees_slots() -> None:
    buf = make(3, 100)
    ids = [f"d{i}" for i in range(150)]
    codes, *_ = buf.store(ids, np.zeros(150), np.ones((150, 3)))
    assert (codes == STORED).sum() == 100 and (codes == CAPPED).sum() == 50
    assert len(buf) == 100 and buf.capacity == 100
    keep = {"d0", "d1"}
    gone = buf.evict_idle(idle_s=0.0, keep=keep)
    assert len(gone) == 98 and set(buf.device_ids()) == keep
    codes, *_ = buf.store(ids[100:], np.ones(50), np.ones((50, 3)))
    assert (codes == STORED).all() and len(buf) == 52 and buf.capacity == 100


def test_eviction_spares_recent_devices() -> None:
    now = [0.0]
    buf = make(3, 10, clock=lambda: now[0])
    buf.store(["old"], np.zeros(1), np.ones((1, 3)))
    now[0] = 100.0
    buf.store(["new"], np.zeros(1), np.ones((1, 3)))
    assert buf.evict_idle(idle_s=50.0) == ["old"]
    assert buf.device_ids() == ["new"]


# --- the running service: cap reported and enforced, idle devices evicted ---------------


async def test_service_enforces_cap_reports_it_and_evicts_idle_devices() -> None:
    import asyncio

    import httpx
    from asgi_lifespan import LifespanManager

    from app.config import Settings
    from app.main import create_app
    from tests.conftest import auth_headers

    app = create_app(Settings(max_devices=3, device_idle_s=0.4))
    async with LifespanManager(app, startup_timeout=60) as m:
        transport = httpx.ASGITransport(app=m.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=auth_headers()
        ) as c:
            body = [
                {
                    "device_id": f"d{i}",
                    "gas_ppm": 420.0,
                    "temperature_c": 21.0,
                    "humidity_pct": 45.0,
                }
                for i in range(4)
            ]
            r = (await c.post("/api/readings", json=body)).json()
            assert r["accepted"] == 3
            assert [x["index"] for x in r["rejected"]] == [3]
            assert r["rejected"][0]["errors"][0]["type"] == "device_cap"
            s = (await c.get("/api/status")).json()
            assert s["max_devices"] == 3 and s["devices_tracked"] == 3
            for _ in range(100):  # the lifespan's evictor runs every device_idle_s / 2
                await asyncio.sleep(0.05)
                s = (await c.get("/api/status")).json()
                if s["devices_tracked"] == 0:
                    break
            assert s["devices_tracked"] == 0 and s["devices_evicted"] == 3
            d0 = (await c.get("/api/devices/d0")).json()  # registered, no longer in memory
            assert d0["buffer_fill"] is None and d0["alert_state"] == "normal"
            assert (await c.get("/api/devices/never-seen")).status_code == 404
            r = (await c.post("/api/readings", json=body[3])).json()
            assert r == {"accepted": 1, "rejected": [], "warnings": []}


def test_store_without_windows_leaves_the_same_buffers_and_signals() -> None:
    # A cluster takeover replays readings with windows=False: the rings, counters and
    # signal models must end exactly as with windows assembled, so later windows match.
    rng = np.random.default_rng(3)
    a, b = make(5, 8), make(5, 8)
    clock = {f"d{k}": 0.0 for k in range(6)}
    for _ in range(30):
        n = int(rng.integers(1, 25))
        ids = [f"d{k}" for k in rng.integers(0, 6, n)]
        ts = []
        for d in ids:
            clock[d] += 1.0
            ts.append(clock[d])
        vals = readings(rng, n)
        codes_a, batch_a, *_ = a.store(ids, np.array(ts), vals, strict=True)
        codes_b, batch_b, *_ = b.store(ids, np.array(ts), vals, strict=True, windows=False)
        assert codes_a.tolist() == codes_b.tolist()
        assert batch_b is None
    assert batch_a is not None  # windows were due on the other side
    for d in a.device_ids():
        np.testing.assert_array_equal(a.snapshot(a.slot_for(d)), b.snapshot(b.slot_for(d)))
        assert a.info(d) == b.info(d)
    ids = list(a.device_ids())
    ts = np.array([clock[d] + 1.0 for d in ids])
    vals = readings(rng, len(ids))
    wa, wb = a.store(ids, ts, vals)[1], b.store(ids, ts, vals)[1]
    assert wa is not None and wb is not None
    np.testing.assert_array_equal(wa.values, wb.values)
    np.testing.assert_array_equal(wa.signal, wb.signal)


@pytest.mark.parametrize(("stride", "warmup"), [(1, 5), (3, 5), (1, 8)])
def test_one_reading_messages_match_per_reading_append(stride: int, warmup: int) -> None:
    """A message of one reading takes :meth:`DeviceBuffers.store`'s scalar path: the same
    codes (late, capped, bad ts), prior times, windows and signal as the reference."""
    rng = np.random.default_rng(5)
    a = make(5, 6, stride=stride, warmup=warmup)
    b = Reference(5, 6, stride=stride, warmup=warmup)
    clock = {f"d{k}": 0.0 for k in range(8)}  # 8 ids for a cap of 6
    windows = 0
    for _ in range(600):
        d = f"d{rng.integers(0, 8)}"
        clock[d] += float(rng.choice([1.0, 1.0, 1.0, 0.0, -2.5]))
        t = clock[d] if rng.random() > 0.02 else np.nan
        v = readings(rng, 1)
        prior_want = b.last.get(d, np.nan)
        codes, batch, prior, _ = a.store([d], np.array([t]), v)
        if np.isnan(t):
            assert codes.tolist() == [BAD_TS] and batch is None
            continue
        ref_codes, ref = per_reading(b, [d], [t], v)
        assert codes.tolist() == ref_codes
        np.testing.assert_array_equal(prior, [prior_want])
        assert (batch is None) == (not ref)
        if ref:
            windows += 1
            (got,) = list(batch)
            assert got.device_id == d and got.ts == ref[0].ts
            np.testing.assert_array_equal(got.values, ref[0].values)
            np.testing.assert_allclose(got.signal, ref[0].signal, rtol=1e-12)
    assert windows > 30 and len(a) == 6 and set(a.device_ids()) == set(b.rows)
    # strict: a reading at its device's newest time is refused as LATE
    d = a.device_ids()[0]
    t = float(a.signals.states.last_ts[a.slot_for(d)])
    assert a.store([d], np.array([t]), np.ones((1, 3)), strict=True)[0].tolist() == [LATE]


def test_a_clock_put_right_is_stored_not_refused_as_out_of_order() -> None:
    """A reading older than its device's newest is LATE, unless that newest stands more than
    CLOCK_STEP_S ahead of the server clock and the reading does not: then the device's clock
    was put right, and the reading and those after it are stored (both paths: one reading,
    and a batch)."""
    from app.services.buffers import CLOCK_STEP_S, LATE, STORED

    now = 1_800_000_000.0
    buf = DeviceBuffers(
        window=3, max_devices=4, signals=SignalBank(SignalConfig(warmup=3)), wall=lambda: now
    )
    row = np.array([[420.0, 21.0, 45.0]])
    for dev in ("a", "b"):
        assert buf.store([dev], np.array([now + 290.0]), row).codes[0] == STORED
    assert buf.store(["a"], np.array([now]), row).codes[0] == STORED  # one-reading path
    codes = buf.store(["b", "b"], np.array([now, now + 1]), np.r_[row, row]).codes
    assert codes.tolist() == [STORED, STORED]  # batch path
    assert buf.clock_steps == 2  # readings behind the newest (b's second is newer than its first)
    assert buf.info("a")["readings_seen"] == 2 and buf.info("b")["readings_seen"] == 3
    # behind a newest reading within ordinary skew: still out of order, on both paths
    assert buf.store(["c"], np.array([now + CLOCK_STEP_S - 1]), row).codes[0] == STORED
    assert buf.store(["c"], np.array([now]), row).codes[0] == LATE
    assert buf.store(["c", "c"], np.array([now, now + 1]), np.r_[row, row]).codes.tolist() == [
        LATE,
        LATE,
    ]
    # a reading itself still far ahead is no correction of the clock
    assert buf.store(["d"], np.array([now + 200.0]), row).codes[0] == STORED
    assert buf.store(["d"], np.array([now + 201.0]), row).codes[0] == STORED
    assert buf.store(["d"], np.array([now + 100.0]), row).codes[0] == LATE
    assert buf.clock_steps == 2


T0 = 1_800_000_000.0


def test_a_resent_reading_is_a_duplicate_not_stored_twice() -> None:
    """A gateway that resends after a lost reply repeats its newest reading: same ts, same
    values. It is DUPLICATE (not in the window twice, not learned twice), on both paths; the
    same ts with other values is a new reading (a sensor with coarse time stamps)."""
    from app.services.buffers import DUPLICATE, STORED

    buf = make(window=3, max_devices=4)
    row = np.array([[420.0, 21.0, 45.0]])
    assert buf.store(["a"], np.array([T0]), row).codes.tolist() == [STORED]
    assert buf.store(["a"], np.array([T0]), row).codes.tolist() == [DUPLICATE]
    codes = buf.store(["a", "a"], np.array([T0, T0 + 1]), np.r_[row, row]).codes
    assert codes.tolist() == [DUPLICATE, STORED]
    assert buf.store(["a"], np.array([T0 + 1]), row + 1).codes.tolist() == [STORED]
    assert buf.info("a")["readings_seen"] == 3
    # the same reading twice in one message (newcomer): the second is the duplicate
    codes = buf.store(["b", "b", "b"], np.array([T0, T0, T0]), np.r_[row, row, row + 1]).codes
    assert codes.tolist() == [STORED, DUPLICATE, STORED]
    assert buf.info("b")["readings_seen"] == 2
    # cluster mode (strict) refuses any reading not newer as LATE, as before
    assert buf.store(["a"], np.array([T0 + 1]), row + 1, strict=True).codes.tolist() == [1]


def test_readings_stamped_on_receipt_are_never_duplicates() -> None:
    """Readings sent without ``ts`` share the receipt time within a message; equal values
    among them were refused as "duplicate ... (a resend)" (tester of 1 Dec), which they
    cannot be. With ``stamped`` False they are stored, on the batch path and one at a
    time; readings stamped by their sender are still checked."""
    from app.services.buffers import DUPLICATE, STORED

    buf = make(window=3, max_devices=4)
    row = np.array([[420.0, 21.0, 45.0]])
    rows = np.r_[row, row, row]
    ts = np.array([T0, T0, T0])
    no_ts = np.zeros(3, dtype=bool)
    assert buf.store(["a"] * 3, ts, rows, stamped=no_ts).codes.tolist() == [STORED] * 3
    assert buf.info("a")["readings_seen"] == 3
    assert buf.store(["a"], ts[:1], row, stamped=no_ts[:1]).codes.tolist() == [STORED]
    # the same message with ts: the second and third are the duplicates, as before
    codes = buf.store(["b"] * 3, ts, rows, stamped=~no_ts).codes
    assert codes.tolist() == [STORED, DUPLICATE, DUPLICATE]
    assert buf.store(["b"], ts[:1], row).codes.tolist() == [DUPLICATE]


def test_a_resent_batch_of_readings_sharing_time_stamps_stores_none_again() -> None:
    """A device stamping two readings a second alike (2 Hz, whole seconds): a resent batch
    was checked against the newest reading alone, so the other one at the newest stamp was
    stored again, +2 rows a resend (newcomer of 2 Dec). Every reading at the newest stamp
    counts now, on the batch path and one reading at a time, and across a restore the
    newest alone does (the count is not in snapshots)."""
    from app.services.buffers import DUPLICATE, LATE, STORED

    buf = make(window=3, max_devices=4)
    ts = np.repeat(T0 + np.arange(5.0), 2)
    rows = np.c_[420.0 + np.arange(10.0), np.full(10, 21.0), np.full(10, 45.0)]
    assert set(buf.store(["a"] * 10, ts, rows).codes.tolist()) == {STORED}
    again = buf.store(["a"] * 10, ts, rows).codes.tolist()
    assert again == [LATE] * 8 + [DUPLICATE] * 2
    for i in (8, 9, 8):
        assert buf.store(["a"], ts[i : i + 1], rows[i : i + 1]).codes.tolist() == [DUPLICATE]
    assert buf.info("a")["readings_seen"] == 10
    for i in range(10):  # one at a time: the same
        assert buf.store(["b"], ts[i : i + 1], rows[i : i + 1]).codes.tolist() == [STORED]
    assert buf.store(["b", "b"], ts[8:], rows[8:]).codes.tolist() == [DUPLICATE] * 2
    assert buf.store(["b"], ts[9:], rows[9:] + 1).codes.tolist() == [STORED]  # a new value
    assert buf.store(["b"], ts[9:], rows[8:9]).codes.tolist() == [DUPLICATE]


def test_ring_keeps_two_decimal_temperature_and_humidity_exactly() -> None:
    """The ring stores °C and %RH as int16 hundredths: every value of the schema's ranges
    given to two decimals reads back as the float32 a float32 array would have held, finer
    digits within half a hundredth, and gas at float32 precision."""
    from app.services.buffers import Ring

    ring = Ring(4)
    ring.grow(3)
    t = np.arange(-4000, 12501) / 100  # every two-decimal °C in -40 .. 125
    rh = np.arange(0, 10001) / 100
    for vals in (t, rh):
        for a in range(0, len(vals), 4):
            v = vals[a : a + 4]
            rows = np.c_[np.full(len(v), 123.456789), v, v]
            ring[1, : len(rows)] = rows
            got = ring[1, : len(rows)]
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, rows.astype(np.float32))
    fine = np.array([[5e5 + 0.3, 21.123456, 45.678901]])
    ring[2, 3] = fine[0]
    np.testing.assert_allclose(ring[2, 3][1:], fine[0, 1:], atol=0.005)
    assert ring[2, 3].tolist() == Ring.as_stored(fine[0]).tolist()
    assert ring[2, 3][0] == np.float32(5e5 + 0.3) and ring[0, 0].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("batch", [False, True])
def test_a_resend_with_finer_than_hundredths_is_still_a_duplicate(batch: bool) -> None:
    """°C and %RH are kept in hundredths (Ring): a resend of a reading given to three
    decimals (the demo's rounding) compared its float32 values with the rounded stored ones
    and was stored twice."""
    from app.services.windows import DUPLICATE

    buf = make(5, 4)
    row = np.array([[421.123, 21.123, 45.678]])
    assert buf.store(["d"], np.array([100.0]), row).codes.tolist() == [STORED]
    if batch:
        codes = buf.store(["d", "e"], np.array([100.0, 100.0]), np.r_[row, row]).codes
        assert codes.tolist() == [DUPLICATE, STORED]
    else:
        assert buf.store(["d"], np.array([100.0]), row).codes.tolist() == [DUPLICATE]


def test_a_rings_last_readings_by_slices_match_its_index_read() -> None:
    """``Ring.last`` (the one-reading path) gives exactly what indexing the ring with the
    positions of the last k readings gives, wherever the head is, for any k."""
    from app.services.buffers import Ring

    rng = np.random.default_rng(0)
    ring = Ring(60)
    ring.grow(3)
    ring.gas[:] = rng.normal(400, 5, ring.gas.shape).astype(np.float32)
    ring.ambient[:] = rng.integers(-4000, 10_000, ring.ambient.shape).astype(np.int16)
    for s in range(3):
        for head in range(60):
            for k in (1, 7, 59, 60):
                positions = (head - k + np.arange(k)) % 60
                want = ring[s, positions]
                got = ring.last(s, head, k)
                assert got.dtype == want.dtype and np.array_equal(got, want), (s, head, k)


def test_a_reading_is_reported_as_it_was_sent_not_as_its_float32() -> None:
    """Readings kept as float32 come back in the device view (and in alert events, through
    the same ``as_sent``) as the decimals they were sent with (newcomer: 400.1 came back as
    400.1000061035156, an alert's gas 5.37 as 5.369999885559082)."""
    from app.services.windows import as_sent

    buf = make(3, 1)
    buf.store(["a"], np.array([0.0]), np.array([[400.1, 21.37, 45.55]]))
    assert buf.info("a")["last_reading"] == {
        "gas_ppm": 400.1,
        "temperature_c": 21.37,
        "humidity_pct": 45.55,
    }
    for sent in (5.37, 8.117, 2913.3, 0.1, 1e6, 123456.7, -800.25, 0.0):
        assert as_sent(np.float32(sent)) == sent
    assert np.isnan(as_sent(np.float32("nan")))


def test_a_reading_delivered_twice_moments_later_is_a_duplicate_not_stored_twice() -> None:
    """A LoRaWAN uplink heard by two gateways, or a redelivery, each copy stamped on
    arrival: the same values milliseconds to seconds after the first. Stored, each copy was
    a reading of its own (newcomer of 9 Dec: a one-sample glitch of a 300-s device passed
    the running median and raised a leak alert; a copy after a pause made the typical
    interval 0.05 s and the device never warmed up). Within a tenth of the typical interval,
    and within 1 s, the same values are ``TWICE``; later, or other values, a reading. One
    at a time and in batches, sent with or without ``ts``."""
    from app.services.buffers import STORED, TWICE

    buf = make(window=3, max_devices=8)
    row = np.array([[420.0, 21.0, 45.0]])
    one = buf.store
    assert one(["a"], np.array([T0]), row).codes.tolist() == [STORED]
    assert one(["a"], np.array([T0 + 0.05]), row).codes.tolist() == [TWICE]  # interval unknown
    assert one(["a"], np.array([T0 + 300]), row + 1).codes.tolist() == [STORED]
    assert one(["a"], np.array([T0 + 300.04]), row + 1).codes.tolist() == [TWICE]
    assert one(["a"], np.array([T0 + 300.9]), row + 1).codes.tolist() == [TWICE]
    assert one(["a"], np.array([T0 + 301.5]), row + 2).codes.tolist() == [STORED]  # new values
    # a copy a second or more later (a retry after a timeout) is a reading: the same
    # values then are a steady sensor's as much as a copy's
    assert one(["a"], np.array([T0 + 302.5]), row + 2).codes.tolist() == [STORED]
    # a batch holding both copies, sent without ts (stamped on receipt) or with it
    ts, rows = np.array([T0 + 600, T0 + 600.05]), np.r_[row, row]
    no_ts = np.zeros(2, dtype=bool)
    assert one(["a", "a"], ts, rows, stamped=no_ts).codes.tolist() == [STORED, TWICE]
    assert one(["a", "a"], ts + 300, rows).codes.tolist() == [STORED, TWICE]
    assert buf.info("a")["readings_seen"] == 6
    # a steady sensor reads the same values one interval later: a reading
    assert one(["a"], np.array([T0 + 1200]), row).codes.tolist() == [STORED]
    # a steady 10 Hz sensor loses about its first second, once (its interval then starts
    # at 1 s: the reading 0.1 s after that one is at the window's edge)
    ts = T0 + 0.1 * np.arange(100)
    codes = np.array([one(["f"], ts[i : i + 1], row).codes[0] for i in range(100)])
    assert (codes[12:] == STORED).all() and (codes == TWICE).sum() <= 10, codes
    # a steady 1 Hz sensor keeps every reading after a 250-s pause in a backfill, where its
    # typical interval is taken as the pause (a fraction of it alone refused 94 of 100)
    ts = np.r_[T0 + np.arange(100.0), T0 + 350 + np.arange(100.0)]
    codes = np.array([one(["p"], ts[i : i + 1], row).codes[0] for i in range(200)])
    assert (codes == STORED).all(), np.flatnonzero(codes)
    # cluster mode (strict) stores it, as before
    assert one(["c"], np.array([T0]), row, strict=True).codes.tolist() == [STORED]
    assert one(["c"], np.array([T0 + 0.05]), row, strict=True).codes.tolist() == [STORED]


def test_copies_of_every_reading_of_a_slow_device_leave_its_interval_and_warm_up() -> None:
    """Every reading of a 600-s device delivered twice, 0.02-0.08 s apart: the device warms
    up after its warm-up readings, with no restart (before: ``warming_up`` with 287
    restarts after 576 readings, newcomer of 9 Dec), and its typical interval is 600 s."""
    from app.services.buffers import STORED, TWICE

    buf = make(window=3, max_devices=2)
    rng = np.random.default_rng(0)
    for i in range(12):
        ts = T0 + 600.0 * i + np.array([0.0, rng.uniform(0.02, 0.08)])
        rows = np.tile([[420.0 + i % 3, 21.0, 45.0]], (2, 1))
        assert buf.store(["d", "d"], ts, rows).codes.tolist() == [STORED, TWICE]
    info = buf.info("d")
    assert info is not None and info["readings_seen"] == 12, info
    sig = info["signal"]
    assert sig["restarts"] == 0 and sig["state"] == "ready", sig


def test_copies_a_few_seconds_later_of_a_slow_backfilled_device_leave_it_warming_up_once() -> None:
    """The same with the copies 1-5 s later, in a backfill (the jump rule holds each 600-s
    reading until the next places it): the first interval, a copy's, made every later one
    a gap, 199 restarts in 200 readings (newcomer of 9 Dec). The copies are readings (a
    second or more apart), and the device warms up once."""
    import time

    buf = make(window=3, max_devices=2, warmup=10)
    rng = np.random.default_rng(1)
    t0 = time.time() - 40 * 600.0
    for i in range(40):
        row = np.array([[420.0 + rng.normal(0, 4), 21.0, 45.0]])
        for t in (t0 + 600.0 * i, t0 + 600.0 * i + rng.uniform(1.0, 5.0)):
            buf.store(["r"], np.array([t]), row)
    info = buf.info("r")
    assert info is not None and info["readings_seen"] == 80
    assert info["signal"]["restarts"] == 0 and info["signal"]["state"] == "ready", info


@pytest.mark.parametrize("behind_s", [0.0, 3 * 3600.0])
def test_a_device_that_wakes_every_ten_minutes_warms_up_once_live_and_in_a_backfill(
    behind_s: float,
) -> None:
    """A battery device sending 10 readings 1 s apart every 10 min, live and backfilled 3 h
    behind (the jump rule holds each wake-up's first reading until the next places it):
    every wake-up restarted the warm-up, never scored (newcomer of 10 Dec: live, 70 restarts
    in 71 wake-ups). A pause like the one before restarts nothing: one restart, the first
    pause, and the device is ready."""
    import time

    buf = make(window=3, max_devices=2, warmup=60)
    rng = np.random.default_rng(2)
    t0 = time.time() - behind_s - 12 * 600.0
    for i in range(12):
        for j in range(10):
            row = np.array([[420.0 + rng.normal(0, 4), 21.0, 45.0]])
            buf.store(["w"], np.array([t0 + 600.0 * i + j]), row)
    info = buf.info("w")
    assert info is not None and info["readings_seen"] == 120
    assert info["signal"]["restarts"] == 1 and info["signal"]["state"] == "ready", info
