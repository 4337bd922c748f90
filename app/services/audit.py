"""The audit log: who changed what, when (acknowledgements, silences, keys, devices,
webhooks, baseline resets). Stored; read by admins through ``GET /api/audit``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from app.schemas.auth import AuditAction
from app.services.principal import Principal
from app.store.auth import AuditRepo

log = logging.getLogger(__name__)


class AuditLog:
    """Writes and pages audit entries.

    Args:
        repo: the store's ``audit_log`` table.
        clock: wall-clock seconds (``time.time``); tests pass their own.
    """

    def __init__(self, repo: AuditRepo, *, clock: Any = time.time) -> None:
        self.repo = repo
        self.clock = clock

    async def record(
        self,
        who: Principal,
        action: AuditAction,
        *,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Store one entry and log it at INFO (never a key's secret); its ``audit_id``.

        Args:
            who: the key (or the command line) that made the change.
            action: dotted verb, e.g. ``alert.ack``, ``key.create`` (SECURITY.md lists them;
                :data:`app.schemas.auth.AuditAction`, which ``GET /api/audit`` filters by).
            target: what it changed (alert id, key id, device id, silence id).
            detail: small JSON object with the change's parameters.
        """
        audit_id = await self.repo.add(
            {
                "at": self.clock(),
                "actor_key_id": who.key_id,
                "actor_name": who.name,
                "actor_role": who.role.value,
                "action": action,
                "target": target,
                "detail": detail,
            }
        )
        log.info("audit #%d: %s %s by %s", audit_id, action, target or "", who.label)
        return audit_id

    async def newest_id(self) -> int:
        """The newest entry's id (0 = none): the end of the range of cursors."""
        return await self.repo.newest_id()

    async def page(
        self,
        *,
        before: int | None,
        limit: int,
        actions: Sequence[str] | None = None,
        actor_key_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Entries newest first, with ``audit_id < before`` when given."""
        return await self.repo.page(
            before=before, limit=limit, actions=actions, actor_key_id=actor_key_id
        )
