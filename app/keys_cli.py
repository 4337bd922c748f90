"""``python main.py --mode keys create|list|revoke``: API keys from the command line.

Works on the store the service uses (``GASLEAK_DB_PATH`` / ``GASLEAK_DATABASE_URL``), with
or without the service running: a running service sees a new key at once and a revoked
one within ``key_cache_s``. The command line acts as admin (whoever can run it can open the
database); its changes are audited as ``command line (user@host)``.
"""

from __future__ import annotations

import getpass
import re
import socket
import sys

from pydantic import ValidationError

from app.config import Settings
from app.errors import GasleakError, pydantic_errors
from app.schemas.auth import KeyIn
from app.schemas.readings import PREFIX_PATTERN, iso, prefix_reason
from app.schemas.times import LINE
from app.services.audit import AuditLog
from app.services.keys import KeyService
from app.services.principal import Principal, Role
from app.store import Store

USAGE = (
    "usage: python main.py --mode keys create --role admin|operator|viewer|gateway "
    "[--device-prefix P] [--name N]\n"
    "       python main.py --mode keys list\n"
    "       python main.py --mode keys revoke KEY_ID"
)


def _fail(message: str) -> int:
    print(f"gasleak keys: error: {message}\n{USAGE}", file=sys.stderr)
    return 2


def cli_principal() -> Principal:
    """Who the command line is, for the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(None, f"command line ({user}@{socket.gethostname()})", Role.ADMIN)


async def run_keys(
    command: list[str],
    *,
    role: str | None,
    name: str | None,
    device_prefix: str | None,
    settings: Settings,
) -> int:
    """Run one keys command; the exit status (2: bad usage, 1: refused, 0: done).

    ``create`` prints the new key on stdout (its only showing) and a summary on stderr.
    """
    if not command or command[0] not in ("create", "list", "revoke"):
        return _fail("say create, list or revoke")
    action, rest = command[0], command[1:]
    if action == "revoke" and len(rest) != 1:
        return _fail("revoke takes one KEY_ID (python main.py --mode keys list shows them)")
    if action != "revoke" and rest:
        return _fail(f"unexpected {' '.join(rest)!r}")
    if action == "create":
        if role not in [r.value for r in Role]:
            return _fail(f"--role must be one of {', '.join(r.value for r in Role)}")
        if device_prefix is not None and role != Role.GATEWAY.value:
            return _fail("--device-prefix applies to --role gateway only")
        if device_prefix is not None and not re.fullmatch(PREFIX_PATTERN, device_prefix):
            # as POST /api/keys refuses it: a prefix no device id can start with
            return _fail(f"--device-prefix: {prefix_reason(device_prefix)}")
        if name is not None:
            # as POST /api/keys refuses it, in its words: a control character (a line break
            # forged a server log line, an escape reached `keys list`), blank, too long
            try:
                name = KeyIn(role=Role(role), name=name).name
            except ValidationError as exc:
                return _fail(
                    f"--name: {pydantic_errors([dict(e) for e in exc.errors()])[0]['reason']}"
                )
    store = Store(settings.db_url)
    try:
        await store.migrate()
        keys = KeyService(store.keys, AuditLog(store.audit))
        who = cli_principal()
        if action == "create":
            assert role is not None  # checked above
            row, key = await keys.create(
                role=Role(role),
                name=name or f"{role} key",
                device_prefix=device_prefix,
                by=who,
            )
            print(
                f"created key {row['key_id']} ({row['name']}, role {row['role']}"
                + (f", devices {device_prefix}*" if device_prefix else "")
                + "); it is shown once, only its hash is stored:",
                file=sys.stderr,
            )
            print(key, flush=True)
        elif action == "list":
            print(f"{'key_id':<16}  {'role':<8}  {'prefix':<10}  {'created':<24}  status  name")
            for r in await keys.list():
                status = "revoked" if r["revoked_at"] else "active"
                # a name stored before names were refused control characters is shown
                # escaped, not sent raw to the terminal
                shown_name = r["name"] if re.fullmatch(LINE, r["name"]) else repr(r["name"])
                print(
                    f"{r['key_id']:<16}  {r['role']:<8}  {r['device_prefix'] or '-':<10}  "
                    f"{iso(r['created_at']):<24}  {status:<7} {shown_name}"
                )
        else:
            await keys.revoke(rest[0], by=who)
            print(f"revoked key {rest[0]}")
    except GasleakError as exc:
        print(f"gasleak keys: {exc.error}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    return 0
