"""Strict JSON decoding: duplicate keys and deep nesting are refused by name.

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


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
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


def loads_marked(raw: bytes | str) -> Any:
    """Decode JSON; objects with a repeated key come back as :class:`Ambiguous`.

    Raises:
        InvalidBody: not UTF-8, not JSON, or nested too deeply
            (``field`` "(body)").
    """
    try:
        return json.loads(raw, object_pairs_hook=_pairs)
    except RecursionError:
        raise InvalidBody(
            [{"field": "(body)", "reason": "JSON nested too deeply", "type": "json_invalid"}]
        ) from None
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


def _first_ambiguous(value: Any, path: str) -> str | None:
    """Dotted path of the first repeated key in ``value``, depth first; None if none."""
    if isinstance(value, Ambiguous):
        return f"{path}.{value.duplicates[0]}" if path else value.duplicates[0]
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
    """Decode JSON, refusing any object (at any depth) that repeats a key.

    Raises:
        InvalidBody: as :func:`loads_marked`, or a repeated key (``field`` = its dotted path,
            ``type`` "duplicate_key").
    """
    data = loads_marked(raw)
    try:
        found = _first_ambiguous(data, "")
    except RecursionError:
        raise InvalidBody(
            [{"field": "(body)", "reason": "JSON nested too deeply", "type": "json_invalid"}]
        ) from None
    if found is not None:
        raise InvalidBody([duplicate_error(found)])
    return data
