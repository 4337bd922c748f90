"""Roles and the principal (who a request is) that every authorisation check uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a key may do (SECURITY.md has the full table).

    ``gateway`` posts readings (optionally only for device ids with a prefix); ``viewer``
    reads and subscribes; ``operator`` is a viewer who may also acknowledge, silence and
    reset baselines; ``admin`` may do everything, keys, devices, webhooks and the audit
    log included.
    """

    GATEWAY = "gateway"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


#: Roles allowed each kind of request.
READ = frozenset({Role.VIEWER, Role.OPERATOR, Role.ADMIN})
OPERATE = frozenset({Role.OPERATOR, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})
INGEST = frozenset({Role.GATEWAY, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    """Who made a request: a key's id, name and role (never its secret).

    ``key_id`` is None for the command line (``python main.py --mode keys``), which acts
    as admin on the store it opens; ``"bootstrap"`` for ``GASLEAK_BOOTSTRAP_ADMIN_KEY``.
    ``device_prefix``: a gateway key may only post readings of device ids starting with it.
    """

    key_id: str | None
    name: str
    role: Role
    device_prefix: str | None = None

    @property
    def owner(self) -> str:
        """What per-key limits count against: the key id (the command line: ``cli:`` and
        its name)."""
        return self.key_id or f"cli:{self.name}"

    @property
    def label(self) -> str:
        """``name (key id, role)`` for log lines and audit views."""
        return f"{self.name} ({self.key_id or 'cli'}, {self.role.value})"
