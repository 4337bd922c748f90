"""Ring buffers: window order, stride, fixed memory, cap and eviction."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.buffers import DeviceBuffers, DeviceCapReached


def fill(buf: DeviceBuffers, device: str, n: int, start: float = 0.0) -> list:
    return [buf.append(device, start + i, (float(i), 20.0, 40.0)) for i in range(n)]


def test_window_is_last_readings_oldest_first() -> None:
    buf = DeviceBuffers(window=4, max_devices=10)
    out = fill(buf, "a", 10)
    assert out[:3] == [None, None, None]
    np.testing.assert_array_equal(out[3].values[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[9].values[:, 0], [6, 7, 8, 9])
    assert out[9].values.dtype == np.float32 and out[9].values.shape == (4, 3)
    assert out[9].ts == 9.0


def test_snapshot_is_a_copy() -> None:
    buf = DeviceBuffers(window=3, max_devices=10)
    w = fill(buf, "a", 3)[-1]
    fill(buf, "a", 3, start=3)
    np.testing.assert_array_equal(w.values[:, 0], [0, 1, 2])


def test_stride() -> None:
    buf = DeviceBuffers(window=3, max_devices=10, stride=2)
    out = fill(buf, "a", 9)
    assert [i for i, w in enumerate(out) if w is not None] == [2, 4, 6, 8]


def test_devices_do_not_mix() -> None:
    buf = DeviceBuffers(window=2, max_devices=10)
    buf.append("a", 0, (1.0, 0, 0))
    buf.append("b", 0, (100.0, 0, 0))
    w = buf.append("a", 1, (2.0, 0, 0))
    np.testing.assert_array_equal(w.values[:, 0], [1, 2])
    assert buf.info("b")["buffer_fill"] == 1


def test_cap_and_eviction_free_slots() -> None:
    buf = DeviceBuffers(window=2, max_devices=3)
    for d in "abc":
        buf.append(d, 0, (1.0, 0, 0))
    with pytest.raises(DeviceCapReached):
        buf.append("d", 0, (1.0, 0, 0))
    assert buf.evict_idle(idle_s=0.0, keep={"b"}) == ["a", "c"]
    assert len(buf) == 1 and "b" in buf
    buf.append("d", 0, (1.0, 0, 0))
    assert buf.info("d")["readings_seen"] == 1
    assert buf.info("a") is None


def test_memory_is_fixed_per_device() -> None:
    buf = DeviceBuffers(window=60, max_devices=5000)
    fill(buf, "a", 500)
    before = buf.nbytes()
    fill(buf, "a", 500, start=500)
    assert buf.nbytes() == before
    assert buf.nbytes() / buf.capacity < 60 * 3 * 4 + 64


def test_baseline_tracks_down_fast_up_slow() -> None:
    buf = DeviceBuffers(window=2, max_devices=1)
    buf.append("a", 0, (400.0, 20, 40))
    buf.append("a", 1, (4000.0, 20, 40))
    assert buf.info("a")["gas_baseline"] == pytest.approx(400.0 + 3600 / 21600, rel=1e-3)
    buf.append("a", 2, (300.0, 20, 40))
    assert buf.info("a")["gas_baseline"] == 300.0
