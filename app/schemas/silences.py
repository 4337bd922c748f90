"""Wire models for silences (maintenance windows, Alertmanager semantics)."""

from __future__ import annotations

import fnmatch
import re
import time
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.schemas.alerts import Kind, Severity
from app.schemas.readings import DEVICE_ID_RULE, iso
from app.schemas.times import LINE, TEXT, UtcDateTime

#: Longest silence, s (7 days). ANSI/ISA-18.2 and IEC 62682 require shelving to be
#: time-limited: a silence is a maintenance window, not a way to switch an alarm off (a
#: fleet-wide leak silence until 2058 was accepted: newcomer of 2 Dec). A week covers a
#: plant's maintenance shutdown; a device out of use for longer is disabled instead
#: (``PATCH /api/devices/{id}`` with ``enabled: false``).
SILENCE_MAX_S = 7 * 24 * 3600.0
#: The characters a device id may hold (``app.schemas.readings.DEVICE_ID_PATTERN``), and a
#: glob's bracket expressions (``[...]``, ``[!...]``), whose characters are not literal.
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_GLOB_CLASS = re.compile(r"\[!?\]?[^\]]*\]")


class SilenceIn(BaseModel):
    """Body of ``POST /api/silences``. At least one of ``device_id`` and ``kind``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Exact id or glob (fnmatch: *, ?, [...])",
        examples=["kitchen-*"],
    )
    kind: Kind | None = None
    min_severity: Severity | None = Field(None, description="Only alerts at least this severe")
    starts_at: UtcDateTime | None = Field(
        None, description="RFC 3339 with a UTC offset; default now"
    )
    ends_at: UtcDateTime = Field(
        description="RFC 3339 with a UTC offset, after starts_at, at most 7 days after it"
    )
    comment: str = Field(min_length=1, max_length=2000, pattern=TEXT, examples=["Boiler service"])
    author: str = Field(min_length=1, max_length=128, pattern=LINE, examples=["j.doe"])

    @field_validator("device_id")
    @classmethod
    def _can_match(cls, glob: str | None) -> str | None:
        """Refuse a pattern whose literal characters (outside ``*``, ``?`` and ``[...]``)
        no device id can hold: ``"sim 01"`` was accepted and silenced nothing (README
        newcomer of 8 Dec)."""
        if glob is None:
            return None
        bad = sorted(set(_GLOB_CLASS.sub("", glob).replace("*", "").replace("?", "")) - _ID_CHARS)
        if bad:
            raise ValueError(
                f"matches no device id: {', '.join(repr(c) for c in bad)} cannot occur in one "
                f"({DEVICE_ID_RULE}; glob characters * ? [...])"
            )
        return glob

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and not starts_at < ends_at:
            raise ValueError(f"must be after starts_at ({iso(starts_at.timestamp())})")
        now = time.time()
        if ends_at.timestamp() <= now:
            raise ValueError("is in the past: a silence that has ended silences nothing")
        start = now if starts_at is None else max(starts_at.timestamp(), now)
        if ends_at.timestamp() - start > SILENCE_MAX_S:
            raise ValueError(
                f"is {(ends_at.timestamp() - start) / 3600:,.2f} h after the silence starts "
                f"(its starts_at or now, whichever is later); at most {SILENCE_MAX_S / 3600:g} h "
                "(7 days: a silence is a maintenance window; disable a device that is out of "
                "use for longer)"
            )
        return ends_at

    @model_validator(mode="after")
    def _matchers(self) -> SilenceIn:
        if self.kind is None and (self.device_id is None or matches_every_device(self.device_id)):
            raise ValueError(
                "give device_id or kind: a silence of everything is refused"
                + ("" if self.device_id is None else f" ({self.device_id!r} matches every id)")
            )
        return self


#: Device ids of every character class and length a device id may have (DEVICE_ID_PATTERN):
#: a glob that matches all of them matches every device.
_PROBE_IDS = ("a", "Z", "0", ".a", "..a", "_", ":", "-", "z" * 64, "A1.b_2:c-3", "-" * 64)


def matches_every_device(glob: str) -> bool:
    """Whether an ``fnmatch`` glob matches every possible device id (``*``, ``?*``,
    ``[!~]*``...), judged on ids of each allowed character and of the shortest and longest
    length; a glob that leaves out any of them is narrower than "everything"."""
    return all(fnmatch.fnmatchcase(d, glob) for d in _PROBE_IDS)


class SilenceOut(BaseModel):
    """A silence and its status now."""

    silence_id: str
    device_id: str | None
    kind: Kind | None
    min_severity: Severity | None
    starts_at: str
    ends_at: str
    comment: str
    author: str
    created_at: str
    status: Literal["pending", "active", "expired"]


class SilenceList(BaseModel):
    """Every silence, newest first (expired ones too)."""

    silences: list[SilenceOut]
