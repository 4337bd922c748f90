"""Service settings, read from the environment (prefix ``GASLEAK_``) by pydantic-settings."""

from __future__ import annotations

import difflib
import json
import os
import re
import sqlite3
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from limits import parse_many
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parents[1]
#: Shortest bootstrap admin key accepted: 32 characters (>= 192 bits for a random
#: token_urlsafe key; OWASP ASVS 6.2 asks for >= 128 bits of entropy for secrets).
MIN_KEY_CHARS = 32

#: The schemes of ``database_url`` the store runs on, each with an example.
STORE_SCHEMES = {
    "postgresql+asyncpg": "postgresql+asyncpg://user:pw@host/db",
    "sqlite+aiosqlite": "sqlite+aiosqlite:///path/to/file.db",
}
#: A list setting: JSON text in the environment, parsed by :meth:`Settings._json_list`
#: (``NoDecode``: pydantic-settings' own parsing raised ``SettingsError``, a traceback that
#: named neither the variable nor the form wanted; newcomer of 2 Dec).
JsonList = Annotated[list[str], NoDecode]
#: A range setting: a JSON list of two numbers, parsed as :data:`JsonList` is.
JsonRange = Annotated[tuple[float, float], NoDecode]
#: An example of each list and range setting, for the refusal of one that is not JSON.
LIST_EXAMPLES = {
    "webhook_urls": '["https://ops.example/hook"]',
    "webhook_allowed_hosts": '["ops.example"]',
    "allowed_origins": '["https://ops.example"]',
}
RANGE_EXAMPLES = {"gas_range_ppm": "[0, 60000]", "temp_range_c": "[-40, 85]"}
#: The settings that null turns off (each description says "null = ..."); in the
#: environment ``null`` (any case; ``none`` too) is that null: pydantic-settings passes the
#: text on, and ``GASLEAK_REMINDER_INTERVAL_S=null`` was "Input should be a valid number"
#: (newcomer of 2 Dec).
NULL_IS_OFF = (
    "max_devices_per_key",
    "reminder_interval_s",
    "alert_critical_gas_ppm",
    "alert_worsen_factor",
    "alert_escalate_after_s",
    "mqtt_url",
)
NULL_WORDS = frozenset({"null", "none"})
#: An example of ``ingest_rate_limit``, and the parts of ``limits`` notation
#: (``limits.util.SINGLE_EXPR``: count, "/" or "per", optional multiples, period).
RATE_EXAMPLE = "200/second;5000/minute"
RATE_SEPARATOR = re.compile(r"[,;|]")
RATE_ITEM = re.compile(r"([0-9]+)\s*(?:/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)", re.IGNORECASE)


def shown_setting(text: str, limit: int = 40) -> str:
    """``text`` quoted for a refusal, cut to ``limit`` characters and ``...``."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _store_url_usable(url: str, scheme: str) -> str:
    """``url`` (of a scheme in :data:`STORE_SCHEMES`) parsed as the store will parse it
    (``sqlalchemy.engine.make_url``): a port that is a number from 1 to 65535, and for
    SQLite a file path (``Store`` refuses an in-memory database: the writer thread's and
    the readers' connections would each get their own). ``postgresql+asyncpg://h:notaport/db``,
    ``sqlite+aiosqlite://`` and ``sqlite+aiosqlite:///`` passed the scheme check and then
    died in an 84-103 line traceback, exit 3 (newcomer of 2 Dec).

    Raises:
        ValueError: naming what is wrong and never the password.
    """
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise ValueError(
            f"is not a URL the store can parse (the port, if any, must be a number): "
            f"write it as {STORE_SCHEMES[scheme]}"
        ) from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not a port (1-65535)")
    if scheme.startswith("sqlite") and (
        parsed.database in (None, "", ":memory:") or "mode=memory" in url
    ):
        raise ValueError(
            "names no SQLite file (an in-memory database would be empty to every connection "
            f"but its own): write {STORE_SCHEMES[scheme]}, or unset it to use "
            "GASLEAK_DB_PATH"
        )
    return url


#: The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html 1.3.1).
SQLITE_HEADER = b"SQLite format 3\x00"


#: SQLite's result codes for a file that is not a database or whose body is corrupt
#: (``sqlite3.Error.sqlite_errorcode``): SQLITE_CORRUPT, SQLITE_NOTADB.
_SQLITE_BROKEN = (11, 26)


def _sqlite_unreadable(path: Path) -> str | None:
    """Why the SQLite file at ``path``, whose magic string is right, cannot be read, or
    None. Its 100-byte header must be SQLite's (a page size that is a power of two from
    512 to 65536, the fixed payload fractions 64, 32, 32: SQLite's file format section
    1.3); then, unless the file is in WAL mode, it is opened read-only (nothing written, a
    shared lock only) and its schema read, what opening it costs the store. A WAL file is
    not opened: a read-only connection leaves ``-wal`` and ``-shm`` files behind, owned by
    whoever ran the command. A file with a good magic string and a corrupt body died in a
    248-line traceback, exit 3, in ``--mode serve`` (189 lines, exit 1, in ``--mode keys
    list``; newcomer of 2 Dec). Corruption deeper in the file is left to SQLite when the
    page is read; a locked or busy database is no reason (the store waits for it)."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    size = int.from_bytes(head[16:18], "big") if len(head) == 100 else 0
    if size == 1:
        size = 65536
    if size < 512 or size & (size - 1) or head[21:24] != b"\x40\x20\x20":
        return "is not a readable SQLite database: its header is damaged"
    if head[18] == 2 or head[19] == 2:
        return None  # WAL: not opened (see above)
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None  # not this check's to explain; the store's own error follows
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) in _SQLITE_BROKEN:
            return f"is not a readable SQLite database (SQLite: {exc})"
        return None
    finally:
        con.close()
    return None


def _db_path_usable(path: Path) -> str | None:
    """Why the store cannot open or create its SQLite file at ``path``, or None.

    ``path`` must be a regular file that is an SQLite database (or empty) and that this
    process may read and write, or not exist yet, under folders this process may create
    it in (the store makes missing folders). ``GASLEAK_DB_PATH=/tmp`` died in a 222-line
    traceback, exit 3, in ``--mode serve`` and 163 lines, exit 1, in ``--mode keys list``
    (newcomer of 2 Dec). Decided from the file system without writing to it.
    """
    shown = shown_setting(str(path), 70)
    if path.exists():
        if path.is_dir():
            return f"{shown} is a folder: name the SQLite file, such as {path / 'gasleak.db'}"
        if not path.is_file():
            return f"{shown} is not a regular file: name an SQLite file"
        if not os.access(path, os.R_OK | os.W_OK):
            return f"{shown} cannot be read and written by this process (user id {os.getuid()})"
        try:
            with path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            return f"{shown} cannot be read: {exc.strerror}"
        if head and head != SQLITE_HEADER:
            return f"{shown} is not an SQLite database: name a new or an SQLite file"
        if head and (why := _sqlite_unreadable(path)) is not None:
            return f"{shown} {why}: name a new or an SQLite file"
        return None
    folder = path.parent
    while not folder.exists():  # the store makes the missing folders, under the first one
        folder = folder.parent
    if not folder.is_dir():
        return f"{shown} cannot be made: {shown_setting(str(folder), 70)} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"{shown} cannot be made: this process (user id {os.getuid()}) may not write in "
            f"{shown_setting(str(folder), 70)}"
        )
    return None


#: The schemes ``nats.connect`` takes for a server (``cluster_nats_url``).
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def _url_reason(url: str, schemes: tuple[str, ...], example: str) -> str | None:
    """Why ``url`` cannot be connected to, or None: its scheme must be one of ``schemes``,
    it must name a host, and a port, if given, must be a number from 1 to 65535.
    ``GASLEAK_WEBHOOK_URLS='["http://127.0.0.1:99999/x"]'`` started, then every event was
    retried for a day; ``GASLEAK_MQTT_URL=mqtt://h:0`` was taken (newcomer of 2 Dec). The
    reason names the scheme, host and port only, never the path or query (a token); a URL
    ``urlsplit`` cannot read (``http://[::1/x``) is named by why, not echoed (its message
    may quote the host and a password)."""
    try:
        parsed = urlsplit(url.strip())
    except ValueError as exc:
        # raised from the model validator this was "bad setting (GASLEAK_* settings):
        # Invalid IPv6 URL", naming no setting (newcomer of 2 Dec)
        why = (
            "a '[' or ']' of an IPv6 host is unmatched"
            if "IPv6" in str(exc)
            else "its host holds characters that change under Unicode NFKC normalization"
        )
        return f"cannot be read as a URL: {why}"
    if parsed.scheme.lower() not in schemes:
        got = f"scheme {shown_setting(parsed.scheme, 20)}" if parsed.scheme else "no scheme"
        return f"has {got}: expected {' or '.join(s + '://' for s in schemes)}, such as {example}"
    if not parsed.hostname:
        return f"names no host: expected such as {example}"
    try:
        port = parsed.port  # None when not given; ValueError when not a number 0-65535
    except ValueError:
        given = parsed.netloc.rpartition(":")[2]
        return f"port {shown_setting(given, 20)} is not a port (a number 1-65535)"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is not a port (a number 1-65535)"
    return None


class Settings(BaseSettings):
    """Every tunable of the service. Defaults follow the seed design (window 60, raise at
    probability >= 0.7 for 3 consecutive windows) unless stated.

    Raises:
        pydantic.ValidationError: on a bad value (a number that is not finite, a list
            setting that is not a JSON list, a ``database_url`` scheme the store does not
            run on, a ``db_path`` the store cannot open or create: see
            :func:`_db_path_usable`) or when ``alert_clear_probability`` is not below
            ``alert_raise_probability``.
    """

    # hide_input_in_errors: a refused value may be a secret (a key, a database password);
    # errors still name the setting and the reason. allow_inf_nan=False: "inf" and "nan"
    # parse as floats, and GASLEAK_THRESHOLD_HIGH_PPM=inf made a critical set point that
    # never fires (newcomer of 2 Dec); every number setting is finite.
    model_config = SettingsConfigDict(
        env_prefix="GASLEAK_",
        env_file=".env",
        extra="ignore",
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    artifacts_dir: Path = Field(ROOT / "artifacts", description="Folder with the shipped model")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Inference device: auto = CUDA when available, else CPU"
    )
    use_torch: bool = Field(True, description="False forces the pure-SVM model")
    model_enabled: bool = Field(
        True, description="False: load no model; only the safety rules raise alerts"
    )

    window: int | None = Field(
        None,
        ge=3,
        description="Readings per scored window. The model fixes it (its manifest's window, "
        "60 for the shipped model); set it only to assert that value: a different one is "
        "refused at start-up. Used as is when the model is disabled (default 60)",
    )
    stride: int = Field(1, ge=1, description="Score a full window every `stride` readings")
    max_devices: int = Field(100_000, ge=1, description="Tracked-device cap")
    max_devices_per_key: int | None = Field(
        10_000,
        ge=1,
        description="Tracked devices one key with a device prefix may bring in (a tenth of "
        "the default max_devices, so one such gateway cannot fill the cap on its own); its "
        "new devices beyond it are rejected as key_device_quota; null = no quota. Keys "
        "without a prefix (trusted with every device) and cluster mode are not limited",
    )
    device_idle_s: float = Field(
        86_400.0, gt=0, description="Seconds without a reading before a device is evicted"
    )

    batch_max_size: int = Field(256, ge=1, description="Most windows in one inference call")
    batch_max_delay_ms: float = Field(
        2.0, ge=0, description="Longest a ready window waits for others to join its batch, ms"
    )
    score_queue_max: int = Field(
        20_000,
        ge=1,
        description="Windows waiting for scoring before ingestion waits (backpressure)",
    )
    overload_loop_lag_s: float = Field(
        0.5,
        gt=0,
        description="Event-loop lag, s, above which ingestion sheds messages (429 / an "
        "overloaded frame) instead of falling behind its sockets (app/services/admission.py)",
    )
    overload_wait_s: float = Field(
        5.0,
        ge=0,
        description="How long an ingestion message may wait for an overload (full scoring "
        "queue, late event loop) to clear before it is shed, s; 0 = shed at once",
    )
    ingest_rate_limit: str = Field(
        "",
        description="Messages per API key on /api/readings and /ws/readings, in `limits` "
        'notation ("200/second;5000/minute"); empty = no limit. Counted per key '
        "(app/services/ratelimit.py rate_key: the API key, else the client address). Each "
        "limit allows at least 1 message over at least 1 period (0/second and 1/0second are "
        "refused at start-up)",
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
    alert_raise_span_s: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="A run of 2 high windows spanning this many seconds of reading time also "
        "raises a leak alert (a device reporting every 2 min or slower; a device with learned "
        "bursts excepted): the alarm delay is time, and 3 windows cost a 5-min device 15 min. "
        "Hourly air_quality_uci benchmark: recall >= 3 sd 0.727 -> 0.864, median delay "
        "14,400 -> 10,800 s, 0 false alarms in 3,493 clean device-hours; 0 = off",
    )
    alert_raise_min_s: float = Field(
        8.0,
        ge=0,
        le=300,
        description="Alarm delay: the raising run of windows must also span this many seconds "
        "of reading time, at most 300 (a leak alarm on-delay longer than the default silence "
        "limit is a leak alarm lost; "
        "a 1 Hz device needs 9 windows; see alert_raise_span_s for slow devices). 8 s: the "
        "smallest value of `python -m bench.gate_sweep` that removes the alerts of a clean "
        "8-reading eCO2 puff (smoke_iot row 55045), of a 270-s heat run-up (row 55701) and "
        "of 3-reading bursts, for 3-6 s more delay on the real events (5 s until 1 Dec: the "
        "puff alarmed again once the evaluation replayed the 60 s off-delay)",
    )
    alert_clear_probability: float = Field(0.3, ge=0, lt=1, description="Hysteresis: clear below")
    alert_clear_windows: int = Field(10, ge=1, description="Consecutive windows to resolve")
    alert_critical_probability: float = Field(
        0.9, gt=0, le=1, description="Probability at which a leak alert is critical"
    )

    # Safety rules (app/services/safety.py), always on. Methane: LEL 5 % vol = 50,000 ppm
    # (IEC 60079-20-1); 10 % / 25 % LEL are the usual low/high alarm set points (EN 60079-29-1
    # practice). Clean indoor air reads ~400-460 ppm (smoke_iot rows 0-3177), far below.
    threshold_low_ppm: float = Field(5_000.0, gt=0, description="Low set point (10 % LEL CH4)")
    threshold_high_ppm: float = Field(
        12_500.0, gt=0, description="High (critical) set point, ppm (25 % LEL CH4)"
    )
    threshold_hysteresis: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Threshold deadband: an alarm clears below its set point less this "
        "fraction of the set point's distance from the device's zero (set point x (1 - "
        "hysteresis) at zero 0)",
    )
    alert_off_delay_s: float = Field(
        60.0,
        ge=0,
        description="Off-delay, reading-time s: an alert (leak, threshold, sensor_fault) "
        "resolves only after its clear condition has held this long. 60 s: the gas-fire "
        "slice (smoke_iot rows 50021-51141, 1 Hz) dips below the threshold clear level "
        "(4,000 ppm) for up to 58 s between flare-ups (tests/alerting/test_safety.py)",
    )
    threshold_confirm_max_s: float = Field(
        30.0,
        ge=0,
        le=300,
        description="On-delay cap of the low set point, s, at most 300 (a warning held "
        "longer than the default silence limit, GASLEAK_SILENT_S, is a warning lost; "
        "ISA-18.2 on-delays are seconds): a reading that jumps from under "
        "half the low set point to between the low and high set points raises its warning "
        "once the next reading confirms it (at or above half the low set point), within 2 "
        "device intervals "
        "of reading time and at most this long (then it raises all the same, also when the "
        "device goes silent); a lone reading not confirmed is a `spike` sensor_fault. The "
        "high set point has no on-delay. 0 = every reading judged alone (ISA-18.2 / IEC 62682 "
        "on-delay against chattering; README 'Safety rules')",
    )
    threshold_chatter_window_s: float = Field(
        600.0,
        ge=0,
        description="A threshold alarm (or sensor fault) raised within this many seconds "
        "(reading time) of the device's last all-clear of its kind is chattering "
        "(ANSI/ISA-18.2) and clears only after threshold_chatter_off_delay_s: gas cycling "
        "across its set point stays one alarm (4,500 + 700 sin(2 pi t / 5 min) ppm at 1 Hz: 2 "
        "warnings in the hour, 12 without); a %LEL zero drifting around -1.25 %LEL, 3 fault "
        "events an hour, 161 before; 0 = off",
    )
    threshold_chatter_off_delay_s: float = Field(
        600.0,
        ge=0,
        description="Off-delay of a chattering threshold alarm or sensor fault, reading-time "
        "seconds",
    )
    spike_memory_s: float = Field(
        3600.0,
        gt=0,
        description="A `spike` sensor_fault condition holds this long after the last spike, s, "
        "so recurring glitches keep one fault open instead of raising one each",
    )
    latch_critical: bool = Field(
        True,
        description="A critical threshold alarm stays (cleared_unacked) after the gas "
        "clears until acknowledged (IEC 60079-29-1 / EN 50194 latching high alarm)",
    )
    rate_min_span_s: float = Field(
        1.0,
        ge=1.0,
        description="Rates of change are measured over at least this span, s "
        "(jittered timestamps a few ms apart are not a 10 °C/s jump)",
    )
    reminder_interval_s: float | None = Field(
        900.0,
        gt=0,
        description="Re-notify (alert.reminder) an unacknowledged critical alert "
        "this often, wall-clock s; null = never",
    )
    stuck_readings: int = Field(
        120, ge=2, description="All three channels unchanged this many readings = stuck sensor"
    )
    max_gas_rate_ppm_s: float = Field(
        50_000.0, gt=0, description="Faster gas change is implausible (real fires: <= 30,579/s)"
    )
    max_temp_rate_c_s: float = Field(5.0, gt=0, description="Implausible temperature change, °C/s")
    max_rh_rate_pct_s: float = Field(15.0, gt=0, description="Implausible humidity change, %RH/s")
    gas_range_ppm: JsonRange = Field(
        (0.0, 60_000.0), description="Sensor gas range, ppm (SGP30 eCO2 output: 400-60,000)"
    )
    temp_range_c: JsonRange = Field((-40.0, 85.0), description="Sensor range, °C")
    silent_s: float = Field(
        300.0, gt=0, description="A device silent longer than this raises a sensor_fault, s"
    )

    subscriber_queue_max: int = Field(
        1_000,
        ge=1,
        description="Events queued per alert subscriber; beyond that it catches up from the "
        "store (a burst never closes a subscriber that keeps reading)",
    )
    ws_subscribers_per_key: int = Field(
        20,
        ge=1,
        description="Most /ws/alerts subscribers one API key has open at once; the next is "
        "closed with 1008 and a reason naming this setting. A console tab holds one; 20 "
        "covers a control room's screens, an alert printer and a few tabs on one key",
    )
    subscriber_behind_s: float = Field(
        30.0,
        ge=0,
        description="A subscriber catching up from the store whose backlog grew over this "
        "long (3 consecutive windows of a third each) is closed with 1013, s; 0 = never",
    )
    max_batch_readings: int = Field(10_000, ge=1, description="Most readings in one message")

    alert_critical_gas_ppm: float | None = Field(
        12_500.0,
        gt=0,
        description="Gas concentration (last reading of the window), ppm, at which an active "
        "leak alert escalates to critical (12,500 ppm: the safety rules' global high set "
        "point); null = never. Applied in each device's unit (Profiles.critical_gas): ppm "
        "devices as is, ppb devices x 1,000, %LEL devices at the same concentration over "
        "their gas's LEL (IEC 60079-20-1 table) or, without a gas, at their high set point, "
        "counts/mV devices only at their own high_set_point",
    )
    alert_dense_windows: int = Field(
        30,
        ge=1,
        le=62,
        description="k-of-n raise: the last this-many windows are looked at (see "
        "alert_dense_high; app/alerting/leak.py PolicyConfig has the measurements)",
    )
    alert_dense_high: int = Field(
        10,
        ge=0,
        description="k-of-n raise: this many high windows among the last alert_dense_windows "
        "(spanning alert_raise_min_s) raise a leak that comes and goes; 0 = off",
    )
    alert_burst_windows: int = Field(
        5,
        ge=0,
        le=11,
        description="Learned debounce: a run of at most this many high windows (spanning at "
        "most 120 s) that ends by itself is a burst; a device that showed one in the last "
        "alert_burst_memory_s needs twice its longest burst (at most this + 1) windows in a "
        "row to raise (a MOX sensor's 2-3-reading spikes; app/alerting/leak.py PolicyConfig "
        "has the measurements); 0 = off",
    )
    alert_burst_memory_s: float = Field(
        86400.0,
        gt=0,
        description="Reading-time seconds a device's bursts are remembered (a day)",
    )
    alert_chatter_window_s: float = Field(
        0.0,
        ge=0,
        description="A leak alert raised within this many seconds of the device's last "
        "all-clear is chattering (ANSI/ISA-18.2) and gets alert_chatter_off_delay_s as its "
        "off-delay: a leak in puffs minutes apart stays one alert (600: x3 puffs every 2 min "
        "raised 2 alerts in the hour, not 30; each later puff is the open alert's 'recurred' "
        "update); 0 = off (the default: app/alerting/leak.py PolicyConfig says what it "
        "costs: a wide clean cycle is never learned under a chattering alert)",
    )
    alert_chatter_off_delay_s: float = Field(
        600.0,
        ge=0,
        description="Off-delay of a chattering leak alert, reading-time seconds",
    )
    alert_worsen_factor: float | None = Field(
        2.0,
        gt=1,
        description="An open leak alert is re-alarmed (alert.updated 'worsened', active "
        "again) when its gas rise over the clean level reaches this many times the rise "
        "last announced; null = never",
    )
    alert_escalate_after_s: float | None = Field(
        300.0,
        gt=0,
        description="Reading-time seconds an alert may stay a warning before it escalates to "
        "critical (not while its gas has returned and it waits out its off-delay); null = "
        "never by age",
    )

    db_path: Path = Field(
        ROOT / "data" / "gasleak.db",
        description="SQLite file of the embedded store (used when database_url is not set)",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pw@host/db; "
        "overrides db_path",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body, bytes, of every route but POST /api/readings "
        "(which takes 16 MiB): counted while it streams in, Content-Length checked first; "
        "over it, 413 naming the limit. The control plane's bodies (keys, silences, acks, "
        "device profiles) are under 10 KiB; 1 MiB by default",
    )
    body_timeout_s: float = Field(
        20.0,
        gt=0,
        description="A request body must start arriving within this many seconds (408 "
        "after); Apache httpd mod_reqtimeout's default body=20",
    )
    body_min_rate_bps: float = Field(
        500.0,
        gt=0,
        description="After that, each byte/s of this rate buys one more second: a client "
        "must keep sending at least this many bytes/s (mod_reqtimeout's default MinRate=500)",
    )
    readings_history: bool = Field(True, description="Record accepted readings for history")
    snapshot_interval_s: float = Field(
        60.0,
        ge=0,
        description="Seconds between saves of every changed device's ring buffer and signal "
        "model, so a restart goes on from them (also saved at shutdown; 0 = never: every "
        "device warms up again after a restart); single node only",
    )
    readings_retention_s: float = Field(
        7 * 86_400.0, gt=0, description="Readings older than this (reading time), s, are pruned"
    )
    readings_write_interval_s: float = Field(
        0.1,
        ge=0,
        description="Shortest time between two writes of the readings history, s: one "
        "commit per interval instead of one per message keeps the store's write lock free "
        "for alert events (python -m bench.store --contended)",
    )
    read_scored_wait_s: float = Field(
        10.0,
        ge=0,
        description="Longest a read of alerts or events waits, s, for the windows of the "
        "readings accepted before it to be scored, so a client that posts readings and then "
        "asks for their alerts sees them (0: answer at once with what is stored)",
    )
    readings_queue_max: int = Field(
        100_000, ge=1, description="Readings waiting for the history writer before ingestion waits"
    )
    replay_page: int = Field(
        50,
        ge=1,
        description="Events read per page when replaying since= or catching up; a subscriber "
        "that stops reading holds one page (about 4 KB an event), so this bounds its memory "
        "(500 before 2 Dec: 2.3 MB a non-reading subscriber)",
    )

    webhook_urls: JsonList = Field(
        default_factory=list, description="Receivers of every alert event (JSON list of URLs)"
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="HMAC-SHA256 key for X-Gasleak-Signature"
    )
    webhook_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Total deadline of one delivery attempt (connect, send, answer and its "
        "first 4 KiB), s",
    )
    webhook_allowed_hosts: JsonList = Field(
        default_factory=list,
        description="Host names webhooks may be sent to (JSON list); empty = any. A "
        "webhook_urls entry outside it refuses start-up",
    )
    webhook_backoff_base_s: float = Field(1.0, gt=0, description="First retry delay, s")
    webhook_backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay, s")
    webhook_expire_s: float = Field(
        86_400.0, gt=0, description="A delivery not done this long after the event expires, s"
    )

    bootstrap_admin_key: SecretStr | None = Field(
        None,
        description="An admin API key taken from the environment (at least 32 characters), "
        "for automation and first start; it cannot be revoked through the API (unset it and "
        "restart). Keys are otherwise made with `python main.py --mode keys create`",
    )
    allowed_origins: JsonList = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) allowed cross-site: CORS and "
        "WebSocket handshakes. Empty: same-origin pages only (the console)",
    )
    ws_ticket_ttl_s: float = Field(
        30.0, gt=0, le=300, description="Life of a single-use WebSocket ticket, s"
    )
    ws_tickets_max: int = Field(
        10_000,
        ge=1,
        description="Most unused WebSocket tickets held at once, all keys together; beyond "
        "it a new ticket is refused (429, Retry-After), never another key's dropped",
    )
    ws_tickets_per_key: int = Field(
        16,
        ge=1,
        description="Most unused WebSocket tickets one key holds; its oldest is dropped for a "
        "new one, so one key can only push out its own. A page redeems its ticket within a "
        "second of asking; 16 covers a dozen console tabs reconnecting at once",
    )
    key_cache_s: float = Field(
        5.0,
        ge=0,
        description="How long a verified API key is trusted without a store read, s: a key "
        "revoked by another process (the CLI, another replica) is refused after at most this",
    )

    @field_validator("bootstrap_admin_key", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v  # an empty variable (compose's default) sets no key

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < MIN_KEY_CHARS:
            raise ValueError(
                f"GASLEAK_BOOTSTRAP_ADMIN_KEY is {len(v.get_secret_value())} characters; it must "
                f"be at least {MIN_KEY_CHARS} (make one with: python -c "
                "'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return v

    @field_validator(*NULL_IS_OFF[:-1], mode="before")
    @classmethod
    def _null_is_off(cls, v: object) -> object:
        """``null`` or ``none`` (any case) in the environment is null, the setting's off
        value (:data:`NULL_IS_OFF`).

        Raises:
            ValueError: an empty variable, which is neither a number nor null (taken as
                off, a compose default of "" would silently turn a safety feature off).
        """
        if not isinstance(v, str):
            return v
        if v.strip().lower() in NULL_WORDS:
            return None
        if not v.strip():
            raise ValueError("is empty: give a number, or null to turn it off")
        return v

    @field_validator(*LIST_EXAMPLES, *RANGE_EXAMPLES, mode="before")
    @classmethod
    def _json_list(cls, v: object, info: ValidationInfo) -> object:
        """A list or range setting given as text (the environment, ``.env``) is a JSON list;
        an empty variable (compose's default) is the empty list (refused for a range: it
        takes two numbers).

        Raises:
            ValueError: the text is not a JSON list; the message gives an example of one
                and does not repeat the value (a URL may hold a token).
        """
        if not isinstance(v, str):
            return v
        if not v.strip() and info.field_name in LIST_EXAMPLES:
            return []
        try:
            parsed = json.loads(v)
        except ValueError:
            got = "text that is not JSON"
        else:
            if isinstance(parsed, list):
                return parsed
            got = f"a JSON {'object' if isinstance(parsed, dict) else 'scalar'}"
        example = (LIST_EXAMPLES | RANGE_EXAMPLES)[str(info.field_name)]
        raise ValueError(f"must be a JSON list such as {example}, not {got}")

    @field_validator(*RANGE_EXAMPLES)
    @classmethod
    def _range_ordered(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        """A range is ``[low, high]`` with low below high: ``[60000, 0]``, ``[85, -40]`` or
        ``[5, 5]`` started the service, and then every clean reading raised an
        ``out_of_range`` fault (newcomer of 2 Dec).

        Raises:
            ValueError: low is not below high, naming both and an example.
        """
        low, high = v
        if not low < high:
            example = RANGE_EXAMPLES[str(info.field_name)]
            raise ValueError(
                f"low ({low:g}) must be below high ({high:g}): a range is [low, high], "
                f"such as {example}"
            )
        return v

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if o == "*" or not re.fullmatch(r"https?://[^/\s]+", o):
                raise ValueError(
                    f"allowed origin {o!r} must be scheme://host[:port] (no path, no '*')"
                )
            why = _url_reason(o, ("http", "https"), "https://ops.example")
            if why is not None:
                raise ValueError(f"allowed origin {o!r} {why}")
        return [o.lower() for o in v]

    # Cluster mode (docs/CLUSTER.md): off unless cluster_nats_url is set.
    cluster_nats_url: str | None = Field(
        None,
        description="NATS server with JetStream, e.g. nats://127.0.0.1:4222: run as one replica "
        "of a device-partitioned cluster (needs database_url on PostgreSQL); unset = one node",
    )
    cluster_partitions: int = Field(
        16,
        ge=1,
        le=1024,
        description="Partitions P (subjects gasleak.readings.<p>, p = crc32(device_id) % P); "
        "every replica of a cluster must use the same P",
    )
    cluster_replica_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="This replica's name in the lease bucket; unset = <hostname>-<pid>",
    )
    cluster_lease_ttl_s: float = Field(
        8.0,
        ge=1.0,
        le=60.0,
        description="A partition lease not renewed for this long expires (renewed every "
        "min(1 s, ttl/4); the owner stops writing after 0.75 x ttl without one); a dead "
        "replica's partitions are consumed again about ttl + 1 s later. 8 s: on a shared "
        "2-core box renewals were measured up to 6 s apart at load 10 and up to 4.3 s "
        "apart at load 5-9 (docs/CLUSTER.md), too close to a 6 s ttl's 4.5 s",
    )
    cluster_replay_s: float = Field(
        90.0,
        ge=0,
        description="On taking over a partition, readings of the last this-many seconds (wall "
        "time) are replayed from the stream into the ring buffers (60-reading window at 1 Hz "
        "plus a margin); they raise nothing",
    )
    cluster_stream_max_age_s: float = Field(
        3_600.0, gt=0, description="Readings kept in the JetStream stream, s"
    )

    @field_validator("cluster_nats_url")
    @classmethod
    def _nats_url(cls, url: str | None) -> str | None:
        """A NATS server URL, nats://host[:port] (or tls, ws, wss), with a port 1-65535."""
        if url:
            why = _url_reason(url, NATS_SCHEMES, "nats://host:4222")
            if why is not None:
                raise ValueError(why)
        return url

    @field_validator("ingest_rate_limit")
    @classmethod
    def _rate_limit_parses(cls, spec: str) -> str:
        """``limits`` notation, every limit allowing at least one message per at least one
        period: ``limits`` parses ``0/second`` (then every message was refused 429 forever,
        a 20,000 ppm reading never reaching the set points) and reads ``1/0second`` as
        ``1/second`` (newcomer of 2 Dec).

        Raises:
            ValueError: not in the notation, or a limit of 0 messages or 0 periods.
        """
        if not spec.strip():
            return ""
        try:
            parse_many(spec)
        except ValueError:
            raise ValueError(
                f"not in limits notation: write <count>/<period> such as {RATE_EXAMPLE}"
            ) from None
        for one in RATE_SEPARATOR.split(spec):
            match = RATE_ITEM.fullmatch(one.strip())
            if match is None:  # parse_many took it; not ours to second-guess
                continue
            count, multiples = match.group(1), match.group(2)
            if int(count) == 0:
                raise ValueError(
                    f"{shown_setting(one.strip())} allows no message at all (every reading "
                    f"would be refused 429): the count must be at least 1, such as "
                    f"{RATE_EXAMPLE}; leave it empty for no limit"
                )
            if multiples is not None and int(multiples) == 0:
                raise ValueError(
                    f"{shown_setting(one.strip())} counts over 0 periods: the number before "
                    f"the period must be at least 1 (or left out), such as {RATE_EXAMPLE}"
                )
        return spec.strip()

    # MQTT ingress (app/services/mqtt.py): off unless a broker is named.
    mqtt_url: str | None = Field(
        None,
        description="Broker to subscribe to gasleak/readings/+ on, mqtt://host[:port] "
        "(1883) or mqtts://host[:port] (8883, TLS with the system CAs); null = no MQTT",
    )
    mqtt_username: str | None = Field(None, description="The service's broker user name")
    mqtt_password: SecretStr = Field(SecretStr(""), description="The service's broker password")
    mqtt_client_id: str = Field(
        "gasleak",
        min_length=1,
        description="MQTT client id; the broker keeps this persistent session's QoS 1 "
        "messages while the service is away, so it must be unique per running service",
    )
    mqtt_topic_prefix: str = Field(
        "gasleak",
        pattern=r"^[^#+]+$",
        description="Topics are <prefix>/readings|errors|alerts/<device_id>",
    )
    mqtt_dedupe_readings: int = Field(
        65_536,
        ge=0,
        description="Recent MQTT readings remembered to drop QoS 1 redeliveries (same device, "
        "ts and values); 65,536 = over a minute of 1,000 devices at 1 Hz; 0 = no dedupe",
    )
    mqtt_outbox_max: int = Field(
        10_000,
        ge=1,
        description="Alert events queued for the broker before the publisher falls back to "
        "reading them from the store (no event is lost to a slow or absent broker)",
    )
    mqtt_reconnect_max_s: float = Field(
        30.0, gt=0, description="Longest wait between reconnection attempts, s (from 0.5 s, x2)"
    )

    @property
    def db_url(self) -> str:
        """The store's SQLAlchemy URL: ``database_url``, else the SQLite file ``db_path``."""
        return self.database_url or f"sqlite+aiosqlite:///{self.db_path}"

    @field_validator("database_url")
    @classmethod
    def _store_scheme(cls, url: str | None) -> str | None:
        """The store (:class:`app.store.Store`) runs on SQLite through aiosqlite or on
        PostgreSQL through asyncpg, the drivers installed with it.

        Raises:
            ValueError: another scheme (``mysql://`` died in a traceback, "No module named
                MySQLdb"; ``postgresql://`` would ask for psycopg2), naming the scheme only:
                the rest of the URL may hold a password.
        """
        if not url:
            return url  # empty: db_path is used
        scheme = url.split("://", 1)[0] if "://" in url else None
        if scheme in STORE_SCHEMES:
            return _store_url_usable(url, scheme)
        given = f"scheme {scheme[:40]!r}" if scheme else "a URL without scheme://"
        raise ValueError(
            f"{given} is not supported: the store takes {' or '.join(STORE_SCHEMES.values())} "
            "(or unset it to use db_path, a SQLite file)"
        )

    @field_validator("mqtt_url", mode="before")
    @classmethod
    def _mqtt_url(cls, url: str | None) -> str | None:
        if url == "" or (isinstance(url, str) and url.strip().lower() in NULL_WORDS):
            return None  # null, or an empty variable (docker compose without the mqtt profile)
        if url is not None:
            why = _url_reason(url, ("mqtt", "mqtts"), "mqtt://host:1883 or mqtts://host:8883")
            if why is not None:
                raise ValueError(why)
        return url

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if not self.alert_clear_probability < self.alert_raise_probability:
            raise ValueError("alert_clear_probability must be below alert_raise_probability")
        if self.alert_critical_probability < self.alert_raise_probability:
            raise ValueError("alert_critical_probability must be >= alert_raise_probability")
        if self.alert_dense_high > self.alert_dense_windows:
            raise ValueError("alert_dense_high must be <= alert_dense_windows")
        if self.alert_burst_windows >= 4 * self.alert_raise_windows:
            raise ValueError(
                "alert_burst_windows must be below 4 x alert_raise_windows (a stuck clock's "
                "run is counted that far)"
            )
        if not self.threshold_low_ppm < self.threshold_high_ppm:
            raise ValueError(
                f"threshold_low_ppm ({self.threshold_low_ppm:g}) must be below "
                f"threshold_high_ppm ({self.threshold_high_ppm:g})"
            )
        if not self.database_url and (why := _db_path_usable(self.db_path)) is not None:
            raise ValueError(f"db_path {why}")
        if self.cluster_nats_url and not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                "cluster_nats_url needs database_url on PostgreSQL (the replicas share one "
                "event log); SQLite is one process's store"
            )
        allowed = {h.lower() for h in self.webhook_allowed_hosts}
        for i, url in enumerate(self.webhook_urls):
            why = _url_reason(url, ("http", "https"), LIST_EXAMPLES["webhook_urls"][2:-2])
            if why is not None:
                raise ValueError(f"webhook_urls[{i}] {why}")
            parsed = urlsplit(url)
            assert parsed.hostname is not None  # checked by _url_reason
            if allowed and parsed.hostname.lower() not in allowed:
                raise ValueError(
                    f"webhook_urls[{i}]: host {parsed.hostname!r} is not in "
                    f"webhook_allowed_hosts {sorted(allowed)}"
                )
        return self


ENV_PREFIX = "GASLEAK_"


def setting_errors(exc: ValidationError) -> list[str]:
    """One line per error of ``Settings(...)``, naming the environment variable(s) at fault.

    A field's error names its ``GASLEAK_<FIELD>``; a cross-field rule (a model validator,
    whose error has no field) names every setting its message mentions, e.g.
    ``bad setting GASLEAK_THRESHOLD_LOW_PPM, GASLEAK_THRESHOLD_HIGH_PPM: ...``.
    """
    out = []
    for e in exc.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["loc"]:
            names = [ENV_PREFIX + ".".join(str(p) for p in e["loc"]).upper()]
        else:
            names = [
                ENV_PREFIX + f.upper()
                for f in Settings.model_fields
                if re.search(rf"\b{re.escape(f)}\b", msg)
            ]
        out.append(f"bad setting {', '.join(names) or '(GASLEAK_* settings)'}: {msg}")
    return out


#: ``GASLEAK_`` variables read outside :class:`Settings`: the training data folder
#: (``app.training.data``).
OTHER_VARIABLES = frozenset({"GASLEAK_DATA_DIR"})


def unknown_settings(names: Iterable[str]) -> list[str]:
    """One line per name in ``names`` that starts with ``GASLEAK_`` (in any case, as
    pydantic-settings reads them) but is no setting, with the closest setting when one is
    near (``difflib.get_close_matches``). Settings ignores unknown variables
    (``extra="ignore"``), so ``GASLEAK_THRESHOLD_HIGH_PMM=800`` left the set point at its
    default without a word (newcomer of 2 Dec); ``main.py`` logs these lines as warnings
    at start-up."""
    known = {ENV_PREFIX + f.upper() for f in Settings.model_fields} | OTHER_VARIABLES
    # compared without the prefix, which every name shares and which would make any two
    # names look alike
    tails = [k.removeprefix(ENV_PREFIX) for k in known]
    out = []
    for name in sorted(set(names)):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), tails, n=1)
        hint = (
            f"; did you mean {ENV_PREFIX}{close[0]}?"
            if close
            else " (no setting has a similar name)"
        )
        out.append(f"unknown setting {name} is ignored{hint}")
    return out


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
