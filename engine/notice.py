"""Say a problem once, then remind slowly: a failure that repeats every frame must not flood the log.

``Notice`` is one ongoing problem (a camera lost, a full disk, a broken file). ``fail()`` logs the
first occurrence at WARNING, then only a reminder every ``remind_every`` seconds that says how long it
has lasted and how often it happened since; everything in between goes to DEBUG. ``clear()`` ends the
problem with one INFO line, so the next ``fail()`` is news again. ``problem`` is what the operator page
and ``/metrics`` show while it lasts. A ``Notice`` belongs to the thread that calls it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

REMIND_EVERY_S = 60.0  # one reminder a minute while a problem lasts


class Notice:
    """One ongoing problem, told at WARNING once, reminded every ``remind_every`` s, cleared with INFO."""

    def __init__(
        self,
        logger: logging.Logger,
        remind_every: float = REMIND_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not remind_every > 0:
            raise ValueError(f"Notice: remind_every must be positive, got {remind_every!r}")
        self.log = logger
        self.remind_every = remind_every
        self._clock = clock
        self.problem: str | None = None  # the latest message while the problem lasts, else None
        self.count = 0  # occurrences since the problem began
        self.since = 0.0  # clock() when it began
        self._told_at = 0.0  # clock() of the last WARNING (first telling or reminder)
        self._told_count = 0

    @property
    def active(self) -> bool:
        return self.problem is not None

    def fail(self, message: str) -> bool:
        """Record one occurrence of the problem; True when this one was logged at WARNING."""
        now = self._clock()
        self.count += 1
        if self.problem is None:
            self.problem, self.since, self._told_at, self._told_count = message, now, now, self.count
            self.log.warning("%s", message)
            return True
        self.problem = message
        if now - self._told_at >= self.remind_every:
            self.log.warning(
                "still: %s (for %.0f s, %d times since the last reminder)",
                message,
                now - self.since,
                self.count - self._told_count,
            )
            self._told_at, self._told_count = now, self.count
            return True
        self.log.debug("%s", message)
        return False

    def clear(self, message: str | None = None) -> bool:
        """The problem is over: log ``message`` at INFO (if it was active) and forget it; True if it was."""
        if self.problem is None:
            return False
        if message:
            self.log.info("%s (after %.1f s, %d times)", message, self._clock() - self.since, self.count)
        self.problem = None
        self.count = 0
        return True


@runtime_checkable
class ReportsProblem(Protocol):
    """A part of the show (a source on its fallback, a recorder) that says what is wrong with it now."""

    name: str

    @property
    def problem(self) -> str | None: ...
