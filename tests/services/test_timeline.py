"""A device's time line survives one bad stamp and a broken gateway clock (newcomer's probes):
the jump rule and the broken-clock rule of :class:`DeviceBuffers` (not strict), on the
one-reading path and the batch path."""

from __future__ import annotations

import numpy as np
import pytest

from app.alerting.safety import SafetyConfig, SafetyRules
from app.ml.signal import SignalConfig, signal_series
from app.services.buffers import CLOCK_FAULT_S, DeviceBuffers
from app.services.signals import SignalBank
from app.services.windows import DUPLICATE, LATE, STORED

NOW = 1_800_000_000.0
Y2000 = 946_684_800.0
ROW = np.array([[420.0, 21.0, 45.0]])


def make(wall: list[float], window: int = 5) -> DeviceBuffers:
    return DeviceBuffers(
        window=window,
        max_devices=8,
        signals=SignalBank(SignalConfig(warmup=window)),
        wall=lambda: wall[0],
    )


def send(buf: DeviceBuffers, d: str, ts: list[float], gas: list[float], batch: bool):
    """Readings one message each, or all in one message: codes, where they were placed."""
    vals = np.c_[gas, np.full(len(gas), 21.0), np.full(len(gas), 45.0)]
    if batch:
        st = buf.store([d] * len(ts), np.array(ts), vals)
        placed = getattr(st, "ts", None)  # (so the test fails on its claim before the fix)
        at = placed if placed is not None else np.array(ts)
        return st.codes.tolist(), at.tolist()
    codes, at = [], []
    for t, v in zip(ts, vals, strict=True):
        st = buf.store([d], np.array([t]), v[None, :])
        codes += st.codes.tolist()
        placed = getattr(st, "ts", None)
        at.append(t if placed is None else float(placed[0]))
    return codes, at


def gas(n: int, seed: int = 0) -> list[float]:
    return (420.0 + np.random.default_rng(seed).normal(0, 3, n)).tolist()


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("outlier", [NOW, NOW + 20.0, NOW + 250.0])
def test_one_outlier_stamp_in_a_backfill_does_not_hold_back_its_device(
    batch: bool, outlier: float
) -> None:
    """A stream backfilled 15 min behind at 1 Hz, with one reading stamped on receipt (no
    ``ts``), 20 s ahead or 250 s ahead of the server clock. It made every later reading
    ``out_of_order`` until the stream caught up (or, 250 s ahead, restarted the warm-up: the
    jump is longer than the gap rule's 300 s). Now every reading is stored, the device is
    not warmed up again, and a leak after it is not learned as the level."""
    buf = make([NOW])
    start = NOW - 900.0
    send(buf, "d", [start + i for i in range(40)], gas(40), batch)
    codes, _ = send(buf, "d", [outlier], [421.0], batch)
    assert codes == [STORED]
    after = [start + 40 + i for i in range(120)]
    leak = gas(10, 1) + [900.0] * 110  # a leak from the 10th reading after the outlier
    codes, at = send(buf, "d", after, leak, batch)
    assert codes == [STORED] * 120 and at == after
    info = buf.info("d")
    assert info["readings_seen"] == 161 and info["signal"]["restarts"] == 0
    assert info["signal"]["state"] == "ready" and info["signal"]["level"] < 450.0
    assert info["last_ts"] == after[-1]


@pytest.mark.parametrize("batch", [False, True])
def test_a_jump_is_placed_by_the_next_reading(batch: bool) -> None:
    """A reading that jumps ahead is stored but not scored until the next reading places it
    (it was scored and became the newest at once); a resend of it is a duplicate; and a
    real pause (the next reading after it) still restarts the warm-up from it."""
    check_a_real_pause_restarts_the_warm_up_from_its_first_reading(batch)
    buf = make([NOW])
    send(buf, "d", [NOW - 100.0 + i for i in range(10)], gas(10), False)
    st = buf.store(["d"], np.array([NOW]), ROW)
    assert st.codes.tolist() == [STORED] and st.windows is None  # placed by the next one
    assert buf.store(["d"], np.array([NOW]), ROW).codes.tolist() == [DUPLICATE]
    st = buf.store(["d"], np.array([NOW - 90.0]), ROW + 1)  # the line goes on before it
    assert st.codes.tolist() == [STORED] and st.windows is not None
    assert buf.store(["d"], np.array([NOW - 95.0]), ROW).codes.tolist() == [LATE]


def check_a_real_pause_restarts_the_warm_up_from_its_first_reading(batch: bool) -> None:
    """A jump that the next reading confirms is a pause of the device: the gap rule restarts
    the warm-up at the jumped reading, as the signal model alone does on the same stream."""
    buf = make([NOW])
    ts = [NOW - 4000.0 + i for i in range(10)] + [NOW + i for i in range(6)]
    g = gas(10) + [float(i) for i in range(6)]
    send(buf, "d", ts[:10], g[:10], batch)
    codes, _ = send(buf, "d", ts[10:], g[10:], batch)
    assert codes == [STORED] * 6
    info = buf.info("d")
    assert info["signal"]["restarts"] == 1 and info["signal"]["state"] == "ready"
    rows = np.c_[g, np.full(16, 21.0), np.full(16, 45.0)].astype(np.float32)
    want = signal_series(rows, np.array(ts), SignalConfig(warmup=5))[-1]
    assert info["signal"]["level"] == pytest.approx(want[1], rel=1e-6)
    assert info["signal"]["noise_scale"] == pytest.approx(want[2], rel=1e-6)


@pytest.mark.parametrize("batch", [False, True])
def test_a_clock_reset_to_2000_is_placed_at_receipt_time(batch: bool) -> None:
    """A gateway whose clock resets to 2000-01-01: every reading was ``out_of_order``. Now,
    once its readings have failed to advance the time line over CLOCK_FAULT_S of server
    time (3 readings at least), they are stored at their receipt time, until a reading
    advances it again."""
    wall = [NOW]
    buf = make(wall)
    send(buf, "d", [NOW - 20.0 + i for i in range(20)], gas(20), batch)
    codes, at = [], []
    for k in range(12):  # one message every 10 s of server time
        wall[0] = NOW + 10.0 * (k + 1)
        c, a = send(buf, "d", [Y2000 + 10.0 * k, Y2000 + 10.0 * k + 5], [420.0, 421.0], batch)
        codes += c
        at += a
    first = codes.index(STORED)
    assert set(codes[:first]) == {LATE} and set(codes[first:]) == {STORED}
    assert 10.0 * (first // 2 + 1) >= CLOCK_FAULT_S  # after 60 s of server time
    assert at[first:] == [NOW + 10.0 * (k // 2 + 1) for k in range(first, 24)]
    assert buf.receipt_stamped == 24 - first
    # the clock is put right: its readings are on their own stamps again
    wall[0] += 1.0
    codes, at = send(buf, "d", [wall[0], wall[0] + 1.0], [420.0, 420.0], batch)
    assert codes == [STORED, STORED] and at == [wall[0], wall[0] + 1.0]
    assert buf.receipt_stamped == 24 - first
    check_cluster_mode_keeps_refusing_older_readings()


def test_a_stuck_clock_is_placed_at_receipt_time_and_resends_stay_duplicates() -> None:
    """Every reading stamped with one time: the readings were stored, but their time never
    advanced, so off-delays in reading time never ended. After CLOCK_FAULT_S they are placed
    at their receipt time; the same reading sent again is still a duplicate."""
    wall = [NOW]
    buf = make(wall)
    rules = SafetyRules(SafetyConfig(off_delay_s=10.0, latch_critical=False))
    at, events = [], []
    for k in range(90):
        wall[0] = NOW + k
        g = 6_000.0 if k < 3 else 420.0 + k % 3  # a threshold alarm, then clean air
        st = buf.store(["d"], np.array([NOW]), np.array([[g, 21.0, 45.0 + k * 0.01]]))
        assert st.codes.tolist() == [STORED]
        placed = getattr(st, "ts", None)
        at.append(NOW if placed is None else float(placed[0]))
        events += rules.check("d", at[-1], g, 21.0, 45.0 + k * 0.01, now=float(k))
    assert at[: int(CLOCK_FAULT_S)] == [NOW] * int(CLOCK_FAULT_S)
    assert at[-1] == NOW + 89 and np.all(np.diff(at[int(CLOCK_FAULT_S) + 1 :]) == 1.0)
    # the alarm resolves once the readings are placed at receipt time (never, before)
    assert [e.type.value for e in events if e.kind == "threshold"] == [
        "alert.raised",
        "alert.resolved",
    ]
    resend = np.array([[420.0 + 89 % 3, 21.0, 45.0 + 89 * 0.01]])
    assert buf.store(["d"], np.array([NOW]), resend).codes.tolist() == [DUPLICATE]


def check_cluster_mode_keeps_refusing_older_readings() -> None:
    """Cluster mode (strict): an older reading is a redelivery, whatever the clock."""
    wall = [NOW]
    buf = make(wall)
    buf.store(["d"], np.array([NOW]), ROW, strict=True)
    assert buf.store(["d"], np.array([NOW + 500.0]), ROW, strict=True).codes.tolist() == [STORED]
    for k in range(10):
        wall[0] = NOW + 30.0 * k
        st = buf.store(["d"], np.array([Y2000 + k]), ROW, strict=True)
        assert st.codes.tolist() == [LATE]


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("behind", [2.0, 1800.0])
def test_a_device_that_reports_less_often_keeps_being_scored(batch: bool, behind: float) -> None:
    """1 Hz, then one reading every 6 s: live (2 s behind the server clock) or backfilled
    (30 min behind). Every slow reading jumped 6 typical intervals, was held back as an
    unconfirmed jump, confirmed one against the old newest, and was held back again, so the
    device's windows stopped for good and the gap rule restarted its warm-up every 300 s (a
    3,000 ppm leak raised nothing for an hour: newcomer). Now each slow reading is placed and
    gets its window, and the warm-up is never restarted."""
    wall = [NOW]
    buf = make(wall)
    t0 = NOW - behind - 120
    ts = [t0 + i for i in range(60)] + [t0 + 60 + 6 * i for i in range(1, 11)]
    windows = 0
    for a, b in ((0, 60), (60, 70)):  # the fast part, then the slow part
        if batch:  # each part in one message, sent as its last reading is taken
            wall[0] = ts[b - 1] + behind
            vals = np.c_[gas(b - a, a), np.full(b - a, 21.0), np.full(b - a, 45.0)]
            st = buf.store(["d"] * (b - a), np.array(ts[a:b]), vals)
            assert st.codes.tolist() == [STORED] * (b - a)
            windows = 0 if st.windows is None else len(st.windows)
            continue
        windows = 0
        for k in range(a, b):
            wall[0] = ts[k] + behind
            st = buf.store(["d"], np.array([ts[k]]), np.array([[gas(1, k)[0], 21.0, 45.0]]))
            assert st.codes.tolist() == [STORED]
            windows += 0 if st.windows is None else len(st.windows)
    # one window for each slow reading (the first may wait for the second to place it)
    assert windows >= 9
    s = buf.slot_for("d")
    assert buf.signals.states.restarts[s] == 0 and buf.signals.states.last_ts[s] == ts[-1]


@pytest.mark.parametrize("batch", [False, True])
def test_a_backlog_sent_newest_first_is_refused_from_its_second_reading(batch: bool) -> None:
    """A 30-s device backfilled 3 h behind, then a 30-min backlog sent newest first, one
    reading a message (``batch``: each beside another device's reading, the batch path).
    Every reading was stored, each as the pending jump in place of the one before it, so
    none was placed or scored, and the next reading confirmed a 30-min gap (newcomer of 2
    Dec). Now the readings after the first, each within a jump of the one refused before
    it, are refused (``LATE``) while the first stays pending, and resent oldest first they
    are all placed. A backlog sent oldest first after the live reading, and a reading after
    one stamped ahead of the server clock, are stored as before."""
    wall = [NOW]
    buf = make(wall)
    start = NOW - 3 * 3600.0
    send(buf, "d", [start + 30.0 * i for i in range(20)], gas(20), True)
    last = start + 30.0 * 19
    back = [last + 30.0 * (i + 1) for i in range(60)]
    codes = []
    for k, t in enumerate(reversed(back)):
        ids = ["d", "other"] if batch else ["d"]
        rows = np.array([[420.0 + k % 3, 21.0, 45.0], [430.0 + k % 3, 21.0, 45.0]])[: len(ids)]
        st = buf.store(ids, np.array([t, NOW + k][: len(ids)]), rows)
        codes.append(int(st.codes[0]))
    assert codes[::-1] == [LATE] * 59 + [STORED], codes
    assert buf.info("d")["last_ts"] == last and buf.info("d")["signal"]["restarts"] == 0
    # resent oldest first: placed in time order, no gap
    c, at = send(buf, "d", back[:59], gas(59), batch)
    assert c == [STORED] * 59 and at == back[:59]
    assert buf.info("d")["last_ts"] == back[58] and buf.info("d")["signal"]["restarts"] == 0
    # the live reading first, then the backlog oldest first: as before (the first of the
    # backlog replaces the live reading as the pending jump, the rest place it)
    buf = make(wall)
    send(buf, "d", [start + 30.0 * i for i in range(20)], gas(20), True)
    c, _ = send(buf, "d", [back[-1] + 30.0] + back[10:], gas(51), False)
    assert c == [STORED] * 51
    # a reading stamped 250 s ahead, then a pause of the backfill: replaced as before
    buf = make(wall)
    send(buf, "d", [start + 30.0 * i for i in range(20)], gas(20), True)
    c, _ = send(buf, "d", [NOW + 250.0, back[30], back[30] + 30.0], gas(3), False)
    assert c == [STORED] * 3 and buf.info("d")["last_ts"] == back[30] + 30.0
