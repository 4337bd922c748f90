"""Strict JSON decoding: duplicate keys and deep nesting are refused by name.

A body (or WebSocket frame, MQTT message) nested more than :data:`MAX_DEPTH` levels of
arrays and objects is refused as a whole (422, ``field`` "(body)"), whatever its depth: 200
nested arrays were answered 200 with the item refused ("valid dictionary") and 2,000 with
422, because only Python's recursion limit bounded the decoder (newcomer).

RFC 8259 section 4 leaves the meaning of an object with a repeated name open ("many
implementations report the last name/value pair only"); for a gas reading
``{"gas_ppm": 400, "gas_ppm": 20000}`` either value could be the true one, so the service
refuses such an object and names the key, instead of keeping the last one silently.
``NaN``/``Infinity`` (not JSON either, RFC 8259 section 6) decode to floats here so that a
batch keeps its good readings: every float field refuses non-finite values by name.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.errors import InvalidBody

#: Most levels of nested arrays and objects a JSON body may have (RFC 8259 section 9 lets a
#: parser set such a limit). No body this API takes needs more than 3 (a batch of readings
#: has 2: the array and each reading's object); 32 leaves room, and keeps every walk over a
#: decoded body far from Python's recursion limit (1,000 frames).
MAX_DEPTH = 32

#: Most names one JSON object may hold. No object this API takes has more than a dozen
#: fields (a reading has 5); an object past this is refused by its size, without reading
#: its names one by one: a 13 MB reading of 700,000 unknown names took 6-8 s of the event
#: loop to refuse name by name, every other client's requests and alarms waiting, and its
#: answer was 60 MB (newcomer of 10 Dec).
MAX_KEYS = 64

#: The error of a body nested deeper than :data:`MAX_DEPTH`.
TOO_DEEP = {
    "field": "(body)",
    "reason": f"JSON nested too deeply: more than {MAX_DEPTH} levels of arrays and objects "
    "(a batch of readings has 2)",
    "type": "json_invalid",
}


class Ambiguous(dict[str, Any]):
    """An object that repeated a key: the values of its last occurrences, plus the names
    that repeated (:attr:`duplicates`), so a batch can reject just that item."""

    duplicates: list[str]


def duplicate_error(key: str) -> dict[str, str]:
    """The ``{"field", "reason", "type"}`` of a repeated key."""
    return {
        "field": key,
        "reason": "appears more than once in one object (ambiguous JSON: RFC 8259 §4)",
        "type": "duplicate_key",
    }


class Crowded(dict[str, Any]):
    """An object with more than :data:`MAX_KEYS` names: its first :data:`MAX_KEYS` pairs
    only, and how many it had (:attr:`size`), so a batch can reject just that item."""

    size: int


def crowded_error(size: int, field: str = "(body)") -> dict[str, str]:
    """The ``{"field", "reason", "type"}`` of an object of ``size`` names (> MAX_KEYS)."""
    return {
        "field": field,
        "reason": f"an object of {size} names; no object this API takes has more than {MAX_KEYS}",
        "type": "too_many_fields",
    }


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_KEYS:
        crowded = Crowded(pairs[:MAX_KEYS])
        crowded.size = len(pairs)
        return crowded
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    marked = Ambiguous(obj)
    marked.duplicates = []
    for k, _ in pairs:
        if k in seen and k not in marked.duplicates:
            marked.duplicates.append(k)
        seen.add(k)
    return marked


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether decoded JSON ``value`` nests more than ``limit`` levels of arrays and objects
    (a scalar: 0 levels; ``[]``: 1; ``[{"a": 1}]``: 2). Iterative: no recursion limit."""
    stack = [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        for child in v.values() if isinstance(v, dict) else v:
            if isinstance(child, list | dict):
                stack.append((child, depth + 1))
    return False


def loads_marked(raw: bytes | str) -> Any:
    """Decode JSON; objects with a repeated key come back as :class:`Ambiguous`.

    Raises:
        InvalidBody: not UTF-8, not JSON, or nested more than :data:`MAX_DEPTH` levels
            (:data:`TOO_DEEP`) (``field`` "(body)").
    """
    try:
        if isinstance(raw, bytes):
            # UTF-8 only (RFC 8259 section 8.1): json.loads itself guesses UTF-16/32 from the
            # bytes, and took a UTF-16 body (newcomer of 2 Dec); a NUL byte is UTF-16's
            # ASCII, never JSON text's
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), 1, "NUL byte")
            raw = raw.decode("utf-8")
        data = json.loads(raw, object_pairs_hook=_pairs)
    except RecursionError:  # deeper than the decoder's stack allows: far beyond MAX_DEPTH
        raise InvalidBody([dict(TOO_DEEP)]) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        reason = f"not valid JSON: {exc}"
        if isinstance(exc, UnicodeDecodeError):  # json guessed UTF-16/32 or bad UTF-8
            # (newcomer: a binary frame got "'utf-16-be' codec can't decode byte 0x79")
            reason = "not valid JSON: the message is not UTF-8 text (RFC 8259 section 8.1)"
        if "integer string conversion" in str(exc):  # Python's int_max_str_digits guard
            reason = (
                f"a number in the body has more than {sys.get_int_max_str_digits()} digits; "
                "no field takes one that long"
            )
        raise InvalidBody([{"field": "(body)", "reason": reason, "type": "json_invalid"}]) from None
    if too_deep(data):
        raise InvalidBody([dict(TOO_DEEP)])
    return data


def _first_ambiguous(value: Any, path: str) -> dict[str, str] | None:
    """The error of the first object in ``value`` that repeats a key (``field`` its dotted
    path) or holds more than :data:`MAX_KEYS` names (``field`` the object's path), depth
    first; None if none (``value`` nests at most :data:`MAX_DEPTH` levels:
    :func:`loads_marked` checked)."""
    if isinstance(value, Crowded):
        return crowded_error(value.size, path or "(body)")
    if isinstance(value, Ambiguous):
        return duplicate_error(f"{path}.{value.duplicates[0]}" if path else value.duplicates[0])
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for k, v in children:
        found = _first_ambiguous(v, f"{path}.{k}" if path else str(k))
        if found is not None:
            return found
    return None


def loads_strict(raw: bytes | str) -> Any:
    """Decode JSON, refusing any object (at any depth) that repeats a key or holds more
    than :data:`MAX_KEYS` names.

    Raises:
        InvalidBody: as :func:`loads_marked`, or a repeated key (``field`` = its dotted path,
            ``type`` "duplicate_key"), or an object of too many names (``type``
            "too_many_fields").
    """
    data = loads_marked(raw)
    found = _first_ambiguous(data, "")
    if found is not None:
        raise InvalidBody([found])
    return data
