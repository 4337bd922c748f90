"""Authentication and authorisation for handlers: who is asking, and may they.

REST: ``Authorization: Bearer <key>`` through FastAPI's :class:`HTTPBearer` (so ``/docs``
shows the scheme and its Authorize button works). A route declares the roles it allows
with one of the ``Annotated`` aliases (``ViewerDep``, ``OperatorDep``, ``AdminDep``,
``GatewayDep``), as a parameter when it needs to know who asked, or in
``dependencies=[...]`` when it does not. A missing, unknown or revoked key is a 401, a
valid key without the role a 403 (both ``{"error", "detail"}``).

WebSockets: :func:`authorize_ws` at the handshake, before ``accept``: the Origin must be
same-origin or on ``allowed_origins``; the key comes in the ``Authorization`` header, or
a single-use ticket in ``?ticket=`` (browsers cannot set headers on a WebSocket). A refusal
is an HTTP 401/403 answer to the handshake (the ASGI denial-response extension; a server
without it closes with 1008).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextvars import ContextVar
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Security, WebSocket
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from app.deps import StateDep
from app.errors import Forbidden, Unauthorized
from app.schemas.times import shown
from app.services.audit import AuditLog
from app.services.keys import KeyService
from app.services.principal import ADMIN, INGEST, OPERATE, READ, Principal, Role
from app.services.tickets import TicketBook

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="gl_<key_id>_<secret>",
    description="An API key: `python main.py --mode keys create --role viewer` (or an admin's "
    "POST /api/keys) prints one. Roles: gateway, viewer, operator, admin (SECURITY.md).",
)


async def get_keys(state: StateDep) -> KeyService:
    """The API-key service."""
    return state.keys


async def get_audit(state: StateDep) -> AuditLog:
    """The audit log."""
    return state.audit


async def get_tickets(state: StateDep) -> TicketBook:
    """The WebSocket ticket book."""
    return state.tickets


KeysDep = Annotated[KeyService, Depends(get_keys)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
TicketsDep = Annotated[TicketBook, Depends(get_tickets)]

_MISSING = [
    {
        "field": "Authorization",
        "reason": "missing: send the header `Authorization: Bearer <API key>`",
        "type": "missing_credentials",
    }
]
_INVALID = [
    {"field": "Authorization", "reason": "unknown or revoked API key", "type": "invalid_key"}
]


def _wrong_scheme(header: str) -> list[dict[str, str]]:
    scheme = header.strip().partition(" ")[0][:20] or "(empty)"
    if scheme.lower() == "bearer":  # "Bearer" with no key after it
        return _MISSING
    return [
        {
            "field": "Authorization",
            "reason": f"scheme {scheme!r} is not accepted: send `Authorization: Bearer <API key>`",
            "type": "unsupported_scheme",
        }
    ]


async def get_principal(
    request: Request,
    keys: KeysDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """Who sent this request.

    Raises:
        Unauthorized: no Bearer credentials (the header missing, or another scheme such as
            Basic), or a key that is unknown or revoked.
    """
    if creds is None:
        header = request.headers.get("authorization")
        raise Unauthorized(_MISSING if header is None else _wrong_scheme(header))
    who = await keys.authenticate(creds.credentials)
    if who is None:
        raise Unauthorized(_INVALID)
    return who


def _role_error(who: Principal, roles: Collection[Role]) -> list[dict[str, str]]:
    allowed = ", ".join(sorted(r.value for r in roles))
    return [
        {
            "field": "Authorization",
            "reason": f"key {who.key_id or 'cli'} has role {who.role.value}; this needs "
            f"one of: {allowed}",
            "type": "role",
        }
    ]


def require(roles: Collection[Role]) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that passes a principal whose role is in ``roles``.

    Raises (from the dependency):
        Forbidden: a valid key with another role.
    """

    async def dependency(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if who.role not in roles:
            raise Forbidden(_role_error(who, roles))
        return who

    dependency.roles = frozenset(roles)  # type: ignore[attr-defined]  # for document_auth
    return dependency


def _calls(dependant: Dependant) -> Iterator[Any]:
    """Every dependency callable of a route, depth first."""
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def document_auth(router: APIRouter) -> None:
    """List 401 on every route of ``router`` that needs a key and 403 on every one that
    needs a role (its dependencies include :func:`get_principal` or a :func:`require`), so
    the OpenAPI says what the service answers (schemathesis flagged undocumented 401/403).
    Their body is :class:`app.errors.ErrorOut` (:func:`app.errors.document_errors`).
    A route's own description of a code is kept."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = list(_calls(route.dependant))
        if get_principal in calls:
            route.responses.setdefault(
                401, {"description": "No API key, or an unknown or revoked one"}
            )
        roles = [c.roles for c in calls if hasattr(c, "roles")]
        if roles:
            allowed = ", ".join(sorted(r.value for r in frozenset.union(*roles)))
            route.responses.setdefault(403, {"description": f"A key without the role: {allowed}"})


ViewerDep = Annotated[Principal, Depends(require(READ))]
OperatorDep = Annotated[Principal, Depends(require(OPERATE))]
AdminDep = Annotated[Principal, Depends(require(ADMIN))]
GatewayDep = Annotated[Principal, Depends(require(INGEST))]
#: For ``dependencies=[...]`` of routes that need no principal value.
VIEWER = Depends(require(READ))
ADMIN_ONLY = Depends(require(ADMIN))


def origin_allowed(headers: Headers, allowed: Collection[str]) -> bool:
    """True for no ``Origin`` (not a browser), the page's own origin (its host and port
    equal the ``Host`` header), or an origin on ``allowed``."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.lower()
    if origin in allowed:
        return True
    return (
        bool(urlsplit(origin).netloc) and urlsplit(origin).netloc == headers.get("host", "").lower()
    )


async def authorize_ws(ws: WebSocket, roles: Collection[Role]) -> Principal | None:
    """Check a WebSocket handshake; its principal, or None after refusing it (then return).

    Order: Origin (403), credentials (401: header ``Authorization: Bearer``, or one
    ``ticket`` query parameter), role (403). A ticket sent beside the header must be good
    too and act for the header's key; otherwise 401 naming ``ticket`` (a bad ticket is
    never ignored because the header was good).
    """
    state = ws.app.state.gasleak
    if not origin_allowed(ws.headers, state.settings.allowed_origins):
        await _deny(
            ws,
            403,
            [
                {
                    "field": "Origin",
                    "reason": f"{shown(ws.headers.get('origin') or '')} is neither this "
                    "service's origin nor on GASLEAK_ALLOWED_ORIGINS",
                    "type": "origin",
                }
            ],
        )
        return None
    who: Principal | None = None
    auth = ws.headers.get("authorization")
    ticket = ws.query_params.get("ticket")
    if auth is not None:
        scheme, _, key = auth.partition(" ")
        if scheme.lower() == "bearer" and key:
            who = await state.keys.authenticate(key.strip())
    # a ticket sent beside the header is checked too: a bad one was ignored and the
    # header's key subscribed (newcomer of 2 Dec). A repeated ``ticket`` beside the header
    # is left to the route, which refuses a repeated parameter (1008) before it serves.
    by_ticket: Principal | None = None
    if ticket is not None and (auth is None or len(ws.query_params.getlist("ticket")) == 1):
        by_ticket = state.tickets.redeem(ticket)
        if by_ticket is not None and not await state.keys.still_valid(by_ticket):
            by_ticket = None
        if by_ticket is None or (who is not None and by_ticket.key_id != who.key_id):
            reason = (
                "unknown, used or expired ticket (POST /api/ws-ticket for a new one)"
                if by_ticket is None
                else "acts for another key than the Authorization header: send one of them"
            )
            if by_ticket is None and auth is not None:
                reason += "; a ticket sent beside the Authorization header is checked too"
            await _deny(ws, 401, [{"field": "ticket", "reason": reason, "type": "invalid_ticket"}])
            return None
        if auth is None:
            who = by_ticket
    if who is None:
        detail = _MISSING if auth is None and ticket is None else _INVALID
        scheme, _, key = (auth or "").strip().partition(" ")
        if auth is not None and (scheme.lower() != "bearer" or not key.strip()):
            detail = _wrong_scheme(auth)
        await _deny(ws, 401, detail)
        return None
    if who.role not in roles:
        await _deny(ws, 403, _role_error(who, roles))
        return None
    return who


#: Set in the connection's task when :func:`_deny` refused its handshake.
_DENIED: ContextVar[bool] = ContextVar("gasleak_ws_denied", default=False)


class DeniedHandshakeFilter(logging.Filter):
    """Drop uvicorn's "ASGI callable returned without completing handshake." ERROR for a
    handshake this app refused with a denial response.

    uvicorn's default WebSocket implementation (websockets-sansio, 0.54) sends the denial
    correctly but does not mark the handshake done, then logs that error for every refused
    client (Kludex/uvicorn PR #3138, open). The record is emitted in the connection's own
    task right after the app returns, so the context variable set by :func:`_deny` tells
    this connection's refusal from a real bug, whose line is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False only for that message in a connection this app refused."""
        return not (
            _DENIED.get() and record.getMessage().startswith("ASGI callable returned without")
        )


def install_denied_handshake_filter() -> None:
    """Add one :class:`DeniedHandshakeFilter` to the ``uvicorn.error`` logger (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DeniedHandshakeFilter) for f in logger.filters):
        logger.addFilter(DeniedHandshakeFilter())


async def _deny(ws: WebSocket, status: int, detail: list[dict[str, str]]) -> None:
    error = "unauthorized" if status == 401 else "forbidden"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    _DENIED.set(True)
    await ws.send_denial_response(
        JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)
    )
