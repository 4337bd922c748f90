"""A per-key cap on the devices a gateway key with a device prefix brings in, so one such key
cannot fill the service's device cap (``GASLEAK_MAX_DEVICES``) on its own and lock every
other gateway's new devices out (newcomer)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.schemas.readings import Reading, Rejected


class DeviceQuota:
    """At most ``limit`` tracked devices brought in by one key.

    A reading of a device that is tracked already (whoever brought it in) is always let
    through and costs the key nothing; a reading of a new device counts against its key. A
    device leaves its key's count once it is no longer tracked (evicted when idle), found
    when the key is at its limit. Counted since start-up, in this process (devices restored
    from snapshots count for nobody). Memory: at most ``limit`` ids per key.

    Args:
        limit: devices per key (``GASLEAK_MAX_DEVICES_PER_KEY``).
        tracked: whether a device id has a ring buffer now.
    """

    def __init__(self, limit: int, tracked: Callable[[str], bool]) -> None:
        self.limit = limit
        self.tracked = tracked
        self._by_key: dict[str, set[str]] = {}

    def admit(
        self, key_id: str, index: Sequence[int], readings: Sequence[Reading], bad: list[Rejected]
    ) -> tuple[list[int], list[Reading]]:
        """The readings the key may store; those of new devices beyond its quota are added
        to ``bad`` (field ``device_id``, type ``key_device_quota``). The caller stores the
        kept readings before it next awaits, so a device admitted here is tracked by the
        next call (or, refused by the buffers, leaves the count when the key is full)."""
        mine = self._by_key.setdefault(key_id, set())
        fresh: set[str] = set()  # new in this message: not stored yet, so not tracked yet
        kept_i: list[int] = []
        kept_r: list[Reading] = []
        for i, r in zip(index, readings, strict=True):
            d = r.device_id
            if d not in mine and not self.tracked(d):
                if len(mine) >= self.limit:  # drop those evicted (or never stored) since
                    mine.intersection_update({x for x in mine if x in fresh or self.tracked(x)})
                if len(mine) >= self.limit:
                    bad.append(Rejected(index=i, errors=[self._error()]))
                    continue
                mine.add(d)
                fresh.add(d)
            kept_i.append(i)
            kept_r.append(r)
        return kept_i, kept_r

    def _error(self) -> dict[str, str]:
        return {
            "field": "device_id",
            "reason": f"this key's device quota is reached ({self.limit} tracked devices "
            "brought in by it, GASLEAK_MAX_DEVICES_PER_KEY); its new devices are refused "
            "until idle ones are evicted",
            "type": "key_device_quota",
        }
