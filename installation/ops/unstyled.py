"""``UnstyledReminder``: the show goes on without its model, and keeps saying so.

When no model backend loads, the ``Stylizer`` passes every frame through unstyled rather than stop
the show. That must not pass unnoticed: this frame-loop hook logs it at ERROR on the first tick and
again every ``every_s`` seconds (loop clock) while it lasts, so the log has a fresh reminder and the
operator panel's warning list (``WarningLog``) always shows it; ``reasons()`` feeds ``/healthz``'s
``degraded`` list. It runs on the loop thread only and keeps no other state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

REMIND_EVERY_S = 60.0


class HasUnstyledReason(Protocol):
    @property
    def unstyled_reason(self) -> str | None: ...


class LoopClock(Protocol):
    clock: Callable[[], float]


class UnstyledReminder:
    """A ``loop.on_tick`` hook: an ERROR line now and every ``every_s`` seconds while the picture is unstyled."""

    def __init__(self, stylizer: HasUnstyledReason, every_s: float = REMIND_EVERY_S) -> None:
        self.stylizer = stylizer
        self.every_s = every_s
        self._last: float | None = None
        self.reminders = 0

    def reasons(self) -> list[str]:
        """What ``/healthz`` lists under ``degraded`` (empty while the model works)."""
        reason = self.stylizer.unstyled_reason
        return [f"showing the picture unstyled: {reason}"] if reason else []

    def __call__(self, loop: LoopClock) -> None:
        reason = self.stylizer.unstyled_reason
        if reason is None:
            if self._last is not None:
                log.warning("the model works again; the picture is styled")
                self._last = None
            return
        now = loop.clock()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        self.reminders += 1
        log.error(
            "SHOWING THE PICTURE UNSTYLED: %s. Run `laterna check` and `laterna doctor` on this config, fix "
            "the model, then restart the show%s",
            reason,
            "" if self.reminders == 1 else f" (reminder {self.reminders}, every {self.every_s:.0f} s)",
        )
