"""Pacing of synthetic sources in one place: frame numbers at ``fps`` on a clock, and the easing they share.

A synthetic source (the pattern, the generator, the slideshow's fades) renders a frame on demand;
``FramePacer`` says whether a new frame is due and when the next one will be, so the loop's feeder can
sleep until then instead of polling ``read()``.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.errors import ConfigError


def smoothstep(x: float) -> float:
    """The smoothstep easing of ``x`` clamped to [0, 1]: 0 -> 0, 1 -> 1, flat at both ends."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


class FramePacer:
    """Frame indices at ``fps`` counted from the first ``due()`` call; each index is handed out once.

    Not thread-safe: one reader (the source's ``read()``) owns it; ``next_in()`` may be read from
    another thread (it reads two numbers and is only a hint)."""

    def __init__(self, fps: float, clock: Callable[[], float]) -> None:
        if not fps > 0:
            raise ConfigError(f"pacing: fps must be positive, got {fps}")
        self.fps = float(fps)
        self._clock = clock
        self._t0: float | None = None
        self._last_index = -1

    def reset(self) -> None:
        """Start counting again from the next ``due()``."""
        self._t0 = None
        self._last_index = -1

    def due(self, now: float | None = None) -> int | None:
        """The index of the frame due at ``now`` if it was not handed out yet, else None."""
        now = self._clock() if now is None else now
        if self._t0 is None:
            self._t0 = now
        index = int((now - self._t0) * self.fps)
        if index <= self._last_index:
            return None
        self._last_index = index
        return index

    def next_in(self, now: float | None = None) -> float:
        """Seconds from ``now`` until the next frame is due (0 before the first ``due()`` or when late)."""
        if self._t0 is None:
            return 0.0
        now = self._clock() if now is None else now
        return max(0.0, self._t0 + (self._last_index + 1) / self.fps - now)
