"""A black picture: what ``fallback: none`` shows while the real source is broken, never nothing.

Without a stand-in, a dead camera leaves the loop with no frame to show and an error on every read.
``BlackSource`` hands out a black frame every 1/fps seconds on its clock (so the loop and the
projector keep their pace) and cannot fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from engine.errors import ConfigError
from engine.frame import Frame
from engine.sources.base import FrameSource


class BlackSource(FrameSource):
    """Black frames of width x height, a new one every 1/fps seconds."""

    name = "black"

    def __init__(
        self, width: int = 640, height: int = 360, fps: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if width < 1 or height < 1 or not fps > 0:
            raise ConfigError(f"black source: need width, height >= 1 and fps > 0, got {width}x{height} at {fps}")
        self.fps = fps
        self.width, self.height = width, height
        self._clock = clock
        self._next = 0.0
        self._seq = 0

    def read(self) -> Frame | None:
        now = self._clock()
        if now < self._next:
            return None
        period = 1.0 / self.fps
        self._next = (self._next if now - self._next < period else now) + period  # late: no burst to catch up
        self._seq += 1
        pixels = np.zeros((self.height, self.width, 3), np.uint8)  # calloc'd, and nobody else's to paint on
        return Frame(pixels, t_capture=now, seq=self._seq, source=self.name)

    def next_frame_in(self) -> float | None:
        return max(0.0, self._next - self._clock())
