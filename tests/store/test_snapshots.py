"""Device snapshots through a real store (SQLite, and PostgreSQL in CI): a restored device
continues exactly as the original would have; other layouts, old rows and the readings
history after the save are handled."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.signal import SignalConfig
from app.services import snapshots as snapshots_service
from app.services.buffers import DeviceBuffers
from app.services.signals import SignalBank
from app.services.snapshots import Snapshots
from app.store.repo import Store
from app.store.snapshots import S

CFG = SignalConfig(warmup=10)
T0 = 1_800_000_000.0
NONE_REBUILT = {"rebuilt": 0, "rebuilt_readings": 0}


def buffers() -> DeviceBuffers:
    return DeviceBuffers(window=10, max_devices=8, signals=SignalBank(CFG))


def readings(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gas = 420 + rng.normal(0, 2, n)
    return np.arange(n, dtype=float), np.c_[gas, 21 + rng.normal(0, 0.1, n), np.full(n, 45.0)]


def feed(buf: DeviceBuffers, device: str, ts: np.ndarray, vals: np.ndarray) -> list:
    """One reading at a time; the (level, scale) and the window of each reading."""
    out = []
    for t, v in zip(ts, vals, strict=True):
        st = buf.store([device], np.array([T0 + t]), v[None, :])
        s = buf.index.get(device)
        w = None if st.windows is None else st.windows.values[0].tolist()
        out.append((buf.signals.states.level[s], buf.signals.states.scale[s], w))
    return out


async def test_a_restored_device_continues_as_the_original(store: Store) -> None:
    ts, vals = readings(80, 1)
    a = buffers()
    feed(a, "d1", ts[:37], vals[:37])  # ring wrapped, signal warm
    feed(a, "d2", ts[:4], vals[:4])  # still warming up
    snaps = Snapshots(store.snapshots, a, keep_s=3600, wall=lambda: T0 + 40)
    assert await snaps.save() == 2
    assert await snaps.save() == 0  # nothing changed since
    b = buffers()
    done = await Snapshots(store.snapshots, b, keep_s=3600, wall=lambda: T0 + 41).restore()
    assert done == {"devices": 2, "replayed": 0, "skipped": 0} | NONE_REBUILT
    for dev, k in (("d1", 37), ("d2", 4)):
        np.testing.assert_equal(feed(b, dev, ts[k:], vals[k:]), feed(a, dev, ts[k:], vals[k:]))
    sa, sb = a.index.get("d1"), b.index.get("d1")
    np.testing.assert_equal(a.signals.states.export(sa), b.signals.states.export(sb))


async def test_restore_replays_the_history_after_the_save_and_skips_other_layouts(
    store: Store,
) -> None:
    ts, vals = readings(40, 2)
    a = buffers()
    feed(a, "d1", ts[:20], vals[:20])
    await Snapshots(store.snapshots, a, keep_s=3600, wall=lambda: T0 + 20).save()
    later = feed(a, "d1", ts[20:], vals[20:])  # accepted, in the history, not saved
    await store.readings.add(
        [("d1", T0 + t, *map(float, v)) for t, v in zip(ts[10:], vals[10:], strict=True)]
    )
    b = buffers()
    done = await Snapshots(store.snapshots, b, keep_s=3600, wall=lambda: T0 + 41).restore()
    # only those after the save
    assert done == {"devices": 1, "replayed": 20, "skipped": 0} | NONE_REBUILT
    assert b.info("d1")["readings_seen"] == 40
    assert b.signals.states.level[b.index.get("d1")] == later[-1][0]
    # a model with another window: its rows are not restored (the device warms up again)
    c = DeviceBuffers(window=12, max_devices=8, signals=SignalBank(SignalConfig(warmup=12)))
    done = await Snapshots(store.snapshots, c, keep_s=3600, wall=lambda: T0 + 41).restore()
    assert done == {"devices": 0, "replayed": 0, "skipped": 1} | NONE_REBUILT and len(c) == 0


async def test_rows_older_than_keep_s_are_neither_restored_nor_kept(store: Store) -> None:
    ts, vals = readings(15, 3)
    a = buffers()
    feed(a, "old", ts, vals)
    await Snapshots(store.snapshots, a, keep_s=100, wall=lambda: T0).save()
    b = buffers()
    late = Snapshots(store.snapshots, b, keep_s=100, wall=lambda: T0 + 500)
    assert (await late.restore())["devices"] == 0
    feed(b, "new", ts, vals)
    await late.save()  # prunes the old row
    async with store.engine.connect() as conn:
        ids = (await conn.execute(S.select().with_only_columns(S.c.device_id))).scalars().all()
    assert ids == ["new"]


async def test_a_fleet_larger_than_a_chunk_is_saved_and_restored_in_pages(store: Store) -> None:
    """Saves go 500 devices a transaction and restores read 500 rows a page, so neither
    holds the whole fleet in memory; every device comes back."""
    from app.store.snapshots import CHUNK

    n = 2 * CHUNK + 100
    a = DeviceBuffers(window=10, max_devices=n, signals=SignalBank(CFG))
    ids = [f"dev-{i:05d}" for i in range(n)]
    for k in range(12):
        a.store(ids, np.full(n, T0 + k), np.c_[np.full(n, 420.0 + k % 3), np.ones(n), np.ones(n)])
    calls: list[int] = []
    write = store.snapshots.write

    async def counted(rows):  # noqa: ANN001
        calls.append(len(rows))
        await write(rows)

    store.snapshots.write = counted  # type: ignore[method-assign]
    assert await Snapshots(store.snapshots, a, keep_s=3600, wall=lambda: T0 + 20).save() == n
    assert calls == [CHUNK, CHUNK, 100]
    b = DeviceBuffers(window=10, max_devices=n, signals=SignalBank(CFG))
    done = await Snapshots(store.snapshots, b, keep_s=3600, wall=lambda: T0 + 21).restore()
    assert done["devices"] == n and sorted(b.device_ids()) == ids
    s = b.index.get(ids[-1])
    np.testing.assert_equal(
        b.signals.states.export(s), a.signals.states.export(a.index.get(ids[-1]))
    )


async def test_the_last_probability_is_kept_and_a_row_without_one_loads_unknown(
    store: Store,
) -> None:
    """The device's last leak probability comes back with its snapshot, also one scored
    after the save of its last reading; a row saved before the column (migration 0007: null)
    loads with the probability unknown."""
    ts, vals = readings(15, 4)
    a = buffers()
    feed(a, "d1", ts, vals)
    feed(a, "d2", ts, vals)
    snaps = Snapshots(store.snapshots, a, keep_s=3600, wall=lambda: T0 + 20)
    assert await snaps.save() == 2
    a.signals.set_probability("d1", 0.25)  # its window scored after the save
    assert await snaps.save() == 1
    assert await snaps.save() == 0
    async with store.engine.begin() as conn:  # d2 as saved before the column
        await conn.execute(S.update().where(S.c.device_id == "d2").values(probability=None))
    b = buffers()
    done = await Snapshots(store.snapshots, b, keep_s=3600, wall=lambda: T0 + 21).restore()
    assert done == {"devices": 2, "replayed": 0, "skipped": 0} | NONE_REBUILT
    assert b.signals.probability("d1") == 0.25
    assert b.signals.probability("d2") is None


async def test_a_device_without_a_snapshot_is_rebuilt_from_its_history(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device first seen after the last save of a process that was then killed (kill -9
    within ``snapshot_interval_s`` of its first reading) had no snapshot, and warmed up
    afresh after the restart: a leak that began then became its level (newcomer of 2 Dec).
    Its readings history within ``keep_s`` is learned now, as after a snapshot (its last
    ``HISTORY_READINGS``). Devices not registered, heard from before ``keep_s``, or with a
    snapshot (of any layout) are left out."""
    ts, vals = readings(40, 6)
    a = buffers()
    feed(a, "saved", ts[:20], vals[:20])
    await Snapshots(store.snapshots, a, keep_s=3600, wall=lambda: T0 + 20).save()
    want = feed(a, "new", ts, vals)[-1][:2]  # never saved
    feed(a, "saved", ts[20:], vals[20:])
    rows = [
        (d, T0 + t, *map(float, v))
        for d in ("saved", "new", "stray")
        for t, v in zip(ts, vals, strict=True)
    ]
    rows += [("old", T0 - 5000 + t, *map(float, v)) for t, v in zip(ts, vals, strict=True)]
    await store.readings.add(rows)
    await store.devices.add(["saved", "new", "old"], T0)  # "stray": not registered
    b = buffers()
    done = await Snapshots(store.snapshots, b, keep_s=3600, wall=lambda: T0 + 41).restore()
    assert done == {
        "devices": 1,
        "replayed": 20,
        "skipped": 0,
        "rebuilt": 1,
        "rebuilt_readings": 40,
    }
    assert sorted(b.device_ids()) == ["new", "saved"]
    s = b.index.get("new")
    assert (b.signals.states.level[s], b.signals.states.scale[s]) == want
    assert b.info("new")["readings_seen"] == 40
    np.testing.assert_equal(b.snapshot(s), a.snapshot(a.index.get("new")))
    # bounded: the last HISTORY_READINGS of them; a device saved by another model (another
    # layout) warms up again, as before
    monkeypatch.setattr(snapshots_service, "HISTORY_READINGS", 15)
    c = DeviceBuffers(window=12, max_devices=8, signals=SignalBank(SignalConfig(warmup=12)))
    done = await Snapshots(store.snapshots, c, keep_s=3600, wall=lambda: T0 + 41).restore()
    assert done["skipped"] == 1 and done["rebuilt"] == 1 and done["rebuilt_readings"] == 15
    assert c.device_ids() == ["new"] and c.info("new")["readings_seen"] == 15
