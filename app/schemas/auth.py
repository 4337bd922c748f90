"""Wire models for API keys, WebSocket tickets and the audit log."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.readings import PREFIX_PATTERN
from app.schemas.times import LINE
from app.services.principal import Role

#: Every action the audit log records (SECURITY.md, "Audit log"); ``GET /api/audit?action=``
#: takes these only, so a typo is a 422 naming it, not an empty page.
AuditAction = Literal[
    "alert.ack",
    "baseline.reset",
    "device.patch",
    "device.put",
    "key.create",
    "key.revoke",
    "silence.create",
    "silence.expire",
]
AUDIT_ACTIONS: tuple[str, ...] = get_args(AuditAction)

#: A key id as ``GET /api/keys`` lists it: 16 lowercase hex characters, or the bootstrap
#: key's ``bootstrap`` (:data:`app.services.keys.BOOTSTRAP_ID`).
KEY_ID_PATTERN = r"^(?:[0-9a-f]{16}|bootstrap)$"


class KeyIn(BaseModel):
    """Body of ``POST /api/keys``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: Role
    #: one line, as every other free-text name: a line break in it wrote a forged line in
    #: the server log, and ANSI escapes reached ``--mode keys list``'s terminal
    name: str = Field(min_length=1, max_length=200, pattern=LINE, examples=["north-wing gateway"])
    device_prefix: str | None = Field(
        None,
        pattern=PREFIX_PATTERN,
        description="Gateway keys only: post readings only for device ids starting with this",
        examples=["a-"],
    )


class KeyOut(BaseModel):
    """A key as listed: never its secret nor its hash."""

    key_id: str
    name: str
    role: Role
    device_prefix: str | None
    created_at: str = Field(description="RFC 3339")
    created_by: str = Field(description="Who made it: name (key id, role), or the command line")
    revoked_at: str | None
    revoked_by: str | None


class KeyCreated(KeyOut):
    """A new key. ``key`` is shown this once: only its hash is stored."""

    key: str = Field(description="Send as `Authorization: Bearer <key>`; not shown again")


class KeyList(BaseModel):
    """Every stored key, oldest first (revoked ones too)."""

    keys: list[KeyOut]
    bootstrap_key: bool = Field(
        description="True when GASLEAK_BOOTSTRAP_ADMIN_KEY sets an admin key (id `bootstrap`, "
        "not stored, not revocable through the API)"
    )


class Me(BaseModel):
    """The key a request was made with: who it is and what it may do."""

    key_id: str | None
    name: str
    role: Role
    device_prefix: str | None


class WsTicket(BaseModel):
    """A single-use ticket for one WebSocket handshake: ``/ws/alerts?ticket=...``."""

    ticket: str
    expires_in_s: float = Field(description="Use it within this many seconds")


class Actor(BaseModel):
    """Who made a change."""

    key_id: str | None = Field(description="Null: the command line (python main.py --mode keys)")
    name: str
    role: Role


class AuditEntry(BaseModel):
    """One change: who, what, on what, when."""

    audit_id: int
    at: str = Field(description="RFC 3339")
    actor: Actor
    action: str = Field(examples=["alert.ack"])
    target: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    """Audit entries, newest first."""

    entries: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")
