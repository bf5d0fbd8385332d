"""Microphone loudness and onsets, for pictures that react to the room's sound.

``AudioLevel.feed(samples)`` is the whole analysis and needs no device: RMS of each block, a level
in [0, 1] on a decibel scale (fast attack, slow release) and an onset whenever a block is much louder
than the recent average, which then decays with a half-life. ``start()`` feeds it from the default
microphone through ``sounddevice`` when that package and a microphone are there; otherwise it says
so once at INFO and the level stays at zero, so whatever it modulates simply runs unmodulated.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FLOOR_DB = -60.0  # this quiet or quieter is level 0; 0 dBFS is level 1


class _InputStream(Protocol):
    """The part of ``sounddevice.InputStream`` used here (sounddevice is optional and ships no type hints)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class AudioLevel:
    """Loudness (0..1) and an onset envelope (1 at an onset, decaying to 0) of an audio stream."""

    def __init__(
        self,
        samplerate: int = 16000,
        block: int = 512,
        device: int | str | None = None,
        onset_ratio: float = 2.0,
        onset_floor: float = 0.01,
        onset_half_life: float = 0.25,
        release_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.samplerate = samplerate
        self.block = block
        self.device = device
        self.onset_ratio = onset_ratio
        self.onset_floor = onset_floor
        self.onset_half_life = onset_half_life
        self.release_s = release_s
        self._clock = clock
        self._lock = threading.Lock()  # the audio callback thread writes, the frame loop reads
        self._level = 0.0
        self._average_rms: float | None = None  # set by the first block: starting to listen is no onset
        self._last_onset: float | None = None
        self._last_feed: float | None = None
        self._stream: _InputStream | None = None
        self.active = False

    # -- analysis (pure: no device) ------------------------------------------------------------
    def feed(self, samples: npt.ArrayLike, now: float | None = None) -> None:
        """Take one block of samples (any shape, float in [-1, 1]) captured at ``now``."""
        now = self._clock() if now is None else now
        x = np.asarray(samples, dtype=np.float32)
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        db = 20.0 * math.log10(max(rms, 1e-9))
        target = min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB))
        with self._lock:
            dt = self.block / self.samplerate if self._last_feed is None else max(0.0, now - self._last_feed)
            self._last_feed = now
            if target >= self._level:
                self._level = target  # instant attack
            else:
                self._level += (target - self._level) * min(1.0, dt / self.release_s)
            if self._average_rms is None:
                self._average_rms = rms
            if rms > self.onset_floor and rms > self.onset_ratio * self._average_rms:
                self._last_onset = now
            self._average_rms += (rms - self._average_rms) * min(1.0, dt / 1.0)  # about a second of memory

    def level(self) -> float:
        with self._lock:
            return self._level

    def onset(self, now: float | None = None) -> float:
        """1.0 right at an onset, halving every ``onset_half_life`` seconds after it; 0 with none yet."""
        now = self._clock() if now is None else now
        with self._lock:
            if self._last_onset is None:
                return 0.0
            return math.pow(0.5, max(0.0, now - self._last_onset) / self.onset_half_life)

    # -- the microphone --------------------------------------------------------------------------
    def start(self) -> bool:
        """Listen to the microphone; False (said once at INFO) without sounddevice or a microphone."""
        if self._stream is not None:
            return True
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
            log.info("audio reactivity off: sounddevice is not available (%s)", exc)
            return False

        # sounddevice's callback signature; only the samples are used
        def callback(
            indata: npt.NDArray[np.float32],
            frames: int,
            time_info: object,  # noqa: ARG001
            status: object,
        ) -> None:  # noqa: ARG001
            self.feed(indata)

        try:
            stream: _InputStream = sd.InputStream(
                samplerate=self.samplerate,
                blocksize=self.block,
                channels=1,
                dtype="float32",
                device=self.device,
                callback=callback,
            )
            stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and friends: no microphone
            log.info("audio reactivity off: no microphone could be opened (%s)", exc)
            return False
        self._stream = stream
        self.active = True
        log.info(
            "audio reactivity on: listening to %s", self.device if self.device is not None else "the default microphone"
        )
        return True

    def stop(self) -> None:
        """Stop listening; safe to call more than once."""
        stream, self._stream = self._stream, None
        self.active = False
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # a vanished device may fail to close; nothing is left to release
                log.warning("closing the microphone stream: %s", exc)
