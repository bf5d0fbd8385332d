"""Small real sources and a settable clock for tests of wrappers (transform, fallback)."""

from __future__ import annotations

import numpy as np

from engine.errors import SourceError
from engine.frame import Frame
from engine.sources.base import FrameSource


class ManualClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def solid(rgb: tuple[int, int, int], width: int = 16, height: int = 12) -> np.ndarray:
    """A width x height picture of one colour."""
    return np.full((height, width, 3), rgb, dtype=np.uint8)


class ScriptedSource(FrameSource):
    """Hands out one colour per read; ``broken`` (a message) makes read() or open() raise SourceError."""

    def __init__(self, name: str, rgb: tuple[int, int, int], width: int = 16, height: int = 12) -> None:
        self.name = name
        self.pixels = solid(rgb, width, height)
        self.broken: str | None = None
        self.open_broken: str | None = None
        self.idle = False  # True: read() returns None, as a healthy source with nothing new does
        self.reads = 0
        self.opens = 0
        self.closes = 0
        self.seq = 0

    def open(self) -> None:
        self.opens += 1
        if self.open_broken:
            raise SourceError(self.open_broken)

    def read(self) -> Frame | None:
        self.reads += 1
        if self.broken:
            raise SourceError(self.broken)
        if self.idle:
            return None
        self.seq += 1
        return Frame(self.pixels, seq=self.seq, source=self.name)

    def close(self) -> None:
        self.closes += 1
