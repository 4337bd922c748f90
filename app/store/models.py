"""Tables of the store (SQLAlchemy 2 declarative). Times are epoch seconds (float).

The ``events`` table is the source of truth; ``alerts`` is its projection (one row per
alert, updated by every event of that alert in the same transaction). Migrations in
``migrations/versions`` create exactly these tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is Alembic's target."""


class Event(Base):
    """One alert event. ``event_id`` never repeats, even after restarts or deletions
    (SQLite AUTOINCREMENT, a PostgreSQL identity)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_event", "device_id", "event_id"),
        Index("ix_events_alert", "alert_id", "event_id"),
        {"sqlite_autoincrement": True},
    )

    event_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    ts: Mapped[float] = mapped_column(Float)
    published_at: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    silenced: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class Alert(Base):
    """One alert, from raise to resolve. ``seq`` orders alerts and is the list cursor."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_device", "device_id", "seq"),
        Index("ix_alerts_state", "state", "seq"),
        Index("ix_alerts_opened", "opened_ts"),
        Index("ix_alerts_unannounced", "unannounced", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    peak_severity: Mapped[str | None] = mapped_column(
        String(16),
        nullable=True,
        doc="Highest severity of its events so far (what min_severity and GET /api/alerts "
        "?severity= judge); migration 0009",
    )
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    gas_ppm: Mapped[float | None] = mapped_column(
        Float, nullable=True, doc="Gas at the latest event, in gas_unit (the name is historic)"
    )
    gas_unit: Mapped[str | None] = mapped_column(
        String(16), nullable=True, doc="The device's unit at the event; null: stored before 0006"
    )
    opened_ts: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[float] = mapped_column(Float)
    resolved_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    ack_author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ack_comment: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    ack_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    gas_pct_lel: Mapped[float | None] = mapped_column(Float, nullable=True)
    episode: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    silenced: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    notified_at: Mapped[float | None] = mapped_column(
        Float, nullable=True, doc="Wall time of the last raise/update/reminder (reminders)"
    )
    unannounced: Mapped[bool] = mapped_column(
        Boolean,
        server_default=false(),
        default=False,
        doc="Subscribers and webhooks are owed its current state: its last event was "
        "silenced, and it is open or an earlier event of it was announced; cleared by its "
        "next unsilenced event (AlertService.announce_unsilenced); migration 0011",
    )


class PolicyState(Base):
    """A device's alert-policy state (debounce counters, open alert), for restart safety."""

    __tablename__ = "policy_states"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class SafetyState(Base):
    """A device's open threshold / sensor_fault episodes with their off-delay timers."""

    __tablename__ = "safety_states"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class Device(Base):
    """A registered device and its profile (``app.alerting.profiles.DeviceProfile``)."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gas: Mapped[str | None] = mapped_column(String(32), nullable=True)
    low_pct_lel: Mapped[float | None] = mapped_column(Float, nullable=True)
    high_pct_lel: Mapped[float | None] = mapped_column(Float, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Unit of its gas readings ("ppm", "ppb", "%LEL", "counts", "mV"); set points in a raw unit.
    unit: Mapped[str] = mapped_column(String(16), default="ppm", server_default="ppm")
    low_set_point: Mapped[float | None] = mapped_column(Float, nullable=True)
    high_set_point: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: A raw-unit device's reading at no gas (null: 0) and output direction (migration 0008).
    zero: Mapped[float | None] = mapped_column(Float, nullable=True)
    polarity: Mapped[str] = mapped_column(String(8), default="rising", server_default="rising")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SilenceRow(Base):
    """A silence (``app.alerting.silences.Silence``); expired ones are kept."""

    __tablename__ = "silences"

    silence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    min_severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    starts_at: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(String(2000))
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class Delivery(Base):
    """One event for one webhook receiver: pending -> delivered | expired."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_deliveries_url_status", "url", "status", "event_id"),)

    delivery_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    last_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ReadingRow(Base):
    """One accepted reading, for the history endpoint (pruned after the retention time)."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    gas_ppm: Mapped[float] = mapped_column(Float)
    temperature_c: Mapped[float] = mapped_column(Float)
    humidity_pct: Mapped[float] = mapped_column(Float)


class DeviceSnapshot(Base):
    """A device's ring buffer and signal model as of ``saved_at``, so a restart goes on
    from them instead of warming every device up again (``app/services/snapshots.py``)."""

    __tablename__ = "device_snapshots"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Comma-separated signal fields in ``signal`` (a row of another layout is not restored).
    layout: Mapped[str] = mapped_column(String(400))
    #: The signal model's slot: one float64 per field of ``layout``, little-endian.
    signal: Mapped[bytes] = mapped_column(LargeBinary)
    #: The ring's readings, oldest first: float32 (gas, °C, %RH) rows, little-endian.
    ring: Mapped[bytes] = mapped_column(LargeBinary)
    #: Readings the device had when saved (the ring's write position is count % ring).
    count: Mapped[int] = mapped_column(BigInteger)
    #: Time of its newest reading, epoch s (readings history after it is replayed).
    last_ts: Mapped[float] = mapped_column(Float)
    saved_at: Mapped[float] = mapped_column(Float)
    #: The device's last leak probability (device view ``last_probability``); null: not
    #: scored yet, or a row saved before this column (migration 0007).
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)


class ApiKey(Base):
    """An API key: only the SHA-256 of its secret part is stored (the key is shown once).

    A key reads ``gl_<key_id>_<secret>``; ``secret_hash`` is ``sha256(secret)`` in hex.
    """

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    device_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(250))
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(250), nullable=True)


class AuditRow(Base):
    """One change made by someone: who (key id, name, role), what, on what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_action", "action", "audit_id"),
        {"sqlite_autoincrement": True},
    )

    audit_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
