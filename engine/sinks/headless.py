"""A sink without a window, for servers and CI: it keeps the newest frame and counts them."""

from __future__ import annotations

import logging
import threading

from engine.errors import ConfigError
from engine.frame import Frame
from engine.sinks.base import FrameSink

log = logging.getLogger(__name__)


class HeadlessSink(FrameSink):
    """Keeps the last frame shown and how many there were; ``max_frames`` > 0 ends the show after that many."""

    name = "headless"

    def __init__(self, max_frames: int = 0) -> None:
        if max_frames < 0:
            raise ConfigError(f"headless: max_frames must be >= 0, got {max_frames}")
        self.max_frames = max_frames
        self._lock = threading.Lock()  # the operator page may read while the loop shows
        self._last: Frame | None = None
        self._count = 0

    def show(self, frame: Frame) -> None:
        with self._lock:
            self._last = frame
            self._count += 1

    def poll(self) -> bool:
        """False once ``max_frames`` frames have been shown (never, when it is 0)."""
        with self._lock:
            return not (self.max_frames and self._count >= self.max_frames)

    @property
    def last(self) -> Frame | None:
        """The newest frame shown, or None before the first."""
        with self._lock:
            return self._last

    @property
    def count(self) -> int:
        """How many frames have been shown."""
        with self._lock:
            return self._count
