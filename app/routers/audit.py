"""The audit log (admin)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.errors import InvalidRequest, cursor_position
from app.routing import StrictRoute
from app.schemas.auth import KEY_ID_PATTERN, Actor, AuditAction, AuditEntry, AuditPage
from app.schemas.readings import iso
from app.schemas.times import shown
from app.security import AdminDep, AuditDep

router = APIRouter(tags=["auth"], route_class=StrictRoute)


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        audit_id=row["audit_id"],
        at=iso(row["at"]),
        actor=Actor(key_id=row["actor_key_id"], name=row["actor_name"], role=row["actor_role"]),
        action=row["action"],
        target=row["target"],
        detail=row["detail"],
    )


@router.get("/api/audit", response_model=AuditPage, summary="Who changed what, when (admin)")
async def list_audit(
    _: AdminDep,
    audit: AuditDep,
    action: Annotated[
        list[AuditAction] | None, Query(description="Only these actions (repeatable)")
    ] = None,
    key_id: Annotated[
        str | None,
        Query(max_length=32, description="Actor's key id: 16 hex characters, or bootstrap"),
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Acknowledgements, silences, keys, devices, webhooks and baseline resets; newest first."""
    if key_id is not None and not re.fullmatch(KEY_ID_PATTERN, key_id):
        raise InvalidRequest(
            [
                {
                    "field": "key_id",
                    "reason": f"{shown(key_id)} is not a key id: a key id is 16 lowercase hex "
                    "characters, or bootstrap (GET /api/keys lists them)",
                    "type": "string_pattern_mismatch",
                }
            ]
        )
    before = None if cursor is None else cursor_position(cursor, await audit.newest_id())
    rows = await audit.page(before=before, limit=limit + 1, actions=action, actor_key_id=key_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        entries=[_entry(r) for r in rows],
        next_cursor=str(rows[-1]["audit_id"]) if more else None,
    )
