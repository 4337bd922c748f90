"""Outbound webhook delivery state."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.deps import DeliveriesDep
from app.errors import cursor_position
from app.routing import StrictRoute
from app.schemas.alerts import MAX_ID, Delivery, DeliveryPage
from app.schemas.readings import iso
from app.security import ADMIN_ONLY

router = APIRouter(tags=["webhooks"], route_class=StrictRoute)


def _iso(t: float | None) -> str | None:
    return None if t is None else iso(t)


def _delivery(row: dict[str, Any]) -> Delivery:
    times = ("created_at", "last_attempt_at", "delivered_at")
    return Delivery(
        **{
            **row,
            **{k: _iso(row[k]) for k in times},
            "next_attempt_at": _iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        }
    )


@router.get(
    "/api/webhooks/deliveries",
    response_model=DeliveryPage,
    summary="Webhook deliveries and their state (admin: receiver URLs may hold tokens)",
    dependencies=[ADMIN_ONLY],
)
async def list_deliveries(
    deliveries: DeliveriesDep,
    url: str | None = None,
    status: Literal["pending", "delivered", "expired"] | None = None,
    event_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    # a string checked by app.errors.cursor_position, as on /api/alerts and /api/audit: an
    # int parameter answered "abc", "" and "1e3" with pydantic's parse error, -1 with ">= 0"
    # (0 is refused too) and read "1_0" as 10
    cursor: Annotated[str | None, Query(description="next_cursor of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryPage:
    """Oldest first; ``receivers`` counts every delivery per URL and status."""
    after = None if cursor is None else cursor_position(cursor, await deliveries.newest_id())
    rows = await deliveries.list(
        url=url, status=status, event_id=event_id, after_id=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        deliveries=[_delivery(r) for r in rows],
        next_cursor=str(rows[-1]["delivery_id"]) if more else None,
        receivers=await deliveries.counts(),
    )
