"""Wire models of the health probes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Check(BaseModel):
    """One part of the service checked by ``/readyz``."""

    ok: bool
    detail: str = Field(description="What was checked, or why it failed")


class Readiness(BaseModel):
    """Every part checked by ``/readyz``; ``failing`` lists those not ready."""

    ready: bool
    failing: list[str] = Field(description='Names of failing parts: "model", "store", "scorer"')
    checks: dict[str, Check]
