"""Silences (maintenance windows) with Alertmanager semantics, as a pure in-memory set.

A silence has matchers (a device id or glob such as ``kitchen-*``, a kind, a minimum
severity, judged on the alert's highest severity so far as ``/ws/alerts?min_severity=``
judges it, :func:`app.alerting.events.reaches`; all given matchers must match), a start
and an end (wall-clock epoch seconds), a comment and an author. An event that a silence
matches at publication time is still stored, listed and pushed to subscribers that ask
for silenced events, but flagged ``silenced: true``, and neither sent to webhooks nor
reminded. Expiring a silence (DELETE) sets its end to now; expired silences stay listed, as
in Alertmanager.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from typing import Any

from app.alerting.events import Kind, Severity, reaches


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence. ``device`` is an exact id or an ``fnmatch`` glob (``*``, ``?``, ``[...]``).

    Times are epoch seconds; ``created_at`` is when it was posted.
    """

    silence_id: str
    starts_at: float
    ends_at: float
    comment: str
    author: str
    created_at: float
    device: str | None = None
    kind: Kind | None = None
    min_severity: Severity | None = None

    def status(self, now: float) -> str:
        """ "pending" before its start, "active" during, "expired" from its end on."""
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(
        self,
        device_id: str,
        kind: Kind,
        severity: Severity,
        now: float,
        peak: Severity | None = None,
    ) -> bool:
        """Whether this silence mutes an event of this device, kind and severity at ``now``
        (epoch s). ``peak``: the highest severity of the event's alert before it (None:
        none known); ``min_severity`` is judged on the higher of the two
        (:func:`app.alerting.events.reaches`), so a silence that muted a critical alarm
        also mutes its de-escalation to warning and its all-clear, as a
        ``min_severity=critical`` subscriber hears them."""
        if not self.starts_at <= now < self.ends_at:
            return False
        if self.device is not None and not fnmatch.fnmatchcase(device_id, self.device):
            return False
        if self.kind is not None and kind != self.kind:
            return False
        return reaches(severity, peak, self.min_severity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the store."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Silence:
        """Inverse of :meth:`to_dict`."""
        kind, sev = d.get("kind"), d.get("min_severity")
        return cls(
            **{
                **{k: d[k] for k in cls.__dataclass_fields__ if k in d},
                "kind": None if kind is None else Kind(kind),
                "min_severity": None if sev is None else Severity(sev),
            }
        )


class Silences:
    """Every silence, by id (they are few: one per maintenance window)."""

    def __init__(self, items: list[Silence] | None = None) -> None:
        self._by_id = {s.silence_id: s for s in items or []}

    def add(self, s: Silence) -> None:
        """Add or replace a silence."""
        self._by_id[s.silence_id] = s

    def get(self, silence_id: str) -> Silence | None:
        """One silence or None."""
        return self._by_id.get(silence_id)

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now (kept, listed as expired); None when it does not exist."""
        s = self._by_id.get(silence_id)
        if s is None:
            return None
        if s.ends_at > now:
            s = replace(s, starts_at=min(s.starts_at, now), ends_at=now)
            self._by_id[silence_id] = s
        return s

    def all(self) -> list[Silence]:
        """Every silence, newest first."""
        return sorted(self._by_id.values(), key=lambda s: s.created_at, reverse=True)

    def matching(
        self,
        device_id: str,
        kind: Kind,
        severity: Severity,
        now: float,
        peak: Severity | None = None,
    ) -> bool:
        """Whether any silence mutes such an event at ``now`` (``peak``: as
        :meth:`Silence.matches`)."""
        return any(s.matches(device_id, kind, severity, now, peak) for s in self._by_id.values())
