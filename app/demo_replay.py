"""Replaying a recorded CSV in the demo: checked loading, source-row bookkeeping, summary.

Reading ``k`` of a replay (0-based, counting across ``--loop`` passes) carries the timestamp
``t0 + k`` seconds and comes from CSV row ``first_row + k % n_rows`` (0-based data rows, the
header not counted, as ``--rows a:b`` counts them), so an alert's reading time names its row.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


class ReplayError(Exception):
    """The replay cannot start: the message names the file, column, row or range at fault."""


def parse_rows(text: str) -> tuple[int, int]:
    """``"a:b"`` -> ``(a, b)``, a half-open 0-based row range with ``0 <= a < b``.

    Raises:
        ReplayError: not two integers separated by a colon, or not ``0 <= a < b``.
    """
    parts = text.split(":")
    try:
        a, b = (int(p) for p in parts)
    except ValueError:
        raise ReplayError(
            f"--rows {text!r}: expected two row numbers a:b, e.g. 50021:51142"
        ) from None
    if not 0 <= a < b:
        raise ReplayError(
            f"--rows {text!r}: the start must be >= 0 and below the end ({a} is not below {b})"
            if a >= b
            else f"--rows {text!r}: row numbers start at 0"
        )
    return a, b


def load_replay(
    path: Path, columns: tuple[str, str, str], rows: tuple[int, int] | None
) -> list[tuple[float, float, float]]:
    """Rows ``[a, b)`` of a CSV as ``(gas_ppm, temperature_c, humidity_pct)`` floats.

    Args:
        path: the CSV file, with a header row.
        columns: header names of the gas (ppm), temperature (°C) and humidity (%RH) columns.
        rows: 0-based half-open data-row range; None = every row.

    Raises:
        ReplayError: the file is missing or unreadable, a column is absent (the message
            lists the columns present), the range lies outside the file, or a value is not a
            finite number (the message names row and column).
    """
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise ReplayError(
                    f"{path}: no column {', '.join(map(repr, missing))}; it has "
                    f"{', '.join(map(repr, header)) or 'no header'} (set "
                    "--gas-col/--temp-col/--rh-col)"
                )
            data = list(reader)
    except FileNotFoundError:
        raise ReplayError(f"replay file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReplayError(f"cannot read replay file {path}: {exc}") from None
    a, b = rows or (0, len(data))
    if b > len(data):
        raise ReplayError(
            f"--rows {a}:{b} is outside {path}: it has {len(data)} data rows (0 to {len(data) - 1})"
        )
    out = []
    for i in range(a, b):
        try:
            values = tuple(float(data[i][c]) for c in columns)
        except (TypeError, ValueError):
            raise ReplayError(
                f"{path} row {i}: {dict((c, data[i][c]) for c in columns)} is not three numbers"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise ReplayError(f"{path} row {i}: {values} holds a non-finite value")
        out.append(values)
    if not out:
        raise ReplayError(f"{path}: no data rows to replay")
    return out  # type: ignore[return-value]


@dataclass
class ReplayLog:
    """What a replay sent and which alerts it raised, for the live lines and the summary."""

    t0: float
    first_row: int
    n_rows: int
    sent: int = 0
    raised: Counter[str] = field(default_factory=Counter)
    first_alert: tuple[str, int] | None = None

    def row_of(self, ts: str) -> int | None:
        """The CSV row of the reading stamped ``ts`` (RFC 3339), or None if not a replay one."""
        k = round(datetime.fromisoformat(ts).timestamp() - self.t0)
        if k < 0 or k >= max(self.sent, 1):
            return None
        return self.first_row + k % self.n_rows

    def note_event(self, event: dict[str, Any]) -> int | None:
        """Count an ``alert.raised``; returns the event's source row."""
        row = self.row_of(event["ts"])
        if event["type"] == "alert.raised":
            self.raised[event["kind"]] += 1
            if self.first_alert is None and row is not None:
                self.first_alert = (event["kind"], row)
        return row

    def summary(self, path: Path) -> str:
        """The closing lines: rows sent, alerts raised by kind, the row of the first alert."""
        last = self.first_row + min(self.sent, self.n_rows) - 1
        lines = [f"replay finished: {self.sent} rows sent (rows {self.first_row}-{last} of {path})"]
        if self.raised:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.raised.items()))
            lines.append(f"alerts raised: {kinds}")
        else:
            lines.append("alerts raised: none")
        if self.first_alert:
            lines.append(f"first alert: {self.first_alert[0]} at row {self.first_alert[1]}")
        return "\n".join(lines)
