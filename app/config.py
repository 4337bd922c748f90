"""Service settings, read from the environment (prefix ``GASLEAK_``) by pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Every tunable of the service. Defaults follow the seed design (window 60, raise at
    probability >= 0.7 for 3 consecutive windows) unless stated.

    Raises:
        pydantic.ValidationError: on a bad value or when ``alert_clear_probability`` is not
            below ``alert_raise_probability``.
    """

    model_config = SettingsConfigDict(env_prefix="GASLEAK_", env_file=".env", extra="ignore")

    artifacts_dir: Path = Field(ROOT / "artifacts", description="Folder with the shipped model")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Inference device: auto = CUDA when available, else CPU"
    )
    use_torch: bool = Field(True, description="False forces the pure-SVM model")

    window: int = Field(60, ge=2, description="Readings per scored window (seed: 60)")
    stride: int = Field(1, ge=1, description="Score a full window every `stride` readings")
    max_devices: int = Field(100_000, ge=1, description="Tracked-device cap")
    device_idle_s: float = Field(
        86_400.0, gt=0, description="Seconds without a reading before a device is evicted"
    )

    batch_max_size: int = Field(256, ge=1, description="Most windows in one inference call")
    batch_max_delay_ms: float = Field(
        2.0, ge=0, description="Longest a ready window waits for others to join its batch, ms"
    )
    score_queue_max: int = Field(
        20_000, ge=1, description="Windows waiting for scoring before ingestion waits (backpressure)"
    )
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads; 0 = all cores. 1 measured best on 2 cores "
        "(the event loop keeps the other; see README Performance)",
    )
    scoring_mode: Literal["batched", "inline"] = Field(
        "batched",
        description="batched: windows of all devices share inference calls (micro-batching); "
        "inline: one inference call per window, awaited by its request (naive, for comparison)",
    )
    accel: Literal["none", "int8", "torchscript", "onnx"] = Field(
        "none", description="Inference variant of the LSTM encoder (see app/ml/accel.py)"
    )
    svm_backend: Literal["sklearn", "array"] = Field(
        "array",
        description="array: the SVM as batched tensor operations (same probabilities to "
        "~1e-11, faster, runs on the GPU); sklearn: libsvm, one window at a time",
    )

    alert_raise_probability: float = Field(0.7, gt=0, le=1, description="Seed: 0.7")
    alert_raise_windows: int = Field(3, ge=1, description="Consecutive windows to raise (seed: 3)")
    alert_clear_probability: float = Field(0.3, ge=0, lt=1, description="Hysteresis: clear below")
    alert_clear_windows: int = Field(10, ge=1, description="Consecutive windows to resolve")
    alert_critical_probability: float = Field(
        0.9, gt=0, le=1, description="Probability at which a leak alert is critical"
    )

    subscriber_queue_max: int = Field(
        1_000, ge=1, description="Events queued per subscriber before it is disconnected"
    )
    recent_events_max: int = Field(10_000, ge=1, description="Events kept for GET /api/alerts")
    max_batch_readings: int = Field(10_000, ge=1, description="Most readings in one message")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if not self.alert_clear_probability < self.alert_raise_probability:
            raise ValueError("alert_clear_probability must be below alert_raise_probability")
        if self.alert_critical_probability < self.alert_raise_probability:
            raise ValueError("alert_critical_probability must be >= alert_raise_probability")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
