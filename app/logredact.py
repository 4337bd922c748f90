"""Keep credentials out of every log line.

uvicorn's access log prints request lines (query strings included, so a WebSocket ticket),
and at debug level the WebSocket library prints handshake headers (``Authorization``).
:class:`RedactSecrets` rewrites any record before a handler writes it: a Bearer value,
an API key (``gl_<id>_<secret>``), a ``ticket=`` value and the bootstrap key become
``[redacted]``. It sits on the handlers (a logger's own filter would miss records that
propagate from child loggers).
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"), r"\1[redacted]"),
    (re.compile(r"\b(gl_[0-9a-f]{16}_)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(ticket=)[^&\s'\"]+"), r"\1[redacted]"),
)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts credentials in the formatted message.

    Args:
        literals: further secrets to blank wherever they appear (the bootstrap key).
    """

    def __init__(self, literals: tuple[str, ...] = ()) -> None:
        super().__init__("gasleak.redact")
        self.literals = tuple(s for s in literals if s)

    def redact(self, text: str) -> str:
        """``text`` with every credential replaced by ``[redacted]``."""
        for lit in self.literals:
            text = text.replace(lit, "[redacted]")
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (message formatted with its args); keep it."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


#: Loggers whose handlers get the filter (uvicorn's own handlers do not propagate).
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


def install(literals: tuple[str, ...] = ()) -> RedactSecrets:
    """Add one :class:`RedactSecrets` to every handler of :data:`LOGGERS` (idempotent per
    handler); call it after logging is configured (the lifespan does, as uvicorn has set up
    its handlers by then)."""
    f = RedactSecrets(literals)
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for old in [x for x in handler.filters if isinstance(x, RedactSecrets)]:
                handler.removeFilter(old)
            handler.addFilter(f)
    return f
