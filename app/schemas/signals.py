"""Wire models of the signal model's operator actions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.schemas.times import LINE, TEXT


class BaselineReset(BaseModel):
    """An operator's request to forget a device's clean-air level and warm up again."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(
        min_length=1,
        max_length=128,
        pattern=LINE,
        description="Who resets (operator name or id)",
        examples=["operator@plant"],
    )
    reason: str | None = Field(
        None,
        max_length=1000,
        pattern=TEXT,
        description="Why, free text",
        examples=["sensor replaced"],
    )
    force: StrictBool = Field(
        False,
        description="Reset although the device has an open leak alert. Without it such a "
        "reset is refused (409 naming the alert): the level relearned during a leak is the "
        "leak's own gas, on which the alert would later resolve as 'all clear'. With it the "
        "alert is resolved at once with reason `baseline_reset`, its detail naming who, when "
        "and why. Forced or not, the level before the reset stays the reference of the "
        "warm-up (see `trust_new_level`)",
    )
    trust_new_level: StrictBool = Field(
        False,
        description="Take whatever level the warm-up learns, even far above the level before "
        "the reset (a replaced sensor that reads higher in clean air). Without it every "
        "reset keeps the old level as the warm-up's reference: a level learned at least the "
        "evidence bound above it (4 old noise scales and +22 %) is gas, not clean air (a "
        "leak that began before the reset, inside the alarm delay, or during the warm-up), "
        "so the old level is kept (device view `signal.last_reset.level_kept`) and the leak "
        "is raised; a level learned lower or less far above is taken as it is",
    )


class BaselineResetDone(BaseModel):
    """What was reset, by whom and when."""

    device_id: str
    by: str
    reason: str | None
    at: str = Field(description="RFC 3339 server time of the reset")
    readings_to_warm: int = Field(description="Readings before the device is scored again")
    resolved_alert_id: str | None = Field(
        None, description="The open leak alert a forced reset resolved (`baseline_reset`)"
    )
    keeps_old_level: bool = Field(
        False,
        description="The level before the reset stays the warm-up's reference: a level "
        "learned at least the evidence bound above it is not taken (false with "
        "`trust_new_level`, or while the device had no level yet, still warming up)",
    )
