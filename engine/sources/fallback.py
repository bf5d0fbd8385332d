"""A source that stands in for another while it is broken: the show goes on when the camera drops.

``FallbackSource`` reads the primary. When the primary raises SourceError it says so once at
WARNING, and the same ``read()`` returns a fallback frame instead. While on the fallback it asks the
primary again every ``retry_every`` seconds (opening it again if opening is what failed) and goes
back, with an INFO line, as soon as the primary hands out a frame. A primary that stays broken is
reminded at WARNING once a minute (``engine.notice``), never once a read; ``problem`` says why it is
on the fallback, for the operator page and ``/metrics``. Asking a broken camera is cheap (its
``read()`` only looks at what its capture thread found), so the default ``retry_every`` is short:
it adds at most that much to the time a camera that comes back takes to be on screen again. Both switches crossfade over
``crossfade_s`` seconds from the last picture shown (0: a cut), so a dropped camera dissolves into
the generator's dream instead of jumping to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from engine.errors import ConfigError, SourceError
from engine.frame import Frame
from engine.notice import Notice
from engine.sources.base import FrameSource
from engine.sources.crossfade import Crossfade

log = logging.getLogger(__name__)

RETRY_EVERY_S = 0.25  # how often a broken primary is asked again while the fallback is on screen


class FallbackSource(FrameSource):
    """The primary's frames while it works, the fallback's while it does not. ``active`` says which."""

    def __init__(
        self,
        primary: FrameSource,
        fallback: FrameSource,
        retry_every: float = RETRY_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        crossfade_s: float = 0.0,
    ) -> None:
        if retry_every <= 0:
            raise ConfigError(f"fallback: retry_every must be positive, got {retry_every}")
        self.primary = primary
        self.fallback = fallback
        self.retry_every = retry_every
        self.name = primary.name
        self.active = "primary"  # "primary" or "fallback", for the operator page
        self.last_error: str | None = None
        self._clock = clock
        self.notice = Notice(log, clock=clock)
        self.fade = Crossfade(crossfade_s, clock)
        self._primary_open = False
        self._fallback_open = False
        self._next_try = 0.0

    def open(self) -> None:
        self.fallback.open()  # a broken fallback is a configuration mistake: let it raise
        self._fallback_open = True
        self._open_primary()

    def read(self) -> Frame | None:
        return self.fade.apply(self._read())

    def _read(self) -> Frame | None:
        if self.active == "primary":
            try:
                return self._read_primary()
            except SourceError as exc:
                self._switch_to_fallback(exc)
        elif self._clock() >= self._next_try:
            try:
                frame = self._read_primary()
            except SourceError as exc:
                self._note_still_failing(exc)
            else:
                if frame is not None:
                    self.notice.clear(f"{self.primary.name}: back from the fallback ({self.fallback.name})")
                    self.active = "primary"
                    self.last_error = None
                    self.fade.start()
                    return frame
                # Healthy but nothing new yet: ask again on the next read.
        return self._read_fallback()

    def close(self) -> None:
        if self._primary_open:
            self._primary_open = False
            self.primary.close()
        if self._fallback_open:
            self._fallback_open = False
            self.fallback.close()

    # -- steps -------------------------------------------------------------------------------------
    def _open_primary(self) -> bool:
        try:
            self.primary.open()
        except SourceError as exc:
            self._switch_to_fallback(exc)
            return False
        self._primary_open = True
        return True

    def _read_primary(self) -> Frame | None:
        if not self._primary_open:
            self.primary.close()  # a half-opened source may hold something
            self.primary.open()
            self._primary_open = True
        return self.primary.read()

    def _switch_to_fallback(self, exc: SourceError) -> None:
        self.last_error = str(exc)
        self._next_try = self._clock() + self.retry_every
        if self.active != "fallback":
            self.active = "fallback"
            self.fade.start()
        self.notice.fail(f"{self.primary.name} failed ({exc}); showing {self.fallback.name} until it recovers")

    def _note_still_failing(self, exc: SourceError) -> None:
        self.last_error = str(exc)
        self._next_try = self._clock() + self.retry_every
        self.notice.fail(f"{self.primary.name} failed ({exc}); showing {self.fallback.name} until it recovers")

    @property
    def problem(self) -> str | None:
        """Why the fallback is on screen, for the operator page and ``/metrics``; None on the primary."""
        return self.notice.problem

    def _read_fallback(self) -> Frame | None:
        if not self._fallback_open:
            self.fallback.open()
            self._fallback_open = True
        try:
            return self.fallback.read()
        except SourceError as exc:
            raise SourceError(
                f"{self.primary.name} failed ({self.last_error}) and so did {self.fallback.name} ({exc})"
            ) from exc
