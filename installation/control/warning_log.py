"""``WarningLog``: the show's recent warnings, kept for the operator panel.

A ``logging.Handler`` that keeps the last ``capacity`` WARNING-or-worse records of the ``engine`` and
``installation`` loggers (a camera lost, a backend that fell back, prompts declined) as small dicts:
when, which logger, how bad, what it said. No tracebacks, nothing else from the record. ``install()``
hangs it on those loggers, ``uninstall()`` takes it off; both are safe to call twice.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable

MAX_MESSAGE_CHARS = 300  # one line on the panel; the full text is in the log files


class WarningLog(logging.Handler):
    """The last ``capacity`` WARNING+ records, newest first from ``recent()``. Thread-safe."""

    def __init__(
        self, capacity: int = 50, loggers: Iterable[str] = ("engine", "installation"), level: int = logging.WARNING
    ) -> None:
        super().__init__(level)
        if capacity < 1:
            raise ValueError(f"WarningLog capacity: expected 1 or more, got {capacity!r}")
        self.logger_names = tuple(loggers)
        self._records: deque[dict] = deque(maxlen=capacity)
        self._guard = threading.Lock()
        self._installed: list[logging.Logger] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show it as written rather than lose the warning
            message = str(record.msg)
        message = " ".join(message.split())
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        entry = {"time": record.created, "level": record.levelname, "logger": record.name, "message": message}
        with self._guard:
            self._records.append(entry)

    def recent(self, n: int | None = None) -> list[dict]:
        """The newest ``n`` (default: all kept) warnings, newest first, as copies."""
        with self._guard:
            entries = list(self._records)
        entries.reverse()
        return [dict(e) for e in (entries if n is None else entries[: max(0, n)])]

    def clear(self) -> None:
        with self._guard:
            self._records.clear()

    def install(self) -> WarningLog:
        """Start collecting from the named loggers (and their children)."""
        for name in self.logger_names:
            logger = logging.getLogger(name)
            if self not in logger.handlers:
                logger.addHandler(self)
                self._installed.append(logger)
        return self

    def uninstall(self) -> None:
        """Stop collecting; what was kept stays readable."""
        while self._installed:
            self._installed.pop().removeHandler(self)

    def __enter__(self) -> WarningLog:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()
