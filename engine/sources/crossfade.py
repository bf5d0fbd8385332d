"""Crossfades between sources: the picture never cuts when the show changes what it looks at.

``Crossfade`` fades from a held picture (the last one handed out before a switch) to the frames of
whatever source comes next, over ``seconds`` with a smoothstep curve. Holding a still picture means
only the new source is read during the fade, so a dead camera is never asked twice and a fade costs
one blend per frame. When the new source has nothing new for a read, the fade still advances on its
last frame (at most ``fps`` times a second, so a fast-polling reader is not flooded), so still
sources (a slide) fade in as smoothly as moving ones.

``SwitchSource`` holds named sources ("live": the camera chain, "generator": a GAN's dream) and hands
out the frames of the selected one; ``select(name)`` (thread-safe, e.g. from attract mode through the
``SelectSource`` event) switches with a crossfade. A selected source that breaks hands the show back
to the first one, with a warning, so a failing generator never blanks the projection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from engine.errors import ConfigError, SourceError
from engine.frame import Frame, uint8_pixels
from engine.sources.base import FrameSource
from engine.sources.pacing import smoothstep

log = logging.getLogger(__name__)


class Crossfade:
    """Blends a held picture into the frames that follow a switch, over ``seconds``."""

    def __init__(self, seconds: float = 1.5, clock: Callable[[], float] = time.monotonic, fps: float = 30.0) -> None:
        if not (seconds >= 0.0):
            raise ConfigError(f"crossfade: seconds must be >= 0, got {seconds}")
        if not (fps > 0.0):
            raise ConfigError(f"crossfade: fps must be positive, got {fps}")
        self.seconds = float(seconds)
        self.interval = 1.0 / fps
        self._clock = clock
        self._held: np.ndarray | None = None
        self._t0 = 0.0
        self._duration = 0.0
        self._last_new: Frame | None = None
        self._last_out: np.ndarray | None = None  # the last picture handed out, held by the next switch
        self._t_out = -1e9  # when it was handed out

    @property
    def active(self) -> bool:
        return self._held is not None

    def start(self, seconds: float | None = None) -> None:
        """Begin a fade from the picture handed out last; nothing to fade from (or 0 s) is a cut."""
        duration = self.seconds if seconds is None else max(0.0, float(seconds))
        self._held = self._last_out if duration > 0 else None
        self._t0, self._duration = self._clock(), duration
        self._last_new = None

    def next_in(self) -> float | None:
        """Seconds until the fade will hand out its next step on its own; None when no fade runs."""
        if self._held is None or self._last_new is None:
            return None
        return max(0.0, self._t_out + self.interval - self._clock())

    def alpha(self) -> float:
        """How much of the new source is in the picture now: 0 at the switch, 1 when the fade is over."""
        if self._held is None or self._duration <= 0:
            return 1.0
        return smoothstep((self._clock() - self._t0) / self._duration)

    def apply(self, frame: Frame | None) -> Frame | None:
        """The frame to hand out for the new source's ``frame`` (None: it had nothing new)."""
        now = self._clock()
        if frame is not None:
            self._last_new = frame
        elif self._held is None or self._last_new is None or now - self._t_out < self.interval:
            return None
        else:
            frame = self._last_new  # still fading: advance the fade on the new source's last picture
        if self._held is not None:
            a = self.alpha()
            if a >= 1.0:
                self._held = None
            else:
                held = self._held
                if held.shape != frame.pixels.shape:
                    held = cv2.resize(held, (frame.width, frame.height), interpolation=cv2.INTER_AREA)
                frame = frame.with_pixels(uint8_pixels(cv2.addWeighted(held, 1.0 - a, frame.pixels, a, 0.0)))
        self._last_out, self._t_out = frame.pixels, now
        return frame


class SwitchSource(FrameSource):
    """The selected one of several named sources, crossfading on every change of selection."""

    def __init__(
        self,
        inputs: dict[str, FrameSource],
        selected: str | None = None,
        crossfade_s: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not inputs:
            raise ConfigError("switch: needs at least one source")
        self.inputs = dict(inputs)
        self.home = next(iter(self.inputs))  # where a broken selection falls back to
        selected = self.home if selected is None else selected
        if selected not in self.inputs:
            raise ConfigError(f"switch: no source named {selected!r}; have {sorted(self.inputs)}")
        self.selected = selected
        self.fade = Crossfade(crossfade_s, clock)
        self._lock = threading.Lock()
        self._pending: tuple[str, float | None] | None = None
        self._opened: set[str] = set()
        self.last_error: str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return getattr(self.inputs[self.selected], "name", self.selected)

    def open(self) -> None:
        home = self.inputs[self.home]
        home.open()  # the show's own source: a failure here is the caller's to handle
        self._opened.add(self.home)
        for key, source in self.inputs.items():
            if key == self.home:
                continue
            try:
                source.open()
                self._opened.add(key)
            except SourceError as exc:  # an optional extra source: the show goes on without it
                log.warning("switch: %s could not be opened (%s); it will not be shown", key, exc)
        if self.selected not in self._opened:
            self.selected = self.home

    def select(self, name: str, seconds: float | None = None) -> bool:
        """Switch to ``name`` with a crossfade (``seconds``: this fade's length); thread-safe.

        False, with a warning, for a source this switch does not have or could not open."""
        if name not in self.inputs:
            log.warning("switch: no source named %r (have %s)", name, ", ".join(self.inputs))
            return False
        if self._opened and name not in self._opened:
            log.warning("switch: %s is not available (it failed to open)", name)
            return False
        with self._lock:
            self._pending = (name, seconds)
        return True

    def read(self) -> Frame | None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] != self.selected:
            log.info("switching the picture from %s to %s", self.selected, pending[0])
            self.selected = pending[0]
            self.fade.start(pending[1])
        try:
            frame = self.inputs[self.selected].read()
        except SourceError as exc:
            if self.selected == self.home:
                raise
            self.last_error = str(exc)
            log.warning("switch: %s failed (%s); back to %s", self.selected, exc, self.home)
            self.selected = self.home
            self.fade.start()
            frame = self.inputs[self.home].read()
        return self.fade.apply(frame)

    def children(self) -> tuple[FrameSource, ...]:
        return tuple(self.inputs.values())

    def next_frame_in(self) -> float | None:
        """The selected source's next frame, or the fade's next step if that comes sooner."""
        if self._pending is not None:
            return 0.0
        wait = self.inputs[self.selected].next_frame_in()
        fade = self.fade.next_in()
        if wait is None:
            return None
        return wait if fade is None else min(wait, fade)

    def close(self) -> None:
        opened, self._opened = self._opened, set()
        for key in opened:
            try:
                self.inputs[key].close()
            except Exception as exc:  # closing the rest matters more than one source's complaint
                log.warning("switch: closing %s: %s", key, exc)
