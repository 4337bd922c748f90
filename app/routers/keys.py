"""API keys (admin) and WebSocket tickets (any key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from app.deps import SettingsDep
from app.errors import InvalidRequest
from app.routing import StrictRoute
from app.schemas.auth import KeyCreated, KeyIn, KeyList, KeyOut, Me, WsTicket
from app.schemas.readings import iso
from app.security import AdminDep, KeysDep, TicketsDep, get_principal
from app.services.principal import Principal

router = APIRouter(tags=["auth"], route_class=StrictRoute)


def key_out(row: dict[str, Any]) -> dict[str, Any]:
    """A key row (no hash) with RFC 3339 times."""
    revoked = row["revoked_at"]
    return {
        **row,
        "created_at": iso(row["created_at"]),
        "revoked_at": None if revoked is None else iso(revoked),
    }


@router.get("/api/keys", response_model=KeyList, summary="Every API key (admin)")
async def list_keys(_: AdminDep, keys: KeysDep, settings: SettingsDep) -> KeyList:
    """Oldest first, revoked ones too; never a key's secret."""
    rows = await keys.list()
    return KeyList(
        keys=[KeyOut(**key_out(r)) for r in rows],
        bootstrap_key=settings.bootstrap_admin_key is not None,
    )


@router.post(
    "/api/keys",
    response_model=KeyCreated,
    status_code=201,
    summary="Make an API key (admin); the key is in this answer only",
)
async def create_key(body: KeyIn, who: AdminDep, keys: KeysDep) -> KeyCreated:
    """Only its SHA-256 hash is stored: keep the ``key`` now, it cannot be shown again."""
    try:
        row, key = await keys.create(
            role=body.role, name=body.name, device_prefix=body.device_prefix, by=who
        )
    except ValueError as exc:
        # a body field refused: "invalid_request", as every other body field of this route
        # (invalid_body is the readings routes' "not readings at all": newcomer of 9 Dec)
        raise InvalidRequest([{"field": "device_prefix", "reason": str(exc)}]) from None
    return KeyCreated(**key_out(row), key=key)


@router.delete(
    "/api/keys/{key_id}",
    response_model=KeyOut,
    responses={404: {"description": "No such key"}, 409: {"description": "Already revoked"}},
    summary="Revoke an API key (admin)",
)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=32)], who: AdminDep, keys: KeysDep
) -> KeyOut:
    """Refused from the next request on (other processes: within ``key_cache_s``)."""
    return KeyOut(**key_out(await keys.revoke(key_id, by=who)))


@router.get("/api/me", response_model=Me, summary="The key this request was made with")
async def me(who: Annotated[Principal, Depends(get_principal)]) -> Me:
    """Any valid key: its id, name, role and device prefix (never the key itself)."""
    return Me(key_id=who.key_id, name=who.name, role=who.role, device_prefix=who.device_prefix)


@router.post(
    "/api/ws-ticket",
    response_model=WsTicket,
    responses={
        429: {
            "description": "GASLEAK_WS_TICKETS_MAX unused tickets are outstanding (all keys "
            "together); try again after Retry-After"
        }
    },
    summary="A single-use ticket for a browser's WebSocket handshake",
)
async def ws_ticket(
    who: Annotated[Principal, Depends(get_principal)], tickets: TicketsDep
) -> WsTicket:
    """Open ``/ws/alerts?ticket=<ticket>`` (or ``/ws/readings``) within ``expires_in_s``;
    the socket acts with this key's role. Browsers cannot send ``Authorization`` on a
    WebSocket, and a long-lived key must not travel in a URL: tickets are the way.

    A key holds at most ``GASLEAK_WS_TICKETS_PER_KEY`` unused tickets (its oldest is
    dropped for a new one); when ``GASLEAK_WS_TICKETS_MAX`` unused tickets of all keys are
    outstanding, 429 with ``Retry-After``."""
    return WsTicket(ticket=tickets.issue(who), expires_in_s=tickets.ttl_s)
