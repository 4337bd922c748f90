"""Alert lifecycle queries and acknowledgement, over the store and the hub."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from app.errors import Conflict, GasleakError, NotFound
from app.schemas.alerts import Acknowledgement, Alert, AlertDetail, AlertEvent, AlertPage
from app.schemas.readings import iso
from app.services.hub import AlertHub
from app.services.policy import AlertPolicy
from app.store import Store


class BadCursor(GasleakError):
    """A pagination cursor that this service did not hand out."""

    status = 422
    error = "invalid_request"


def to_alert(row: dict[str, Any]) -> Alert:
    """A store row -> the wire model (epoch seconds -> RFC 3339)."""
    ack = None
    if row["ack_at"] is not None:
        ack = Acknowledgement(author=row["ack_author"], comment=row["ack_comment"] or "",
                              at=iso(row["ack_at"]))
    return Alert(
        alert_id=row["alert_id"], device_id=row["device_id"], kind=row["kind"],
        state=row["state"], severity=row["severity"], probability=row["probability"],
        gas_ppm=row["gas_ppm"], opened_at=iso(row["opened_ts"]), updated_at=iso(row["updated_ts"]),
        resolved_at=None if row["resolved_ts"] is None else iso(row["resolved_ts"]),
        acknowledged=ack, last_event_id=row["last_event_id"],
    )


class AlertService:
    """Reads alerts and records acknowledgements.

    Args:
        store: the store.
        hub: publishes the ``alert.acknowledged`` event (durably, then fanned out).
        policy: told about the ack so later events of the alert carry its state.
    """

    def __init__(self, *, store: Store, hub: AlertHub, policy: AlertPolicy) -> None:
        self.store = store
        self.hub = hub
        self.policy = policy

    async def list(
        self, *, device_ids: Sequence[str] | None, states: Sequence[str] | None,
        kinds: Sequence[str] | None, severities: Sequence[str] | None,
        opened_from: float | None, opened_to: float | None, cursor: str | None, limit: int,
    ) -> AlertPage:
        """Alerts newest first matching every given filter; ``cursor`` from the last page.

        Raises:
            BadCursor: ``cursor`` is not one this endpoint returned.
        """
        before = None
        if cursor is not None:
            if not cursor.isdigit():
                raise BadCursor([{"field": "cursor", "reason": "not a cursor from this API"}])
            before = int(cursor)
        rows = await self.store.list_alerts(
            device_ids=device_ids, states=states, kinds=kinds, severities=severities,
            opened_from=opened_from, opened_to=opened_to, before_seq=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return AlertPage(alerts=[to_alert(r) for r in rows],
                         next_cursor=str(rows[-1]["seq"]) if more else None,
                         last_event_id=self.hub.last_event_id)

    async def get(self, alert_id: str) -> AlertDetail:
        """One alert with its events.

        Raises:
            NotFound: no such alert.
        """
        row = await self.store.get_alert(alert_id)
        if row is None:
            raise NotFound(f"alert {alert_id!r} does not exist")
        events = await self.store.events_of_alert(alert_id)
        return AlertDetail(**to_alert(row).model_dump(),
                           events=[AlertEvent.model_validate(e) for e in events])

    async def acknowledge(self, alert_id: str, *, author: str, comment: str) -> AlertDetail:
        """Acknowledge an open alert: state ``acknowledged`` until it resolves, and an
        ``alert.acknowledged`` event (stored, then pushed).

        Raises:
            NotFound: no such alert.
            Conflict: the alert is resolved or already acknowledged.
        """
        async with self.store.write_lock:
            row = await self.store.get_alert(alert_id)
            if row is None:
                raise NotFound(f"alert {alert_id!r} does not exist")
            if row["state"] == "resolved":
                raise Conflict(f"alert {alert_id!r} is resolved; nothing to acknowledge")
            if row["state"] == "acknowledged":
                raise Conflict(f"alert {alert_id!r} was already acknowledged by "
                               f"{row['ack_author']!r} at {iso(row['ack_at'])}")
            self.policy.acknowledge(row["device_id"], alert_id)
            body = {"type": "alert.acknowledged", "alert_id": alert_id,
                    "device_id": row["device_id"], "kind": row["kind"],
                    "severity": row["severity"], "state": "acknowledged",
                    "probability": row["probability"], "gas_ppm": row["gas_ppm"],
                    "reason": "acknowledged", "ack": {"author": author, "comment": comment},
                    "ts": time.time(), "model_type": None}
            await self.hub.publish_locked([body], states=self.policy.take_dirty)
        return await self.get(alert_id)
