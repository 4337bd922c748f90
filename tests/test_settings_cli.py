"""Start-up refusals of bad settings: one line on stderr naming the setting, exit code 2."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, setting_errors
from main import main


def serve_refusal(capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``--mode serve`` with the settings the test put in the environment: it must exit 2
    before it starts a server, with one line on stderr, which is returned."""
    assert main(["--mode", "serve", "--port", "1"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    return line


def test_a_cross_field_setting_error_names_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GASLEAK_THRESHOLD_LOW_PPM", "20000")
    assert main(["--mode", "serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "gasleak: bad setting GASLEAK_THRESHOLD_LOW_PPM, GASLEAK_THRESHOLD_HIGH_PPM: "
        "threshold_low_ppm (20000) must be below threshold_high_ppm (12500)\n"
    )


def test_a_window_other_than_the_models_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GASLEAK_WINDOW", "30")
    line = serve_refusal(capsys)
    assert line.startswith("gasleak: bad setting GASLEAK_WINDOW=30: the model in ")
    assert "trained on windows of 60 readings" in line


def test_an_alarm_delay_setting_has_a_documented_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Newcomer: GASLEAK_THRESHOLD_CONFIRM_MAX_S=100000 was accepted: a warning held for a
    day. The on-delays of an alarm are bounded (300 s, in their descriptions). Checked on
    the settings themselves: through ``main`` an accepted value would start the server."""
    for name in ("GASLEAK_THRESHOLD_CONFIRM_MAX_S", "GASLEAK_ALERT_RAISE_MIN_S"):
        monkeypatch.setenv(name, "100000")
        with pytest.raises(ValidationError) as caught:
            Settings()
        [err] = caught.value.errors()
        assert err["loc"] == (name.removeprefix("GASLEAK_").lower(),), err
        assert err["type"] == "less_than_equal" and err["ctx"]["le"] == 300, err
        monkeypatch.setenv(name, "300")
        Settings()  # the bound itself is taken
        monkeypatch.delenv(name)


@pytest.mark.parametrize("mode", ["serve", "demo"])
def test_a_busy_or_impossible_port_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """A port in use printed three tracebacks after the model's ~7 s load, and port 99999
    a 71-line log ending in ``OverflowError`` (README newcomer of 8 Dec)."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--mode", mode, "--port", str(port)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gasleak") and f"cannot listen on 127.0.0.1:{port}: " in line, line
    with pytest.raises(SystemExit) as exc:
        main(["--mode", mode, "--port", "99999"])
    assert exc.value.code == 2
    assert "argument --port: a port is 0-65535, not 99999" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "example"),
    [
        ("GASLEAK_WEBHOOK_URLS", "https://x.example/?token=t0k", '["https://ops.example/hook"]'),
        ("GASLEAK_ALLOWED_ORIGINS", "notjson", '["https://ops.example"]'),
        ("GASLEAK_WEBHOOK_ALLOWED_HOSTS", '{"a": 1}', '["ops.example"]'),
        ("GASLEAK_GAS_RANGE_PPM", "0,60000", "[0, 60000]"),
    ],
)
def test_a_list_setting_that_is_not_a_json_list_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    example: str,
) -> None:
    """GASLEAK_WEBHOOK_URLS=https://x stopped ``serve`` with pydantic-settings' SettingsError
    traceback, exit 1, naming neither the variable nor the form (newcomer of 2 Dec)."""
    monkeypatch.setenv(name, value)
    line = serve_refusal(capsys)
    assert line.startswith(f"gasleak: bad setting {name}: must be a JSON list such as {example}")
    assert value not in line  # a URL may hold a token
    if name != "GASLEAK_GAS_RANGE_PPM":  # a range takes two numbers
        monkeypatch.setenv(name, "")  # an empty variable (compose's default): no entries
        assert getattr(Settings(), name.removeprefix("GASLEAK_").lower()) == []


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "postgresql://u:secret@h/db", "x.db"])
def test_a_database_url_the_store_cannot_run_on_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """GASLEAK_DATABASE_URL=mysql://x died in a traceback, "No module named MySQLdb", exit 3
    (newcomer of 2 Dec); the store runs on aiosqlite and asyncpg only."""
    monkeypatch.setenv("GASLEAK_DATABASE_URL", url)
    line = serve_refusal(capsys)
    assert line.startswith("gasleak: bad setting GASLEAK_DATABASE_URL: "), line
    assert "postgresql+asyncpg://" in line and "sqlite+aiosqlite:///" in line, line
    assert "secret" not in line, line


@pytest.mark.parametrize("value", ["inf", "-Infinity", "nan", "1e400"])
def test_every_number_setting_refuses_a_number_that_is_not_finite(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """GASLEAK_THRESHOLD_HIGH_PPM=inf was taken: a critical set point that never fires; 36
    float settings took inf and nan (newcomer of 2 Dec). Each is refused, named; so is a
    range's bound."""
    floats = [n for n, f in Settings.model_fields.items() if f.annotation in (float, float | None)]
    assert len(floats) >= 36, floats
    for field in floats:
        name = "GASLEAK_" + field.upper()
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError) as caught:
            Settings()
        lines = setting_errors(caught.value)
        assert lines == [f"bad setting {name}: Input should be a finite number"], lines
        monkeypatch.delenv(name)
    json_value = {"inf": "Infinity", "-Infinity": "-Infinity", "nan": "NaN"}.get(value, value)
    monkeypatch.setenv("GASLEAK_GAS_RANGE_PPM", f"[0, {json_value}]")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert setting_errors(caught.value) == [
        "bad setting GASLEAK_GAS_RANGE_PPM.1: Input should be a finite number"
    ]


@pytest.mark.parametrize("mode", ["serve", "demo"])
def test_an_unknown_gasleak_variable_is_warned_about_with_the_closest_setting(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mode: str,
) -> None:
    """A mistyped ``GASLEAK_*`` variable was silently ignored (Settings has
    ``extra="ignore"``): ``GASLEAK_THRESHOLD_HIGH_PMM=800`` left the critical set point at
    its default without a word (newcomer of 2 Dec). Start-up logs one WARNING per unknown
    ``GASLEAK_`` name, in the environment or in ``.env``, naming the closest setting."""
    import os
    import socket

    for name in [n for n in os.environ if n.upper().startswith("GASLEAK_")]:
        monkeypatch.delenv(name)  # the runner's own (GASLEAK_TEST_DATABASE_URL in CI)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GASLEAK_DATABSE_URL=sqlite+aiosqlite:///x.db\n")
    monkeypatch.setenv("GASLEAK_THRESHOLD_HIGH_PMM", "800")
    monkeypatch.setenv("GASLEAK_ZZZ", "1")
    monkeypatch.setenv("GASLEAK_DATA_DIR", str(tmp_path))  # read by the training code
    monkeypatch.setenv("GASLEAK_WEBHOOK_TIMEOUT_S", "5")  # a setting
    with socket.socket() as busy, caplog.at_level(logging.WARNING):
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["--mode", mode, "--port", str(busy.getsockname()[1])]) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "unknown setting GASLEAK_DATABSE_URL is ignored; did you mean GASLEAK_DATABASE_URL?",
        "unknown setting GASLEAK_THRESHOLD_HIGH_PMM is ignored; did you mean "
        "GASLEAK_THRESHOLD_HIGH_PPM?",
        "unknown setting GASLEAK_ZZZ is ignored (no setting has a similar name)",
    ], warned


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("GASLEAK_GAS_RANGE_PPM", "[60000, 0]", "low (60000) must be below high (0)"),
        ("GASLEAK_TEMP_RANGE_C", "[85,-40]", "low (85) must be below high (-40)"),
        ("GASLEAK_GAS_RANGE_PPM", "[5,5]", "low (5) must be below high (5)"),
        ("GASLEAK_TEMP_RANGE_C", "[0, 0]", "low (0) must be below high (0)"),
    ],
)
def test_a_reversed_or_empty_range_setting_is_refused_at_start_up(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    words: str,
) -> None:
    """GASLEAK_GAS_RANGE_PPM='[60000, 0]', GASLEAK_TEMP_RANGE_C='[85,-40]' or '[5,5]'
    started the service (exit 0), and then every clean reading raised an out_of_range
    fault (newcomer of 2 Dec). Refused at start-up, one line naming the setting, exit 2,
    as low >= high thresholds are."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:  # first: main would start the server
        Settings()
    assert [line.split(":")[0] for line in setting_errors(caught.value)] == [f"bad setting {name}"]
    line = serve_refusal(capsys)
    assert line.startswith(f"gasleak: bad setting {name}: {words}"), line
    monkeypatch.setenv(name, "[-1, 1]")
    assert getattr(Settings(), name.removeprefix("GASLEAK_").lower()) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite+aiosqlite://", "names no SQLite file"),
        ("sqlite+aiosqlite:///", "names no SQLite file"),
        ("sqlite+aiosqlite:///:memory:", "names no SQLite file"),
        ("sqlite+aiosqlite:///file:x?mode=memory&uri=true", "names no SQLite file"),
        ("postgresql+asyncpg://u:secret@h:notaport/db", "the port, if any, must be a number"),
        ("postgresql+asyncpg://u:secret@h:99999/db", "port 99999 is not a port (1-65535)"),
    ],
)
@pytest.mark.parametrize("mode", [["--mode", "serve", "--port", "1"], ["--mode", "keys", "list"]])
def test_a_database_url_that_cannot_work_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    words: str,
    mode: list[str],
) -> None:
    """``sqlite+aiosqlite://`` (in memory), ``sqlite+aiosqlite:///`` (no path) and a port
    that is not a number passed the scheme check, then ``--mode serve`` died in an 84-103
    line traceback, exit 3, and ``--mode keys list`` exited 1 (newcomer of 2 Dec). They
    are refused at start-up, one line naming the setting, exit 2, without the password."""
    monkeypatch.setenv("GASLEAK_DATABASE_URL", url)
    with pytest.raises(ValidationError) as caught:  # first: main would start the server
        Settings()
    assert setting_errors(caught.value)[0].startswith("bad setting GASLEAK_DATABASE_URL: ")
    assert main(mode) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gasleak: bad setting GASLEAK_DATABASE_URL: "), line
    assert words in line and "secret" not in line, line


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("0/second", "'0/second' allows no message at all"),
        ("00 per minute", "'00 per minute' allows no message at all"),
        ("200/second;0/minute", "'0/minute' allows no message at all"),
        ("1/0second", "'1/0second' counts over 0 periods"),
        ("5/0 minutes", "'5/0 minutes' counts over 0 periods"),
        ("abc", "not in limits notation"),
    ],
)
def test_a_rate_limit_that_refuses_everything_is_refused_at_start_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, spec: str, words: str
) -> None:
    """GASLEAK_INGEST_RATE_LIMIT=0/second started, then every reading was refused 429
    forever (a 20,000 ppm reading never reached the set points); 1/0second was read as
    1/second (newcomer of 2 Dec). Both are one line at start-up, exit 2."""
    monkeypatch.setenv("GASLEAK_INGEST_RATE_LIMIT", spec)
    with pytest.raises(ValidationError):  # first: main would start the server
        Settings()
    line = serve_refusal(capsys)
    assert line.startswith("gasleak: bad setting GASLEAK_INGEST_RATE_LIMIT: "), line
    assert words in line, line


@pytest.mark.parametrize("spec", ["", "200/second", "200/second;5000/minute", "1 per 5 minutes"])
def test_a_rate_limit_that_allows_messages_is_taken(
    monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    monkeypatch.setenv("GASLEAK_INGEST_RATE_LIMIT", spec)
    assert Settings().ingest_rate_limit == spec


@pytest.mark.parametrize("word", ["null", "None", "none", "NULL"])
@pytest.mark.parametrize(
    "field",
    [
        "reminder_interval_s",
        "max_devices_per_key",
        "alert_critical_gas_ppm",
        "alert_worsen_factor",
        "alert_escalate_after_s",
        "mqtt_url",
    ],
)
def test_null_turns_off_the_settings_that_say_null_is_off(
    monkeypatch: pytest.MonkeyPatch, field: str, word: str
) -> None:
    """README and the descriptions say null turns reminders off, but
    GASLEAK_REMINDER_INTERVAL_S=null (None, none) was "Input should be a valid number"
    (newcomer of 2 Dec)."""
    assert "null" in str(Settings.model_fields[field].description)
    monkeypatch.setenv(f"GASLEAK_{field.upper()}", word)
    assert getattr(Settings(), field) is None


def test_an_empty_number_setting_that_null_turns_off_is_refused_naming_null(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GASLEAK_REMINDER_INTERVAL_S", "")
    line = serve_refusal(capsys)
    assert line == (
        "gasleak: bad setting GASLEAK_REMINDER_INTERVAL_S: is empty: give a number, or null "
        "to turn it off"
    ), line


@pytest.mark.parametrize("mode", [["--mode", "serve", "--port", "1"], ["--mode", "keys", "list"]])
@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d, "is a folder: name the SQLite file, such as "),
        (lambda d: _file(d / "notes.txt", b"not a database"), "is not an SQLite database"),
        (lambda d: _file(d / "f", b"") / "sub" / "g.db", "cannot be made: "),
        # a good header, a corrupt body: 248 and 189 lines of traceback (newcomer of 2 Dec)
        (
            lambda d: _file(d / "x.db", b"SQLite format 3\x00" + b"\xff" * 4000),
            "is not a readable SQLite database: its header is damaged",
        ),
        (lambda d: _corrupt_schema(d / "y.db"), "is not a readable SQLite database (SQLite: "),
    ],
)
def test_a_db_path_the_store_cannot_open_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make: Callable[[Path], Path],
    words: str,
    mode: list[str],
) -> None:
    """GASLEAK_DB_PATH=/tmp (a folder) died in a 222-line traceback, exit 3, in --mode
    serve and 163 lines, exit 1, in --mode keys list (newcomer of 2 Dec)."""
    monkeypatch.setenv("GASLEAK_DB_PATH", str(make(tmp_path)))
    with pytest.raises(ValidationError):  # first: main would start the server
        Settings()
    assert main(mode) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gasleak: bad setting GASLEAK_DB_PATH: db_path "), line
    assert words in line, line


def _corrupt_schema(path: Path) -> Path:
    """An SQLite file whose header is whole and whose schema page is overwritten."""
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE t (x)")
        con.commit()
    data = bytearray(path.read_bytes())
    data[100:1000] = b"\xff" * 900
    return _file(path, bytes(data))


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_db_path_in_a_folder_this_process_may_not_write_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """(os.access is replaced: the tests may run as root, who may write anywhere.)"""
    monkeypatch.setattr("app.config.os.access", lambda *_a, **_k: False)
    monkeypatch.setenv("GASLEAK_DB_PATH", str(tmp_path / "new" / "g.db"))
    with pytest.raises(ValidationError) as caught:
        Settings()
    [line] = setting_errors(caught.value)
    assert line.startswith("bad setting GASLEAK_DB_PATH: db_path "), line
    assert "may not write in" in line, line


def test_a_new_or_sqlite_db_path_is_taken_and_database_url_overrides_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GASLEAK_DB_PATH", str(tmp_path / "a" / "b" / "g.db"))
    Settings()
    with closing(sqlite3.connect(tmp_path / "s?#%.db")) as con:  # read, not written
        con.execute("CREATE TABLE t (x)")
    before = sorted(tmp_path.iterdir())
    monkeypatch.setenv("GASLEAK_DB_PATH", str(tmp_path / "s?#%.db"))
    Settings()
    assert sorted(tmp_path.iterdir()) == before
    monkeypatch.setenv("GASLEAK_DB_PATH", str(_file(tmp_path / "empty.db", b"")))
    Settings()
    with closing(sqlite3.connect(tmp_path / "w.db")) as con:  # WAL: not opened, no -shm left
        con.execute("PRAGMA journal_mode=wal")
        con.execute("CREATE TABLE t (x)")
    monkeypatch.setenv("GASLEAK_DB_PATH", str(tmp_path / "w.db"))
    before = sorted(tmp_path.iterdir())
    Settings()
    assert sorted(tmp_path.iterdir()) == before
    monkeypatch.setenv("GASLEAK_DB_PATH", str(tmp_path))
    monkeypatch.setenv("GASLEAK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/u.db")
    Settings()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("WEBHOOK_URLS", '["http://127.0.0.1:99999/x?t=secret"]', "port '99999' is not a port"),
        ("WEBHOOK_URLS", '["https://ops.example/a", "http://h:0/x"]', "[1] port 0 is not"),
        ("WEBHOOK_URLS", '["https://h:abc/secret"]', "port 'abc' is not a port"),
        ("WEBHOOK_URLS", '["ftp://h/secret"]', "has scheme 'ftp': expected http://"),
        ("MQTT_URL", "mqtt://h:0", "port 0 is not a port (a number 1-65535)"),
        ("MQTT_URL", "mqtts://h:65536", "port '65536' is not a port"),
        ("MQTT_URL", "tcp://h:1883", "has scheme 'tcp': expected mqtt://"),
        ("CLUSTER_NATS_URL", "nats://h:0", "port 0 is not a port"),
        ("CLUSTER_NATS_URL", "redis://h:6379", "has scheme 'redis': expected nats://"),
        ("ALLOWED_ORIGINS", '["https://ops.example:99999"]', "port '99999' is not a port"),
        # urlsplit raised from the model validator, and the line named no setting
        ("WEBHOOK_URLS", '["http://[::1/x?t=secret"]', "[0] cannot be read as a URL"),
        ("WEBHOOK_URLS", '["https://secret@h\uff03x/"]', "[0] cannot be read as a URL"),
        ("MQTT_URL", "mqtt://[::1/secret", "cannot be read as a URL"),
    ],
)
def test_a_url_setting_with_an_impossible_port_or_scheme_is_refused_at_start_up(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    words: str,
) -> None:
    """GASLEAK_WEBHOOK_URLS='["http://127.0.0.1:99999/x"]' started, then every event was
    retried for a day; GASLEAK_MQTT_URL=mqtt://h:0 was accepted (newcomer of 2 Dec). One
    line, exit 2, naming no path or query."""
    monkeypatch.setenv(f"GASLEAK_{name}", value)
    with pytest.raises(ValidationError):  # first: main would start the server
        Settings()
    line = serve_refusal(capsys)
    assert line.startswith(f"gasleak: bad setting GASLEAK_{name}: "), line
    assert words in line and "secret" not in line, line


def test_url_settings_with_a_port_in_range_or_none_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GASLEAK_WEBHOOK_URLS", '["https://h:65535/x", "http://h/x"]')
    monkeypatch.setenv("GASLEAK_MQTT_URL", "mqtts://h")
    monkeypatch.setenv("GASLEAK_ALLOWED_ORIGINS", '["http://h:1"]')
    s = Settings()
    assert (s.mqtt_url, s.allowed_origins) == ("mqtts://h", ["http://h:1"])
