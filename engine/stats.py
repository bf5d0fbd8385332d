"""Live statistics of the show, readable from any thread as a plain dict."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if len(values) else 0.0


class LiveStats:
    """Counters and recent timings. ``snapshot()`` gives the keys ``--stats-out`` writes."""

    def __init__(self, window: int = 600, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.frame_ms: collections.deque[float] = collections.deque(maxlen=window)
        self.model_ms: collections.deque[float] = collections.deque(maxlen=window)
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._shown_times: collections.deque[float] = collections.deque(maxlen=window)
        self._intervals: collections.deque[tuple[int, float]] = collections.deque(maxlen=window)  # (frame, s)
        self.frames = 0
        self.styled = 0
        self.dropped = 0
        self.errors = 0
        self.backend_errors = 0  # mirrored from the stylizer each tick
        self.backend = ""
        self.source = ""
        self.resolution = (0, 0)  # the size the model stylises at (the working size)
        self.output_resolution = (0, 0)  # the size the sinks receive
        self.mix: dict[str, float] = {}
        self.strength = 1.0
        self.started = clock()
        self._last_shown: float | None = None

    def shown(self, latency_ms: float, styled: bool) -> None:
        now = self._clock()
        with self._lock:
            self.frames += 1
            self.styled += int(styled)
            self.latency_ms.append(latency_ms)
            if self._last_shown is not None:
                self.frame_ms.append((now - self._last_shown) * 1000.0)
                self._intervals.append((self.frames, now - self._last_shown))
            self._last_shown = now
            self._shown_times.append(now)

    def frame_intervals_since(self, seen: int) -> tuple[int, list[float]]:
        """(frames shown so far, the seconds between shown frames for frames after number ``seen``).

        A reader that needs every frame (a histogram) keeps the first number and passes it back next
        time; it sees each interval once, only intervals between frames on the wall (never loop ticks
        that showed nothing), at most the last ``window`` of them."""
        with self._lock:
            if seen > self.frames:  # counted by another (an earlier loop's) stats: start over
                seen = 0
            return self.frames, [dt for n, dt in self._intervals if n > seen]

    def model(self, ms: float) -> None:
        with self._lock:
            self.model_ms.append(ms)

    def drop(self, n: int = 1) -> None:
        with self._lock:
            self.dropped += n

    def error(self, n: int = 1) -> None:
        with self._lock:
            self.errors += n

    def fps(self) -> float:
        """Frames shown per second over the recent window."""
        with self._lock:
            t = list(self._shown_times)
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])

    def snapshot(self) -> dict[str, Any]:
        fps = self.fps()
        with self._lock:
            return {
                "frames": self.frames,
                "fps": round(fps, 2),
                "frame_ms": {
                    "p50": _pct(self.frame_ms, 50),
                    "p95": _pct(self.frame_ms, 95),
                    "p99": _pct(self.frame_ms, 99),
                },
                "model_ms": {"p50": _pct(self.model_ms, 50), "p99": _pct(self.model_ms, 99)},
                "latency_ms": {"p50": _pct(self.latency_ms, 50), "p99": _pct(self.latency_ms, 99)},
                "dropped": self.dropped,
                "errors": self.errors + self.backend_errors,
                "styled_frames": self.styled,
                "backend": self.backend,
                "source": self.source,
                "resolution": list(self.resolution),
                "output_resolution": list(self.output_resolution),
                "mix": dict(self.mix),
                "strength": round(self.strength, 3),
                "uptime_s": round(self._clock() - self.started, 1),
            }
