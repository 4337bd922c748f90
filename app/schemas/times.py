"""The one time-stamp grammar of the API: an RFC 3339 profile, always with a UTC offset.

Every time the API takes as text (a reading's ``ts``, ``from``/``to`` query parameters,
silences' ``starts_at``/``ends_at``) must match::

    YYYY-MM-DD "T" hh:mm:ss [ "." 1-9 digits ] ( "Z" | "+hh:mm" | "-hh:mm" )

This is RFC 3339 section 5.6 ``date-time`` (``T`` and ``Z`` may be lower case, as its
section 5.6 note allows). Refused, naming the field: no offset (a "local" time would be
read in the server's time zone), a space instead of ``T``, ISO 8601 forms outside RFC 3339
(week dates ``2026-W48-1``, ordinal dates, basic format ``20261130T...``, hours only,
``+hhmm`` offsets), leap second ``:60`` (Python's datetime cannot hold it), and impossible
dates (February 30). Fractions beyond microseconds are truncated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

RFC3339_PATTERN = (
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)

#: Free-text patterns: a one-line name has no control characters; a comment may hold
#: tabs and line breaks but no other control character (PostgreSQL text refuses NUL).
LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

#: The message of every refusal, so that clients see the grammar.
EXPECTED = "must be an RFC 3339 time with a UTC offset, such as 2026-01-01T12:00:00Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse one RFC 3339 ``date-time`` (the profile in this module's docstring).

    Returns:
        An aware datetime (its offset kept).

    Raises:
        ValueError: the text does not match the profile, or names an impossible date/time.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", text):
            raise ValueError(f"{EXPECTED}: it has no UTC offset (Z or +hh:mm)")
        raise ValueError(EXPECTED)
    year, month, day, hh, mm, ss, frac, z, sign, oh, om = m.groups()
    if z:
        tz: timezone = UTC
    else:
        if int(oh) > 23 or int(om) > 59:
            raise ValueError(f"{EXPECTED}: offset {sign}{oh}:{om} is out of range")
        delta = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-delta if sign == "-" else delta)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), micro, tz)
    except ValueError as exc:
        raise ValueError(f"{EXPECTED}: {exc}") from None


def _utc_datetime(value: Any) -> Any:
    """A string is parsed by :func:`parse_rfc3339`; anything else is refused (pydantic's
    own datetime parsing would also take numbers, naive times and other ISO 8601 forms)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{EXPECTED}: it has no UTC offset (Z or +hh:mm)")
        return value
    if not isinstance(value, str):
        raise ValueError(EXPECTED)
    return parse_rfc3339(value)


#: A datetime field or query parameter that takes only the RFC 3339 profile above.
UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_utc_datetime),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
