"""Wire models for devices: the per-device view, the registry list, profiles."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationInfo,
    field_validator,
)

from app.schemas.alerts import AlertState, Kind, Severity
from app.schemas.times import LINE

#: The gases of ``app.alerting.profiles.LEL_PCT_VOL`` (tests/alerting/test_safety.py checks).
Gas = Literal[
    "methane",
    "ethane",
    "propane",
    "n-butane",
    "isobutane",
    "lpg",
    "hydrogen",
    "ammonia",
    "ethylene",
    "acetylene",
]


#: The units of ``app.alerting.profiles.UNITS``.
Unit = Literal["ppm", "ppb", "%LEL", "counts", "mV"]
#: The polarities of ``app.alerting.profiles.POLARITIES``.
Polarity = Literal["rising", "falling"]

_ZERO = (
    "Raw units only (counts, mV): the device's reading at no gas, in its unit (a 4-20 mA "
    "loop read as 1,000 mV, a 12-bit ADC at 819 counts); leak detection measures the gas "
    "from it. Null: 0"
)
_POLARITY = (
    "Raw units only: the direction the output moves with gas, rising (default) or falling "
    "(leak detection then measures zero - reading; the set points alarm at or below them, "
    "high_set_point below low_set_point, both below the zero)"
)


class LastReading(BaseModel):
    """The newest stored reading of a device, as its ring buffer keeps it (float32: about 7
    significant digits; the readings history and the rules keep the exact value)."""

    gas_ppm: float
    temperature_c: float
    humidity_pct: float


#: The sensor_fault conditions (``app.alerting.safety.FAULTS`` is taken from this literal).
FaultCondition = Literal[
    "stuck",
    "rate_of_change",
    "out_of_range",
    "ambient_out_of_range",
    "spike",
    "silent",
    "clock",
    "dropout",
]


class OpenAlertOut(BaseModel):
    """One open alert of a device."""

    alert_id: str
    kind: Kind
    severity: Severity
    state: AlertState
    conditions: list[FaultCondition] | None = Field(
        None,
        description="sensor_fault only (null for the other kinds): the fault conditions "
        "holding now, in the order stuck, rate_of_change, out_of_range, spike, silent, "
        "clock, dropout (README Safety rules); empty while none holds and the fault "
        "waits out its off-delay before it resolves (the alert's events tell every "
        "condition the episode had)",
    )


class Profile(BaseModel):
    """A device's profile. Set points are in % of the gas's LEL (need ``gas``); null = the
    default (10 / 25 %LEL; without a gas, the global ppm set points). Numbers must be JSON
    numbers, as in readings: ``"1000"`` is refused, not read as 1000 (newcomer)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200, pattern=LINE, examples=["Boiler room sensor"])
    location: str | None = Field(
        None, max_length=200, pattern=LINE, examples=["Building A, basement"]
    )
    gas: Gas | None = Field(
        None,
        description="Measured gas; LEL from IEC 60079-20-1 (app/alerting/profiles.py)",
        examples=["propane"],
    )
    unit: Unit = Field(
        "ppm",
        description="Unit of the device's gas_ppm readings: ppm; ppb (a concentration like "
        "ppm: every limit and set point given in ppm converted, x 1,000; leak detection "
        "judges the gas in ppb, as sent); %LEL (set points "
        "low_pct_lel / high_pct_lel, default 10 / 25 %LEL); a raw unit, counts or mV (no "
        "set point unless low_set_point / high_set_point are given in that unit)",
    )
    low_pct_lel: StrictFloat | None = Field(
        None, gt=0, le=100, allow_inf_nan=False, description="Warning set point, %LEL"
    )
    high_pct_lel: StrictFloat | None = Field(
        None, gt=0, le=100, allow_inf_nan=False, description="Critical set point, %LEL"
    )
    low_set_point: StrictFloat | None = Field(
        None,
        allow_inf_nan=False,
        description="Warning set point in the device's unit: a raw unit (counts, mV), or "
        "ppm (ppb) for a ppm (ppb) device (a toxic gas's, H2S 10 ppm; instead of %LEL set "
        "points). A reading at or above it alarms; on a falling device (polarity falling) "
        "at or below it, and it must be below the zero (an O2 cell at 10.0 mV at 20.9 %vol: "
        "9.33 mV, 19.5 %vol)",
    )
    high_set_point: StrictFloat | None = Field(
        None,
        allow_inf_nan=False,
        description="Critical set point in the device's unit: a raw unit (counts, mV), "
        "or ppm (ppb) for a ppm (ppb) device (H2S 50 ppm). Above low_set_point; on a "
        "falling device (polarity falling) below it, alarming at or below it (the O2 cell's "
        "8.61 mV, 18.0 %vol)",
    )
    zero: StrictFloat | None = Field(
        None, allow_inf_nan=False, description=_ZERO, examples=[1000.0]
    )
    polarity: Polarity = Field("rising", description=_POLARITY)
    enabled: StrictBool = Field(True, description="False: no alerts, not watched for silence")


class ProfilePatch(BaseModel):
    """Fields to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200, pattern=LINE)
    location: str | None = Field(None, max_length=200, pattern=LINE)
    gas: Gas | None = None
    unit: Unit = "ppm"
    low_pct_lel: StrictFloat | None = Field(None, gt=0, le=100, allow_inf_nan=False)
    high_pct_lel: StrictFloat | None = Field(None, gt=0, le=100, allow_inf_nan=False)
    low_set_point: StrictFloat | None = Field(
        None,
        allow_inf_nan=False,
        description="Warning set point in the device's unit (see PUT); on a falling device "
        "at or below it alarms",
    )
    high_set_point: StrictFloat | None = Field(
        None,
        allow_inf_nan=False,
        description="Critical set point in the device's unit (see PUT); on a falling device "
        "it is below low_set_point",
    )
    zero: StrictFloat | None = Field(None, allow_inf_nan=False, description=_ZERO)
    polarity: Polarity = Field("rising", description=_POLARITY)
    enabled: StrictBool | None = Field(None, description="true or false; leave it out to keep it")

    @field_validator("enabled", "unit", "polarity", mode="before")
    @classmethod
    def _not_null(cls, v: object, info: ValidationInfo) -> object:
        if v is None:
            what = {"enabled": "true or false", "unit": "a unit", "polarity": "rising or falling"}
            raise ValueError(
                f"must be {what[str(info.field_name)]} (leave it out to keep the current value)"
            )
        return v


class SignalInfo(BaseModel):
    """The device's clean-air level, noise scale and warm-up (app/ml/signal.py)."""

    state: Literal["warming_up", "ready"] = Field(
        description="warming_up: not scored for leaks yet (the safety set points already apply)"
    )
    readings_to_warm: int = Field(description="Readings still needed before leak scoring")
    settling: bool = Field(
        False,
        description="Scored, but within `settle_s` (10 min) of the warm-up: its clean-air "
        "wander is still being learned, and a leak alarm needs +49 % over the level "
        "(`settle_log_ratio`) instead of +22 %",
    )
    level: float | None = Field(
        description="Clean-air level (baseline), gas unit; for a device with a `zero` or a "
        "falling `polarity`, of the gas as detection sees it (reading - zero, or zero - "
        "reading), as are `z`, `gate` and `leak_reference`"
    )
    noise_scale: float | None = Field(description="Noise scale (robust sd), gas unit")
    z: float | None = Field(description="Last reading above the level, in noise scales")
    held: bool = Field(description="Level held by an open leak episode")
    restarts: int = Field(description="Warm-ups restarted by a data gap or a baseline reset")
    ambient_gain: float = Field(
        1.0,
        description="The device's learned ambient gain: the multiple (1-3) of the configured "
        "temperature and humidity sensitivities (0.0175 per °C, 0.0065 per %RH in log "
        "ratio) its gas has shown; what a T/RH change may explain of a rise is multiplied "
        "by it. Always 1 unless the model's manifest sets `ambient_gain_max` (off by "
        "default); an operator's baseline reset sets it back to 1",
    )
    last_reset: dict[str, Any] | None = Field(
        None,
        description="The last operator baseline reset: by, reason, at (RFC 3339); "
        "`level_kept` {learned, kept} when a reset forced during a leak learned a level far "
        "above the one before it and that old level was kept",
    )
    leak_reference: dict[str, float] | None = Field(
        None,
        description="While a leak alert is open: the clean-air `level` and `noise_scale` "
        "kept at its raise, and `clears_below`, the gas (gas unit, median of the last 10 "
        "readings) under which it may clear (half the raise's bounds above that level; a "
        "temperature or humidity change since raises it by what it can explain)",
    )
    gate: dict[str, float | bool | None] | None = Field(
        None,
        description="The evidence gate on the last reading (null while warming up): "
        "`rise_pct` over the level, `needs_rise_pct` (the +22 % bound, +49 % while "
        "settling, plus what the temperature/humidity change since the level was learned "
        "explains; null at a level at or below 0), `needs_z` (4 noise scales, 8 at a 0 "
        "floor) and `open` (both met: the model's probability then decides). The gate "
        "itself tests the median of the last three readings",
    )
    raise_windows: int | None = Field(
        None,
        description="High windows in a row a leak alarm needs now (besides the alarm delay): "
        "3, up to 6 for a day after the device showed a short burst of high windows that "
        "ended by itself (a sensor's 2-3-reading spikes; `GASLEAK_ALERT_BURST_WINDOWS`)",
    )


class DeviceInfo(BaseModel):
    """One device: its profile, set points, open alerts of every kind, and (while it is in
    memory) buffer fill, last reading and last probability."""

    device_id: str
    profile: Profile
    lel_ppm: float | None = Field(description="LEL of its gas, ppm (null: gas not set)")
    unit: Unit = Field(description="Unit of its gas readings (its profile's unit)")
    set_points: tuple[float, float] | None = Field(
        description="(low, high) in effect, in `unit`: (warning, critical); null: no "
        "threshold rule (a raw-unit device without set points of its own). On a falling "
        "device (polarity falling) high is the smaller value: it alarms at or below them"
    )
    set_points_ppm: tuple[float, float] | None = Field(
        description="(low, high) in effect, ppm; null unless `unit` is ppm"
    )
    readings_seen: int | None = None
    buffer_fill: int | None = Field(None, description="Readings in the window buffer")
    window: int | None = None
    last_ts: str | None = Field(None, description="RFC 3339 time of the newest reading")
    last_reading: LastReading | None = None
    gas_pct_lel: float | None = Field(
        None, description="Last gas in %LEL (gas configured, or a %LEL device)"
    )
    signal: SignalInfo | None = Field(None, description="The device's online signal model")
    gas_baseline: float | None = Field(
        None,
        description="The signal model's clean-air level as a reading of the device, gas unit "
        "(null while warming up)",
    )
    last_probability: float | None = Field(
        None,
        description="Leak score of the last window (the model's probability behind the "
        "evidence gate; null before the first scored window)",
    )
    alert_state: str = Field(
        description='"normal", or the worst state of its open alerts: '
        '"active", "cleared_unacked", "acknowledged"'
    )
    alert_id: str | None = Field(description="The most severe open alert")
    severity: str | None
    alerts: list[OpenAlertOut] = Field(description="Every open alert, leak first")


class DevicePage(BaseModel):
    """Registered devices by id."""

    devices: list[DeviceInfo]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
    total: int = Field(description="Devices matching the filters")
