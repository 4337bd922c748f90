"""Wire models for sensor readings and the ingestion reply."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.schemas.times import RFC3339_PATTERN, parse_rfc3339, shown

#: 1-64 of the characters :data:`_ID_CHAR` allows, other than "." and "..": those two are
#: a URL path's dot segments (RFC 3986 section 5.2.4), which clients remove before sending,
#: so ``/api/devices/../status`` can never name such a device (newcomer of 9 Dec). Written
#: without look-ahead, which pydantic's regex engine (Rust ``regex``) does not have: an id
#: not starting with ".", one "." and a character other than ".", or ".." and at least one
#: more.
DEVICE_ID_PATTERN = (
    r"^(?:[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,63}"
    r"|\.[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,62}"
    r"|\.\.[A-Za-z0-9._:-]{1,62})$"
)
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_ID_CHAR = re.compile(r"[A-Za-z0-9._:-]")
#: What a device id may hold, in words (:data:`DEVICE_ID_PATTERN`).
DEVICE_ID_RULE = '1-64 characters of A-Z a-z 0-9 . _ : -, other than "." and ".."'

#: 100 % by volume: no gas concentration can exceed it (keeps values finite in float32).
GAS_PPM_MAX = 1_000_000.0

#: A %LEL transmitter's zero drifts: NAMUR NE 43 (signal levels of 4-20 mA transmitters)
#: puts the measuring range at 3.8-20.5 mA and a failure signal at <= 3.6 mA. On a 4-20 mA
#: loop over the 0-100 %LEL span of a gas detector head, 3.8 mA is -1.25 %LEL (still a
#: measurement: a zero drifted below 0) and 3.6 mA is -2.5 %LEL (a failure, not a
#: measurement). A reading down to :data:`LEL_UNDER_RANGE` is accepted silently; one from
#: :data:`LEL_FAILURE` up to it is accepted and raises the ``out_of_range`` sensor fault
#: (zero drift: recalibrate; :data:`GAS_UNDER_RANGE`); one below it is refused.
LEL_UNDER_RANGE = -1.25
LEL_FAILURE = -2.5

#: The range of a reading's gas per unit of its device (the device profile's ``unit``;
#: ppm for a device without a profile), inclusive, with why: (low, high, why). ppm stays
#: at 0: a ppm device's span is not known (a 0-100 ppm H2S cell, a 0-5 % vol infrared head
#: reporting 50,000 ppm), so no fraction of a span gives one bound for all; a fixed bound
#: would be a tenth of the H2S cell's span or nothing on the infrared head.
GAS_RANGE: dict[str, tuple[float, float, str]] = {
    "ppm": (
        0.0,
        GAS_PPM_MAX,
        "a concentration is never negative; 1,000,000 ppm is 100 % by volume",
    ),
    "ppb": (
        0.0,
        GAS_PPM_MAX * 1_000,
        "a concentration is never negative; 1,000,000,000 ppb is 100 % by volume",
    ),
    # 100 % by volume of a gas whose LEL is 0.5 % vol: below every gas of the LEL table
    # (app/alerting/profiles.py; isobutane 1.3 % vol gives 7,692 %LEL), room for heavy vapours
    "%LEL": (
        LEL_FAILURE,
        20_000.0,
        "a %LEL transmitter's zero may drift below 0, but below -2.5 %LEL (3.6 mA on a "
        "4-20 mA loop over 0-100 %LEL) is a failure signal, not a measurement (NAMUR NE 43); "
        "20,000 %LEL is 100 % by volume of a gas whose LEL were 0.5 % vol (every gas of the "
        "LEL table has a higher one)",
    ),
    # a bridge or amplifier output may be negative; no gas sensor's output reaches 100 V
    "mV": (
        -100_000.0,
        100_000.0,
        "a sensor's output in mV may be negative but lies within "
        "±100 V (a larger value is not a sensor's voltage; µV sent as mV?)",
    ),
    # any signed or unsigned ADC of up to 32 bits (a signed 24-bit one: -8,388,608 to
    # 8,388,607; an unsigned 24-bit one up to 16,777,215)
    "counts": (
        -(2.0**31),
        2.0**32 - 1,
        "an ADC of up to 32 bits, signed or unsigned, gives -2,147,483,648 to 4,294,967,295 counts",
    ),
}
#: The widest gas range of any unit (the OpenAPI schema's bounds of ``gas_ppm``).
GAS_MIN = min(lo for lo, _, _ in GAS_RANGE.values())
GAS_MAX = max(hi for _, hi, _ in GAS_RANGE.values())

#: Per unit, the lowest reading that is a measurement, with why: an accepted reading below
#: it (inside :data:`GAS_RANGE`) raises the ``out_of_range`` sensor fault
#: (``app/alerting/safety.py``). Only %LEL has one (:data:`LEL_UNDER_RANGE`).
GAS_UNDER_RANGE: dict[str, tuple[float, str]] = {
    "%LEL": (
        LEL_UNDER_RANGE,
        "under-range: below 3.8 mA on a 4-20 mA loop over 0-100 %LEL (NAMUR NE 43); "
        "the zero has drifted, recalibrate it",
    ),
}


def _num(x: float) -> str:
    """``x`` with thousands separators, without a fraction when it is whole."""
    return f"{x:,.0f}" if x == int(x) else f"{x:,g}"


def gas_out_of_range(gas: float, unit: str) -> dict[str, str] | None:
    """The error of a reading whose gas lies outside its device's unit's range
    (:data:`GAS_RANGE`), naming the field, the unit and the reason; None when it is inside.

    Raises:
        KeyError: ``unit`` is not one of :data:`GAS_RANGE` (not a profile's unit).
    """
    lo, hi, why = GAS_RANGE[unit]
    if lo <= gas <= hi:
        return None
    side = f"below {_num(lo)}" if gas < lo else f"above {_num(hi)}"
    return {
        "field": "gas_ppm",
        "reason": f"{gas:,.15g} is {side}, out of range for this device's unit {unit} "
        f"(its profile's unit; [{_num(lo)}, {_num(hi)}] {unit}): {why}",
        "type": "unit_range",
    }


#: The physical range of ``temperature_c``, °C: the operating range of Sensirion's SHT3x
#: and SHT4x T/RH sensors (datasheets: -40 to 125 °C). Their formulas give -45 °C for a raw 0
#: and 130 °C for 0xFFFF, the values a failed or disconnected probe reads, both outside it.
#: A reading outside it keeps its gas; its temperature is unknown (:func:`ambient_issues`).
TEMP_RANGE_C = (-40.0, 125.0)
#: The physical range of ``humidity_pct``, %RH.
RH_RANGE_PCT = (0.0, 100.0)
#: How far outside :data:`RH_RANGE_PCT` a humidity is clipped to it rather than treated as
#: unknown, %RH: the SHT4x datasheet (section 4.6) has its formula give -6 to 119 %RH and
#: says to crop the result to 0-100 %RH; a sensor in condensation or just wetted reads a
#: little over 100 (100.4), one with an offset zero a little under 0 (-0.3). 2 %RH is the
#: sensors' stated typical accuracy (SHT3x-DIS ±2 %RH, SHT4x ±1.8 %RH): within it the value
#: is a measurement of saturated or bone-dry air; beyond it, an error value.
RH_CLIP_PCT = 2.0


def ambient_issues(temp: float, rh: float) -> tuple[float, float, list[dict[str, str]]]:
    """A reading's temperature and humidity as taken, with a warning for each not taken as
    sent: outside its physical range it is unknown (NaN; type ``ambient_out_of_range``),
    a humidity within :data:`RH_CLIP_PCT` of :data:`RH_RANGE_PCT` is clipped to it
    (``ambient_clipped``). Pure."""
    notes: list[dict[str, str]] = []
    lo, hi = TEMP_RANGE_C
    if not lo <= temp <= hi:
        notes.append(
            {
                "field": "temperature_c",
                "reason": f"{temp:g} °C is outside the physical range [{lo:g}, {hi:g}] °C (a "
                "T/RH probe's error value: SHT3x raw 0 reads -45 °C, 0xFFFF 130 °C): "
                "treated as unknown; the gas was taken",
                "type": "ambient_out_of_range",
            }
        )
        temp = math.nan
    lo, hi = RH_RANGE_PCT
    if not lo <= rh <= hi:
        if lo - RH_CLIP_PCT <= rh <= hi + RH_CLIP_PCT:
            near = lo if rh < lo else hi
            notes.append(
                {
                    "field": "humidity_pct",
                    "reason": f"{rh:g} %RH is within {RH_CLIP_PCT:g} %RH outside [{lo:g}, "
                    f"{hi:g}] %RH (condensation, or an offset zero; the sensor's accuracy): "
                    f"clipped to {near:g} %RH",
                    "type": "ambient_clipped",
                }
            )
            rh = near
        else:
            notes.append(
                {
                    "field": "humidity_pct",
                    "reason": f"{rh:g} %RH is outside the physical range [{lo:g}, {hi:g}] %RH "
                    f"by more than {RH_CLIP_PCT:g} %RH (a T/RH probe's error value): treated "
                    "as unknown; the gas was taken",
                    "type": "ambient_out_of_range",
                }
            )
            rh = math.nan
    return temp, rh, notes


#: How far ahead of the server clock a reading's ``ts`` may be, seconds. A reading from the
#: future would hold back every later, true reading of its device (they would look out of
#: order), so it is refused; 5 minutes covers ordinary gateway clock skew.
MAX_FUTURE_S = 300.0

#: Accepted epoch range for ``ts``: 2000-01-01 .. 2100-01-01 (catches ms-instead-of-s bugs).
TS_MIN, TS_MAX = 946_684_800.0, 4_102_444_800.0


def _parse_ts(value: Any) -> float | None:
    """RFC 3339 string (the profile of :mod:`app.schemas.times`) or Unix epoch seconds ->
    epoch seconds (float).

    Raises:
        ValueError: a string outside the profile (no UTC offset, week date...), a boolean,
            a non-finite or out-of-range number (checked before any float conversion, so a
            400-digit integer is refused, not an OverflowError), a time too far ahead.
    """
    if value is None:
        return None
    seconds = stamp_seconds(value)
    ahead = seconds - time.time()
    if ahead > MAX_FUTURE_S:
        raise ValueError(
            f"is {ahead:.0f} s ahead of the server clock (at most {MAX_FUTURE_S:.0f} s); "
            "check the gateway's clock"
        )
    return seconds


def stamp_seconds(value: Any) -> float:
    """A reading's ``ts`` (RFC 3339 string or Unix epoch seconds) as epoch seconds, without
    the limit on how far ahead of the server clock it may be.

    Raises:
        ValueError: as :func:`_parse_ts`, but never for a time ahead.
    """
    if isinstance(value, bool):
        raise ValueError("must be an RFC 3339 string or Unix epoch seconds, not a boolean")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                "must be a finite number of seconds (NaN, Infinity and numbers too large "
                "for a double, such as 1e400, are refused)"
            )
        if not TS_MIN <= value <= TS_MAX:
            raise ValueError(
                f"must lie between 2000-01-01 and 2100-01-01 (Unix epoch seconds "
                f"{TS_MIN:.0f}..{TS_MAX:.0f}; milliseconds are not accepted)"
            )
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_rfc3339(value).timestamp()
        if not TS_MIN <= seconds <= TS_MAX:
            raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    else:
        raise ValueError("must be an RFC 3339 string or Unix epoch seconds")
    return seconds


class Reading(BaseModel):
    """One sensor reading. Numbers must be JSON numbers (strings are rejected) and finite."""

    model_config = ConfigDict(
        extra="forbid",
        cache_strings="keys",  # device ids are not kept (app.services.ingest._READINGS)
        json_schema_extra={
            "examples": [
                {
                    "device_id": "kitchen-01",
                    "ts": "2026-11-29T12:00:00Z",
                    "gas_ppm": 412.0,
                    "temperature_c": 21.5,
                    "humidity_pct": 45.0,
                }
            ]
        },
    )

    device_id: str = Field(
        pattern=DEVICE_ID_PATTERN,
        description=DEVICE_ID_RULE,
        examples=["kitchen-01"],
    )
    ts: Annotated[float | None, BeforeValidator(_parse_ts)] = Field(
        None,
        description="Reading time: RFC 3339 string with a UTC offset "
        "(YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm)) or Unix epoch seconds, 2000-01-01 to "
        "2100-01-01, at most 5 min ahead of the server clock; absent or null = server "
        "receive time. Stored as epoch seconds, to the microsecond: a fraction of more than "
        "6 digits is truncated, and a leap second (23:59:60Z at the end of a UTC month, RFC "
        "3339 section 5.7) is read as the last microsecond of its minute (23:59:59.999999Z). "
        "A refused ts is named with the reason.",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN},
                {"type": "number", "minimum": TS_MIN, "maximum": TS_MAX},
                {"type": "null"},
            ]
        },
    )
    gas_ppm: float = Field(
        strict=True,
        allow_inf_nan=False,
        description="Gas reading in the unit of the device's profile (ppm unless the profile "
        "says otherwise; the field keeps its name): ppm in [0, 1,000,000] (1,000,000 ppm = "
        "100 % by volume), %LEL in [-2.5, 20,000] (a drifting zero; NAMUR NE 43 on a "
        "0-100 %LEL loop: down to -1.25 %LEL is a measurement, below it a sensor_fault "
        '"out_of_range" is raised, below -2.5 %LEL a failure signal), mV in [-100,000, '
        "100,000], counts in [-2,147,483,648, 4,294,967,295] (any ADC of up to 32 bits); out "
        "of its unit's range it is refused naming gas_ppm, the unit and why (type "
        '"unit_range")',
        json_schema_extra={"minimum": GAS_MIN, "maximum": GAS_MAX},
    )
    temperature_c: float = Field(
        strict=True,
        allow_inf_nan=False,
        description="Temperature, °C, physically [-40, 125] (the range of the SHT3x/SHT4x "
        "T/RH sensors). A number outside it (a probe's error value: SHT3x raw 0 = -45 °C, "
        "0xFFFF = 130 °C) does not refuse the reading: its gas is taken, the temperature is "
        'unknown, and the reply\'s "warnings" name the field and why (type '
        '"ambient_out_of_range"; a sensor_fault "ambient_out_of_range" is raised)',
        json_schema_extra={"x-physical-range": [TEMP_RANGE_C[0], TEMP_RANGE_C[1]]},
    )
    humidity_pct: float = Field(
        strict=True,
        allow_inf_nan=False,
        description="Relative humidity, %RH, physically [0, 100]. Within 2 %RH outside it "
        "(a condensing or freshly wet SHT4x reads up to ~101 %RH, an offset zero -0.3 %RH) it "
        'is clipped to 0 or 100, the reply\'s "warnings" saying so (type "ambient_clipped"); '
        "further out it is treated as the temperature above (unknown, the gas taken, type "
        '"ambient_out_of_range")',
        json_schema_extra={"x-physical-range": [RH_RANGE_PCT[0], RH_RANGE_PCT[1]]},
    )


class Rejected(BaseModel):
    """A reading of a batch that was refused, with every reason."""

    index: int = Field(description="Position in the batch (0 for a single reading)")
    errors: list[dict[str, Any]] = Field(
        description='Each {"field": dotted path, "reason": text, "type": pydantic error type}'
    )


class Warned(BaseModel):
    """An accepted reading of a batch with a field that was not taken as sent."""

    index: int = Field(description="Position in the batch (0 for a single reading)")
    warnings: list[dict[str, Any]] = Field(
        description='Each {"field", "reason", "type"}: "ambient_out_of_range" (the value is '
        'outside its physical range and treated as unknown) or "ambient_clipped" (within '
        "2 %RH of [0, 100] %RH and clipped to it)"
    )


class IngestResult(BaseModel):
    """Reply to every ingestion, HTTP, WebSocket or MQTT."""

    accepted: int = Field(description="Readings stored and queued for scoring")
    rejected: list[Rejected] = Field(default_factory=list)
    warnings: list[Warned] = Field(
        default_factory=list,
        description="Accepted readings (counted in accepted) with a temperature or humidity "
        "that was not taken as sent: the field, the value and why; the gas was taken",
    )


def iso(ts: float) -> str:
    """Epoch seconds -> RFC 3339 UTC string with milliseconds."""
    return (
        datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def device_id_reason(value: object) -> str:
    """Why ``value`` is not a device id, in words (the one wording of every route: REST
    bodies, paths and queries, WebSocket and MQTT), naming the offending part; the
    pattern itself stays in the OpenAPI schema (:data:`DEVICE_ID_PATTERN`)."""
    if not isinstance(value, str):
        return f"must be a string of {DEVICE_ID_RULE}"
    if not value:
        why = "it is empty"
    elif len(value) > 64:
        why = f"it has {len(value)} characters, more than 64"
    elif value in (".", ".."):
        why = "it is a URL path's dot segment, which clients remove from a path"
    else:
        bad = next((ch for ch in value if not _ID_CHAR.fullmatch(ch)), None)
        why = f"it holds {bad!r}, a character a device id may not have" if bad else "?"
    return f"{shown(value)} is not a device id: {why} (a device id is {DEVICE_ID_RULE})"


#: A gateway key's device-id prefix (``app.schemas.auth``): 1-64 of the characters a device
#: id may hold (``.`` and ``..`` included: a prefix is no path segment).
PREFIX_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


def prefix_reason(value: object) -> str:
    """Why ``value`` is not a device-id prefix, in words, naming the offending character
    (pydantic's own words quoted :data:`PREFIX_PATTERN`, a regular expression)."""
    if not isinstance(value, str):
        return "must be a string of 1-64 characters of A-Z a-z 0-9 . _ : -"
    if not value:
        why = "it is empty"
    elif len(value) > 64:
        why = f"it has {len(value)} characters, more than 64"
    else:
        bad = next((ch for ch in value if not _ID_CHAR.fullmatch(ch)), None)
        why = f"it holds {bad!r}, a character a device id may not have" if bad else "?"
    return (
        f"{shown(value)} is not a device-id prefix: {why} (1-64 characters of A-Z a-z 0-9 . _ : -)"
    )


def device_id_ok(device_id: str) -> bool:
    """Whether ``device_id`` matches :data:`DEVICE_ID_PATTERN`."""
    return bool(_DEVICE_ID.fullmatch(device_id))
