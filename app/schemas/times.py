"""The one time-stamp grammar of the API: an RFC 3339 profile, always with a UTC offset.

Every time the API takes as text (a reading's ``ts``, ``from``/``to`` query parameters,
silences' ``starts_at``/``ends_at``) must match::

    YYYY-MM-DD "T" hh:mm:ss [ "." 1*digit ] ( "Z" | "+hh:mm" | "-hh:mm" )

This is RFC 3339 section 5.6 ``date-time`` (``T`` and ``Z`` may be lower case, as its
section 5.6 note allows). A fraction may have any number of digits (``time-secfrac`` is
``"." 1*DIGIT``): beyond microseconds, the precision of a stored time, it is truncated. A
leap second (second 60, which section 5.7 allows at the end of a UTC month: ``23:59:60Z``,
or the same instant in another offset) is read as the last microsecond of its minute
(``23:59:59.999999``): Python's datetime and epoch seconds cannot hold second 60, and this
keeps a device's readings in time order. Refused, naming the field and the reason: no offset
(a "local" time would be read in the server's time zone), a space instead of ``T``, ISO 8601
forms outside RFC 3339 (week dates ``2026-W48-1``, ordinal dates, basic format
``20261130T...``, no seconds, ``+hhmm`` offsets), second 60 anywhere but the last minute of
a UTC month, and impossible dates (February 30).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

RFC3339_PATTERN = (
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
# ASCII: Python's \d also takes other scripts' digits ("٢٠٢٦", fullwidth "２０２６"), which
# RFC 3339 (its ABNF DIGIT, RFC 5234: %x30-39) and the OpenAPI's ECMA-262 pattern do not
_RFC3339 = re.compile(RFC3339_PATTERN, re.ASCII)

#: Unicode format characters that reorder or hide text, refused in every free-text field:
#: the bidi controls (the Bidi_Control property: U+061C, U+200E/U+200F, the embeddings and
#: overrides U+202A-U+202E, the isolates U+2066-U+2069) and the zero-width characters
#: (U+200B-U+200D, U+2060, U+FEFF). With them an ack author "\u202eevil" is shown as
#: another name, and one text can look like another (Unicode TR #36 "Unicode Security
#: Considerations"; CVE-2021-42574, "Trojan Source"). A character class body, written with
#: escapes that Python's re, pydantic's Rust regex and the OpenAPI's ECMA-262 all read.
INVISIBLE = r"\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"

#: Control characters beyond ASCII, refused in every free-text field as the C0 ones are:
#: the C1 controls U+0080-U+009F (U+0085 NEXT LINE, which Python's ``str.splitlines``
#: and many log viewers take as a line break; U+009B, the 8-bit CSI that starts a terminal
#: escape) and the Unicode line and paragraph separators U+2028/U+2029 (also line breaks
#: to ``splitlines``). A name "ops\u0085 2026-12-02 ... INFO ..." forged a second server
#: log line, and ``keys list`` sent U+009B raw to the terminal.
WIDE_CONTROL = r"\x80-\x9f\u2028\u2029"

#: Free-text patterns: a one-line name has no control characters; a comment may hold
#: tabs and line breaks (\n, \r) but no other control character (PostgreSQL text refuses
#: NUL). Neither holds a :data:`WIDE_CONTROL` or an :data:`INVISIBLE` character.
LINE = r"^[^\x00-\x1f\x7f" + WIDE_CONTROL + INVISIBLE + r"]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f" + WIDE_CONTROL + INVISIBLE + r"]*$"

#: How many characters of a client's text an error message quotes (:func:`shown`).
SHOWN_CHARS = 70


def shown(text: str, *, quote: bool = True) -> str:
    """``text`` as an error message shows it: its first :data:`SHOWN_CHARS` characters, then
    ``...`` when it is longer, so that a 10 MB value does not come back in a 10 MB reply.
    Quoted with ``repr`` (control characters escaped) unless ``quote`` is false (a field
    path, which is not quoted)."""
    head = text[:SHOWN_CHARS]
    return (repr(head) if quote else head) + ("..." if len(text) > SHOWN_CHARS else "")


def control_reason(value: object, *, multiline: bool = False) -> str:
    """Why ``value`` does not match :data:`LINE` (or :data:`TEXT` when ``multiline``), in
    words naming the first control, :data:`WIDE_CONTROL` or :data:`INVISIBLE` character
    (its code point, and Unicode name where it has one, for the latter two) and where it
    is, instead of pydantic's "String should match pattern '^[^\\x00-\\x1f\\x7f...]*$'";
    the value is quoted escaped and cut short (:func:`shown`). One wording for REST and the
    command line."""
    if not isinstance(value, str):
        return "must be a string"
    control = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f" if multiline else r"[\x00-\x1f\x7f"
    m = re.search(control + WIDE_CONTROL + INVISIBLE + "]", value)
    if m is None:
        return "?"
    char = m.group()
    if re.fullmatch(f"[{INVISIBLE}]", char):
        return (
            f"{shown(value)} holds {char!r} (U+{ord(char):04X} {unicodedata.name(char)}) at "
            f"position {m.start()}: text may hold no invisible or text-reordering Unicode "
            "format character (bidi controls, zero-width characters), with which the text "
            "shown differs from the text stored (Unicode TR #36; CVE-2021-42574)"
        )
    rule = (
        "text may hold tabs and line breaks (\\n, \\r) but no other control character"
        if multiline
        else "a one-line text may hold no control character (line breaks, tabs, escapes)"
    )
    what = ""
    if "\x80" <= char <= "\x9f":
        what = f" (U+{ord(char):04X}, a C1 control character)"
        rule += ", C1 controls U+0080-U+009F (U+0085 NEXT LINE, U+009B CSI) included"
    elif char in "\u2028\u2029":
        what = f" (U+{ord(char):04X} {unicodedata.name(char)})"
        rule += ", nor a Unicode line or paragraph separator (U+2028, U+2029)"
    return f"{shown(value)} holds {char!r}{what} at position {m.start()}: {rule}"


#: The message of every refusal, so that clients see the grammar.
EXPECTED = "must be an RFC 3339 time with a UTC offset, such as 2026-01-01T12:00:00Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse one RFC 3339 ``date-time`` (the profile in this module's docstring).

    Returns:
        An aware datetime (its offset kept), fractions truncated to microseconds; a leap
        second (second 60) is the last microsecond of its minute (hh:mm:59.999999).

    Raises:
        ValueError: the text does not match the profile, or names an impossible date/time;
            the message says which part is wrong.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{EXPECTED}: {_why_not(text)}")
    year, month, day, hh, mm, ss, frac, z, sign, oh, om = m.groups()
    if z:
        tz: timezone = UTC
    else:
        if int(oh) > 23 or int(om) > 59:
            raise ValueError(f"{EXPECTED}: offset {sign}{oh}:{om} is out of range")
        delta = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-delta if sign == "-" else delta)
    second, micro = int(ss), int((frac or "0")[:6].ljust(6, "0"))
    if second > 60:
        raise ValueError(f"{EXPECTED}: second {ss} is out of range (00-59, 60 for a leap second)")
    leap = second == 60
    if leap:
        second, micro = 59, 999_999
    try:
        out = datetime(int(year), int(month), int(day), int(hh), int(mm), second, micro, tz)
    except ValueError as exc:
        raise ValueError(f"{EXPECTED}: {exc}") from None
    if leap:
        utc = out.astimezone(UTC)
        if (utc.hour, utc.minute) != (23, 59) or (utc + timedelta(days=1)).day != 1:
            raise ValueError(
                f"{EXPECTED}: second 60 is a leap second, which RFC 3339 (section 5.7) allows "
                "only in the last minute of a UTC month (23:59:60Z); this is "
                f"{utc:%Y-%m-%dT%H:%M}Z"
            )
    return out


#: Why a text is not the profile: (pattern of its start, reason), the first that matches.
_NOT_PROFILE = [
    (r".*[^\x00-\x7f]", "it holds a character outside ASCII: RFC 3339 digits are 0-9 only"),
    (
        r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$",
        "epoch seconds are sent as a JSON number (1764583200), not a string; a string is "
        "RFC 3339 (YYYY-MM-DDThh:mm:ssZ)",
    ),
    (r"\d{4}-W\d", "a week date (YYYY-Www-D) is ISO 8601, not RFC 3339: send YYYY-MM-DD"),
    (r"\d{4}-\d{3}(?!\d|-)", "an ordinal date (YYYY-DDD) is not RFC 3339: send YYYY-MM-DD"),
    (r"\d{8}", "the basic format (no - and :) is not RFC 3339: send YYYY-MM-DDThh:mm:ss"),
    (r"(?!\d{4}-\d{2}-\d{2})", "it does not start with a date YYYY-MM-DD"),
    (r".{10}$", "it is a date without a time (YYYY-MM-DDThh:mm:ssZ)"),
    (r".{10} ", "a space separates the date and the time: RFC 3339 needs T"),
    (r".{10}[^Tt]", "the date and the time must be separated by T"),
    (r".{11}\d{2}:\d{2}(?!:)", "the time has no seconds (hh:mm:ss)"),
    (r".{11}(?!\d{2}:\d{2}:\d{2})", "the time must be hh:mm:ss"),
    (r".{19}\.(?!\d)", "a . must be followed by the digits of the fraction of a second"),
    (r".{19}(\.\d+)?$", "it has no UTC offset (Z or +hh:mm)"),
    (r".*[+-]\d{4}$", "an offset is written +hh:mm, not +hhmm"),
    (r".*[+-]\d{2}$", "an offset is written +hh:mm, not +hh"),
]


def _why_not(text: str) -> str:
    """The reason ``text`` does not match the profile, in words (for the error message)."""
    for pattern, why in _NOT_PROFILE:
        if re.match(pattern, text, re.ASCII):
            return why
    return "it does not end in a UTC offset Z or +hh:mm after hh:mm:ss[.fraction]"


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
