"""The per-key device quota: a key with a device prefix brings in at most ``limit`` tracked
devices; readings of devices tracked already always pass; evicted ones leave its count."""

from __future__ import annotations

from app.schemas.readings import Reading, Rejected
from app.services.quota import DeviceQuota


def r(device_id: str) -> Reading:
    return Reading(
        device_id=device_id, ts=1_767_225_600.0, gas_ppm=400, temperature_c=21, humidity_pct=45
    )


def test_new_devices_beyond_the_quota_are_rejected_naming_it() -> None:
    tracked = {"shared-1"}
    quota = DeviceQuota(2, tracked.__contains__)
    bad: list[Rejected] = []
    msg = [r("a-1"), r("a-1"), r("a-2"), r("a-3"), r("shared-1")]
    index, kept = quota.admit("k1", range(5), msg, bad)
    assert (index, [x.device_id for x in kept]) == ([0, 1, 2, 4], ["a-1", "a-1", "a-2", "shared-1"])
    [refused] = bad
    assert refused.index == 3 and refused.errors[0]["type"] == "key_device_quota"
    assert "GASLEAK_MAX_DEVICES_PER_KEY" in refused.errors[0]["reason"]
    assert quota.admit("k2", [0], [r("b-1")], [])[0] == [0]  # another key: its own quota
    tracked.update({"a-2"})  # a-1 was evicted (or never stored): it leaves k1's count
    assert quota.admit("k1", [0], [r("a-3")], bad)[0] == [0]
