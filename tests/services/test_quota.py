"""The per-key device quota: a key with a device prefix brings in at most ``limit`` tracked
devices; readings of devices tracked already always pass; evicted ones leave its count."""

from __future__ import annotations

from app.schemas.readings import Reading, Rejected
from app.services.quota import DeviceQuota
from app.slab import SlotIndex


def r(device_id: str) -> Reading:
    return Reading(
        device_id=device_id, ts=1_767_225_600.0, gas_ppm=400, temperature_c=21, humidity_pct=45
    )


def test_new_devices_beyond_the_quota_are_rejected_naming_it() -> None:
    slots = SlotIndex()
    slots.add("shared-1")  # tracked already, brought in by nobody's key
    quota = DeviceQuota(2, slots)
    bad: list[Rejected] = []
    msg = [r("a-1"), r("a-1"), r("a-2"), r("a-3"), r("shared-1")]
    index, kept = quota.admit("k1", range(5), msg, bad)
    assert (index, [x.device_id for x in kept]) == ([0, 1, 2, 4], ["a-1", "a-1", "a-2", "shared-1"])
    [refused] = bad
    assert refused.index == 3 and refused.errors[0]["type"] == "key_device_quota"
    assert "GASLEAK_MAX_DEVICES_PER_KEY" in refused.errors[0]["reason"]
    slots.add("a-2")  # the caller stored a-2; a-1 was refused by the buffers (never a slot)
    assert quota.admit("k2", [0], [r("b-1")], [])[0] == [0]  # another key: its own quota
    slots.add("b-1")
    assert quota.tracked("k1") == 1 and quota.tracked("k2") == 1
    assert quota.admit("k1", [0], [r("a-3")], bad)[0] == [0]  # a-1 never counted
    slots.add("a-3")
    assert quota.admit("k1", [0], [r("a-4")], bad)[0] == []  # full: a-2 and a-3
    slots.remove("a-2")  # evicted: it leaves k1's count at once
    assert quota.tracked("k1") == 1
    assert quota.admit("k1", [0], [r("a-4")], bad)[0] == [0]
    slots.add("a-4")
    assert quota.admit("k1", [0], [r("a-2")], []) == ([], [])  # back, but a new device: full


def test_a_key_s_count_follows_its_devices_slots() -> None:
    """Many devices in and out: the count is the number of tracked devices the key brought in,
    kept in one int32 per slot (no set of ids per key)."""
    slots = SlotIndex()
    quota = DeviceQuota(10_000, slots)
    ids = [f"gw-{i}" for i in range(3000)]
    for a in range(0, 3000, 500):
        kept = quota.admit("k", range(500), [r(d) for d in ids[a : a + 500]], [])[1]
        for x in kept:
            slots.add(x.device_id)
    for d in ids[::3]:
        slots.remove(d)
    assert quota.tracked("k") == 2000 == len(slots)
    assert not hasattr(quota, "_by_key")
