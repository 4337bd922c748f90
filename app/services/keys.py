"""API keys: made with 256 random bits, shown once, stored as a SHA-256 hash, checked in
constant time, revocable.

A key reads ``gl_<key_id>_<secret>``: ``key_id`` (16 hex characters) finds the row, and
``sha256(secret)`` is compared with the stored hash by :func:`hmac.compare_digest`. A fast
unsalted hash is the right tool for a high-entropy random secret (NIST SP 800-63B §5.1.1.2
asks for a slow salted hash only for low-entropy secrets chosen by people; GitHub and
Stripe store their tokens this way). ``GASLEAK_BOOTSTRAP_ADMIN_KEY`` is held only in
memory, as its hash, and acts as the admin key ``bootstrap``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.errors import Conflict, NotFound, Unavailable
from app.schemas.times import shown
from app.services.audit import AuditLog
from app.services.principal import Principal, Role
from app.store.auth import KeysRepo

log = logging.getLogger(__name__)
KEY_PREFIX = "gl_"
_KEY = re.compile(r"gl_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
BOOTSTRAP_ID = "bootstrap"
BOOTSTRAP_NAME = "bootstrap admin (GASLEAK_BOOTSTRAP_ADMIN_KEY)"


def digest(secret: str) -> str:
    """SHA-256 of a key's secret part, hex (64 characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """(key_id, secret, the whole key): 64 random id bits, 256 random secret bits."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)  # 32 bytes -> 43 URL-safe characters
    return key_id, secret, f"{KEY_PREFIX}{key_id}_{secret}"


def split_key(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    m = _KEY.fullmatch(key)
    return (m.group(1), m.group(2)) if m else None


def key_view(row: dict[str, Any]) -> dict[str, Any]:
    """A key row as listed (no hash): id, name, role, prefix, created/revoked who and when."""
    return {k: v for k, v in row.items() if k != "secret_hash"}


class KeyService:
    """Creates, lists, revokes and checks API keys.

    Args:
        repo: the store's ``api_keys`` table.
        audit: where key changes are recorded.
        bootstrap: the bootstrap admin key (checked >= 32 characters by the settings) or None.
        cache_s: a verified key is trusted this long without reading the store, s; this
            process forgets a key it revokes at once, other processes within ``cache_s``.
        clock: monotonic seconds, for the cache.
    """

    def __init__(
        self,
        repo: KeysRepo,
        audit: AuditLog,
        *,
        bootstrap: str | None = None,
        cache_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repo = repo
        self.audit = audit
        self._bootstrap = None if bootstrap is None else digest(bootstrap)
        self.cache_s = cache_s
        self.clock = clock
        self._cache: dict[str, tuple[Principal, str, float]] = {}

    async def create(
        self, *, role: Role, name: str, device_prefix: str | None, by: Principal
    ) -> tuple[dict[str, Any], str]:
        """Make a key; (its listed view, the key itself: show it once, it is not kept).

        Raises:
            ValueError: ``device_prefix`` on a role other than gateway.
        """
        if device_prefix is not None and role is not Role.GATEWAY:
            raise ValueError("device_prefix applies to gateway keys only")
        key_id, secret, key = new_key()
        row = {
            "key_id": key_id,
            "name": name,
            "role": role.value,
            "device_prefix": device_prefix,
            "secret_hash": digest(secret),
            "created_at": time.time(),
            "created_by": by.label,
            "revoked_at": None,
            "revoked_by": None,
        }
        await self.repo.add(row)
        await self.audit.record(
            by,
            "key.create",
            target=key_id,
            detail={"name": name, "role": role.value, "device_prefix": device_prefix},
        )
        return key_view(row), key

    async def list(self) -> list[dict[str, Any]]:
        """Every stored key (revoked ones too), oldest first, without hashes."""
        return [key_view(r) for r in await self.repo.all()]

    async def revoke(self, key_id: str, *, by: Principal) -> dict[str, Any]:
        """Revoke a key now (this process refuses it from the next request).

        Raises:
            NotFound: no such key.
            Conflict: already revoked, or the bootstrap key (unset the variable instead).
        """
        if key_id == BOOTSTRAP_ID:
            raise Conflict(
                [
                    {
                        "field": "key_id",
                        "reason": "the bootstrap key comes from GASLEAK_BOOTSTRAP_ADMIN_KEY: "
                        "unset it and restart the service",
                    }
                ]
            )
        if not await self.repo.revoke(key_id, by=by.label, now=time.time()):
            row = await self.repo.get(key_id)
            if row is None:
                raise NotFound(f"key {shown(key_id)} does not exist")
            raise Conflict(
                [{"field": "key_id", "reason": f"key {shown(key_id)} is already revoked"}]
            )
        self._cache.pop(key_id, None)
        await self.audit.record(by, "key.revoke", target=key_id)
        row = await self.repo.get(key_id)
        assert row is not None
        return key_view(row)

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid key; None for an unknown, malformed or revoked one."""
        if self._bootstrap is not None and hmac.compare_digest(digest(key), self._bootstrap):
            return Principal(BOOTSTRAP_ID, BOOTSTRAP_NAME, Role.ADMIN)
        parts = split_key(key)
        if parts is None:
            return None
        found = await self._active(parts[0])
        if found is None or not hmac.compare_digest(digest(parts[1]), found[1]):
            return None
        return found[0]

    async def still_valid(self, who: Principal) -> bool:
        """False once ``who``'s key is revoked (through the same cache: this process knows
        at once, others within ``cache_s``). Open WebSockets ask before each frame."""
        if who.key_id is None or who.key_id == BOOTSTRAP_ID:
            return True
        return await self._active(who.key_id) is not None

    async def _active(self, key_id: str) -> tuple[Principal, str] | None:
        """(principal, secret hash) of an unrevoked key, from the cache while it is fresh.

        Raises:
            Unavailable: the store cannot be read and this key was never verified (503);
                a key verified before stays trusted through a store outage.
        """
        now = self.clock()
        hit = self._cache.get(key_id)
        if hit is not None and now - hit[2] <= self.cache_s:
            return hit[0], hit[1]
        try:
            row = await self.repo.get(key_id)
        except SQLAlchemyError as exc:  # store outage: keep trusting what was verified
            if hit is not None:
                log.warning("key %s: store unreadable (%s); using the cached check", key_id, exc)
                return hit[0], hit[1]
            raise Unavailable("the key store cannot be read; try again") from exc
        if row is None or row["revoked_at"] is not None:
            self._cache.pop(key_id, None)
            return None
        who = Principal(key_id, row["name"], Role(row["role"]), row["device_prefix"])
        self._cache[key_id] = (who, row["secret_hash"], now)
        return who, row["secret_hash"]
