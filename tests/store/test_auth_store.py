"""API keys and the audit log in the store (SQLite, and PostgreSQL under CI)."""

from __future__ import annotations

import pytest

from app.services.audit import AuditLog
from app.services.keys import KeyService, split_key
from app.services.principal import Principal, Role
from app.store import Store

ADMIN = Principal(None, "command line (t@h)", Role.ADMIN)


async def test_keys_are_stored_hashed_and_revocable(store: Store) -> None:
    keys = KeyService(store.keys, AuditLog(store.audit), cache_s=0)
    row, key = await keys.create(role=Role.GATEWAY, name="g", device_prefix="a-", by=ADMIN)
    parts = split_key(key)
    assert parts is not None and parts[0] == row["key_id"]
    stored = await store.keys.get(row["key_id"])
    assert stored is not None and parts[1] not in str(stored) and key not in str(stored)
    assert len(stored["secret_hash"]) == 64
    who = await keys.authenticate(key)
    assert who == Principal(row["key_id"], "g", Role.GATEWAY, "a-")
    assert await keys.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    await keys.revoke(row["key_id"], by=ADMIN)
    assert await keys.authenticate(key) is None
    assert [r["revoked_by"] for r in await keys.list()] == [ADMIN.label]


async def test_audit_pages_newest_first(store: Store) -> None:
    audit = AuditLog(store.audit)
    ids = [await audit.record(ADMIN, f"t.{i}", target=str(i), detail={"i": i}) for i in range(5)]
    assert ids == sorted(ids)
    page = await audit.page(before=None, limit=2)
    assert [r["action"] for r in page] == ["t.4", "t.3"] and page[0]["detail"] == {"i": 4}
    rest = await audit.page(before=page[-1]["audit_id"], limit=10, actions=["t.0", "t.2"])
    assert [r["target"] for r in rest] == ["2", "0"]
    assert rest[0]["actor_key_id"] is None and rest[0]["actor_role"] == "admin"


async def test_a_verified_key_survives_a_store_outage_an_unknown_one_gets_503(
    store: Store,
) -> None:
    from sqlalchemy.exc import OperationalError

    from app.errors import Unavailable

    now = [0.0]
    keys = KeyService(store.keys, AuditLog(store.audit), cache_s=5, clock=lambda: now[0])
    row, key = await keys.create(role=Role.VIEWER, name="v", device_prefix=None, by=ADMIN)
    _, other = await keys.create(role=Role.VIEWER, name="w", device_prefix=None, by=ADMIN)
    assert await keys.authenticate(key) is not None

    async def down(key_id: str) -> None:
        raise OperationalError("SELECT", {}, Exception("database is down"))

    store.keys.get = down  # type: ignore[method-assign]
    now[0] = 60.0  # the cached check is stale: the store would be read
    assert (await keys.authenticate(key)) == Principal(row["key_id"], "v", Role.VIEWER)
    with pytest.raises(Unavailable):
        await keys.authenticate(other)
