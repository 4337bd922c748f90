"""Wire models for a device's readings history."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HistoryPoint(BaseModel):
    """Readings of one time bucket, aggregated."""

    ts: str = Field(description="RFC 3339 start of the bucket")
    n: int = Field(description="Readings in the bucket")
    gas_ppm_mean: float
    gas_ppm_min: float
    gas_ppm_max: float
    temperature_c_mean: float
    humidity_pct_mean: float


class ReadingsHistory(BaseModel):
    """A device's stored readings over ``[from, to)``, downsampled to ``bucket_s`` buckets."""

    device_id: str
    start: str = Field(serialization_alias="from", description="RFC 3339, inclusive")
    end: str = Field(serialization_alias="to", description="RFC 3339, exclusive")
    bucket_s: float = Field(
        description="Bucket width used, seconds: the `bucket_s` asked for, or the span / "
        "max_points when none was asked for or when the one asked for would make more than "
        "10 x max_points buckets"
    )
    retention_s: float = Field(description="Readings older than this are pruned, seconds")
    points: list[HistoryPoint] = Field(description="Non-empty buckets, oldest first")
