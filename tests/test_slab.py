"""Per-device state in slabs: the slot index, its listeners, and what a device in the default
state keeps (no object of its own in the signal models, safety rules, leak policy or profiles).
"""

from __future__ import annotations

import math
import random
from array import array

import numpy as np
import pytest

from app.alerting.leak import AlertPolicy, PolicyConfig
from app.alerting.profiles import DEFAULT_PROFILE, DeviceProfile, Profiles
from app.alerting.safety import SafetyConfig, SafetyRules
from app.ml.signal import SignalConfig
from app.services.buffers import DeviceBuffers
from app.services.signals import SignalBank
from app.slab import Columns, SlotIndex


class Log:
    """A listener that records what the index tells it."""

    def __init__(self, index: SlotIndex) -> None:
        self.index = index
        self.capacity = 0
        self.cleared: list[tuple[int, str | None]] = []

    def grow(self, capacity: int) -> None:
        self.capacity = capacity

    def clear(self, slot: int) -> None:
        self.cleared.append((slot, self.index.owner(slot)))


def test_index_matches_a_dict_through_adds_removes_and_rehashes() -> None:
    rng = random.Random(0)
    index, model = SlotIndex(), {}
    for step in range(20_000):
        d = f"dev-{rng.randrange(3000)}"
        if rng.random() < 0.35 and d in model:
            assert index.remove(d) == model.pop(d)
        else:
            s = index.add(d)
            assert model.setdefault(d, s) == s
        if step % 997 == 0:
            assert all(index.get(k) == v for k, v in model.items())
    assert len(index) == len(model) and set(index) == set(model)
    assert all(index.owner(s) == d for d, s in model.items())
    assert sorted(model.values()) == sorted(set(model.values()))  # one slot per device
    assert index.get("never-seen") is None and "never-seen" not in index
    assert np.flatnonzero(index.used()).tolist() == sorted(model.values())


def test_ids_that_prefix_each_other_and_heavy_churn_keep_their_slots() -> None:
    """Ids live back to back in one buffer: "d1" must not match the start of "d12", a
    reused slot must name its new device, and removed ids' bytes must not pile up."""
    rng = random.Random(1)
    index, model = SlotIndex(), {}
    for _ in range(30_000):
        d = "d" + "1" * rng.randrange(1, 40)  # d1, d11, d111, ...: each a prefix of the next
        if rng.random() < 0.5 and d in model:
            assert index.remove(d) == model.pop(d)
        else:
            assert model.setdefault(d, index.add(d)) == index.get(d)
        assert len(index._ids) <= 2 * sum(map(len, model)) + 4096 + 40
    assert all(index.owner(s) == d and index.get(d) == s for d, s in model.items())
    assert set(index) == set(model) and "d" not in index
    with pytest.raises(ValueError, match="device_id"):
        index.add("x" * 40_000)


def test_freed_slots_are_reused_and_listeners_see_the_leaving_device() -> None:
    index = SlotIndex()
    log = Log(index)
    index.attach(log)
    a, b = index.add("a"), index.add("b")
    assert log.capacity >= 2 and a != b
    assert index.remove("a") == a and log.cleared == [(a, "a")]
    assert index.owner(a) is None and index.remove("a") is None
    assert index.add("c") == a  # the freed slot


def test_capacity_stops_at_max_slots() -> None:
    index = SlotIndex(max_slots=3)
    for d in "abc":
        index.add(d)
    assert index.capacity == 3
    with pytest.raises(OverflowError):
        index.add("d")


def test_columns_grow_with_defaults_and_clear() -> None:
    cols = Columns({"x": ("d", math.nan), "k": ("i", 7)})
    cols.grow(4)
    cols.col("x")[1] = 2.5
    cols.col("k")[1] = 1
    cols.grow(6)
    assert cols.col("x")[1] == 2.5 and math.isnan(cols.col("x")[5])
    assert list(cols.col("k")) == [7, 1, 7, 7, 7, 7]
    cols.clear(1)
    assert math.isnan(cols.view("x")[1]) and cols.col("k")[1] == 7
    assert cols.row_bytes() == 12 and len(cols.col("x")) == 6


def test_default_state_devices_keep_no_object_of_their_own() -> None:
    """1,000 devices with clean readings: everything per device is in slot columns."""
    cfg = SignalConfig(warmup=5)
    buf = DeviceBuffers(window=5, max_devices=2000, signals=SignalBank(cfg))
    profiles = Profiles(low_ppm=5000, high_ppm=12500, index=buf.index)
    rules = SafetyRules(profiles=profiles, index=buf.index)
    policy = AlertPolicy(PolicyConfig(), "t")
    ids = [f"d{i}" for i in range(1000)]
    for k in range(8):
        ts = np.full(len(ids), 1000.0 + k)
        vals = np.tile([420.0 + k % 2, 21.0, 45.0], (len(ids), 1))
        windows = buf.store(ids, ts, vals).windows
        for d, t, (g, temp, rh) in zip(ids, ts.tolist(), vals.tolist(), strict=True):
            assert rules.check(d, t, g, temp, rh, now=float(k)) == []
            profiles.set(d, DEFAULT_PROFILE)
        for w in windows or []:
            assert policy.update(w.device_id, 0.05, w.ts) is None
            buf.signals.set_probability(w.device_id, 0.05)
    assert policy.states == {} and rules.count_open() == 0
    assert rules._open == {} and rules._watched == {}
    assert profiles._by_id == {} and profiles._default == set()
    assert "d7" in profiles and len(profiles) == 1000 and profiles.ids()[:2] == ["d0", "d1"]
    s = buf.index.get("d7")
    assert s is not None and buf.signals.states.warm(s)
    assert isinstance(buf.signals.states.level, array) and isinstance(rules.rows.gas, array)
    assert buf.signals.probability("d7") == 0.05
    assert rules.device_ids() == set(ids)


def test_eviction_clears_every_holder_and_keeps_the_registration() -> None:
    now = [0.0]
    buf = DeviceBuffers(
        window=3, max_devices=4, signals=SignalBank(SignalConfig(warmup=3)), clock=lambda: now[0]
    )
    profiles = Profiles(low_ppm=5000, high_ppm=12500, index=buf.index)
    rules = SafetyRules(profiles=profiles, index=buf.index)
    profiles.set("keep-me", DeviceProfile(gas="methane"))
    for d in ("a", "keep-me"):
        buf.store([d] * 3, np.arange(3.0), np.tile([420.0, 21.0, 45.0], (3, 1)))
        for t in range(3):
            rules.check(d, float(t), 420.0, 21.0, 45.0, now=0.0)
        profiles.set(d, profiles.get(d))
        buf.signals.set_probability(d, 0.5)
    slot, other = buf.index.get("a"), buf.index.get("keep-me")
    assert slot is not None and other is not None
    now[0] = 100.0
    assert sorted(buf.evict_idle(idle_s=10.0)) == ["a", "keep-me"]
    assert buf.signals.probability("a") is None and math.isinf(rules.rows.last_seen[slot])
    assert math.isnan(buf.signals.states.level[slot]) and buf.signals.states.n[slot] == 0
    assert "a" in profiles and profiles.get("keep-me").gas == "methane"  # still registered
    assert profiles.ids() == ["a", "keep-me"] and rules.device_ids() == set()
    buf.store(["b"], np.array([5.0]), np.array([[400.0, 20.0, 40.0]]))
    assert buf.index.get("b") in (slot, other)  # a freed slot, with none of its old state
    assert buf.info("b")["readings_seen"] == 1 and buf.info("b")["signal"]["restarts"] == 0


def test_store_known_devices_move_from_the_set_to_a_mark_when_they_get_a_slot() -> None:
    buf = DeviceBuffers(window=3, max_devices=4, signals=SignalBank(SignalConfig(warmup=3)))
    profiles = Profiles(low_ppm=5000, high_ppm=12500, index=buf.index)
    profiles.set("old", DEFAULT_PROFILE)  # loaded from the store at start-up: no slot yet
    assert profiles._default == {"old"} and "old" in profiles
    buf.store(["old"], np.array([1.0]), np.array([[420.0, 21.0, 45.0]]))
    assert "old" in profiles and profiles._default == set()  # now one byte in its slot
    assert profiles.ids() == ["old"] and len(profiles) == 1


def test_a_device_watched_without_a_slot_stays_silent_until_its_first_reading() -> None:
    """Start-up in the service: the slots are the ring buffers', the store's devices have
    none yet. The silent fault is raised from the side dict, and the first reading (after
    the buffers gave the device a slot) carries it into the slot and ends it."""
    buf = DeviceBuffers(window=3, max_devices=4, signals=SignalBank(SignalConfig(warmup=3)))
    rules = SafetyRules(SafetyConfig(silent_s=60, off_delay_s=0), index=buf.index)
    rules.watch(["quiet"], now=0.0)
    assert buf.index.get("quiet") is None and rules.device_ids() == {"quiet"}
    [raised] = rules.silent(61.0, wall_ts=1000.0)
    assert (raised.device_id, raised.reason, raised.ts) == ("quiet", "silent", 1000.0)
    assert rules.silent(62.0, wall_ts=1000.0) == []
    buf.store(["quiet"], np.array([1100.0]), np.array([[420.0, 21.0, 45.0]]))
    [resolved] = rules.check("quiet", 1100.0, 420.0, 21.0, 45.0, now=70.0)
    assert (resolved.type, resolved.alert_id) == ("alert.resolved", raised.alert_id)
    assert rules._watched == {} and rules.count_open() == 0
    assert rules.silent(129.0, wall_ts=1000.0) == []  # watched from its slot now
    [again] = rules.silent(131.0, wall_ts=1000.0)
    assert again.ts == 1100.0 and again.gas_ppm == 420.0
