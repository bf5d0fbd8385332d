"""One frame's way through the model: resize -> tensor -> backend(image, style) -> picture -> blend -> upscale.

``Stylizer`` owns the ordered list of backends (the configured fallback order). A backend error
never stops the picture: the frame passes through unstyled, the error is counted and logged, and
after ``max_consecutive_errors`` the next backend in the order is loaded. With ``retry_s`` set, a
backend that may come back by itself (``Backend.retry_after_failure``: a remote server) is tried
again every ``retry_s`` seconds from a background thread, and the show moves back to it once it
loads; no frame ever waits for that attempt.

With an ``upscaler`` and an ``output_size``, the finished working-size picture is brought to the output
size on the worker thread (engine.upscale): a guided upscaler takes its edges from the source frame,
which then arrives at the output size and is shrunk to the working size here for the model.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from engine.backends.base import Backend
from engine.convert import FUSED, to_pixels, to_tensor
from engine.errors import BackendError
from engine.frame import Frame, shrink, uint8_pixels
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from engine.upscale import Upscaler

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _warmth_lut(step: int) -> np.ndarray:
    w = step / 50.0
    x = np.arange(256, dtype=np.float32)
    gains = (1.0 + 0.18 * w, 1.0 + 0.03 * w, 1.0 - 0.18 * w)  # R, G, B
    return np.stack([np.clip(x * g, 0, 255) for g in gains], axis=-1).astype(np.uint8).reshape(256, 1, 3)


def warmth_lut(warmth: float) -> np.ndarray:
    """A 256x1x3 colour lookup table that warms (w > 0) or cools (w < 0) an RGB picture."""
    return _warmth_lut(int(round(max(-1.0, min(1.0, warmth)) * 50)))


@dataclass
class StylizeResult:
    frame: Frame
    styled: bool
    model_ms: float


class Stylizer:
    """Runs the current backend on frames; thread-safe (each worker thread calls ``process``)."""

    def __init__(
        self,
        backends: list[Callable[[], Backend]],
        work_size: tuple[int, int],
        stabilizer: Stabilizer | None = None,
        max_consecutive_errors: int = 3,
        retry_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        upscaler: Upscaler | None = None,
        output_size: tuple[int, int] | None = None,
    ) -> None:
        if not backends:
            raise BackendError("no backend configured")
        self._factories = backends
        self.work_size = work_size
        self.upscaler = upscaler
        self.output_size = output_size if upscaler is not None else None
        self.stabilizer = stabilizer
        self.max_consecutive_errors = max_consecutive_errors
        self.retry_s = retry_s  # 0: never go back to an earlier backend
        self._clock = clock
        self._retry_at = 0.0
        self._retrying = False
        self._closed = False
        self._lock = threading.RLock()  # re-entered: _fail holds it when it falls back through _advance
        self._users: dict[int, int] = {}  # id(backend) -> frames it is running now (see _use / _done)
        self._retired: dict[int, Backend] = {}  # replaced backends still running a frame: closed by the last
        self._stab_lock = threading.Lock()
        self._buffers = threading.local()  # each worker thread's input tensor, reused frame after frame
        self._index = -1
        self.backend: Backend | None = None
        self.errors = 0
        self._consecutive = 0
        self._causes: set[str] = set()  # causes already logged
        self.load_error: str | None = None  # why the last backend that failed to load did not
        if not FUSED:
            log.info("engine._frames is not built: OpenCV converts and smooths (slower; `laterna doctor` says how)")
        self._advance()

    # -- backend order --------------------------------------------------------------------------
    def _advance(self) -> None:
        """Load the next backend in order that loads; if none does, keep passing frames through."""
        while self._index + 1 < len(self._factories):
            self._index += 1
            try:
                backend = self._factories[self._index]().load()
            except BackendError as exc:
                self.errors += 1
                self.load_error = str(exc)
                log.warning("backend %d of %d unavailable: %s", self._index + 1, len(self._factories), exc)
                continue
            with self._lock:
                old, self.backend = self.backend, backend
                self._retire(old)
            log.info("stylising with %s", backend.describe())
            self._retry_at = self._clock() + self.retry_s
            return
        self._retry_at = self._clock() + self.retry_s
        if self.backend is None:
            log.error("no backend could be loaded; showing the picture unstyled")

    # -- who may close a backend --------------------------------------------------------------------
    def _use(self) -> Backend | None:
        """The current backend, counted as running one more frame until ``_done`` (any worker thread)."""
        with self._lock:
            backend = self.backend
            if backend is not None:
                self._users[id(backend)] = self._users.get(id(backend), 0) + 1
            return backend

    def _done(self, backend: Backend) -> None:
        """One frame on ``backend`` ended; the last one on a replaced backend closes it."""
        with self._lock:
            left = self._users[id(backend)] - 1
            if left:
                self._users[id(backend)] = left
                return
            del self._users[id(backend)]
            old = self._retired.pop(id(backend), None)
        if old is not None:
            old.close()

    def _retire(self, old: Backend | None) -> None:
        """Close a replaced backend now, or when the frames still running on it end (caller holds the lock):
        a worker must never find its backend closed under it."""
        if old is None:
            return
        if self._users.get(id(old)):
            self._retired[id(old)] = old
        else:
            old.close()

    @property
    def unstyled_reason(self) -> str | None:
        """Why every frame passes through unstyled (no backend could be loaded), or None while one works."""
        if self.backend is not None:
            return None
        return f"no model backend could be loaded ({self.load_error or 'no reason given'})"

    @property
    def backend_name(self) -> str:
        return self.backend.describe() if self.backend else "none (passthrough)"

    @property
    def style_names(self) -> list[str]:
        return self.backend.manifest.style_names if self.backend else []

    def _fail(self, backend: Backend, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            self._consecutive += 1
            cause = f"{backend.describe()}: {exc}"
            new_cause = cause not in self._causes
            if new_cause and len(self._causes) < 64:
                self._causes.add(cause)
            if new_cause or self.errors % 100 == 0:  # every counted error's cause is in the log once
                log.warning(
                    "backend %s failed (%d in a row, %d total): %s",
                    backend.describe(),
                    self._consecutive,
                    self.errors,
                    exc,
                )
            if self._consecutive >= self.max_consecutive_errors and backend is self.backend:
                log.warning("giving up on backend %s after %d errors in a row", backend.describe(), self._consecutive)
                self._consecutive = 0
                if self._index + 1 < len(self._factories):
                    self._advance()

    def _maybe_retry(self) -> None:
        """Every ``retry_s``, try the earlier backends again in a background thread (never on this one)."""
        if not self.retry_s or self._index <= 0:
            return
        now = self._clock()
        with self._lock:
            if self._retrying or self._closed or now < self._retry_at or self._index <= 0:
                return
            self._retrying, self._retry_at, limit = True, now + self.retry_s, self._index
        threading.Thread(target=self._retry, args=(limit,), name="backend-retry", daemon=True).start()

    def _retry(self, limit: int) -> None:
        try:
            for i in range(limit):
                backend = self._factories[i]()
                if not backend.retry_after_failure:
                    continue
                try:
                    backend.load()
                except BackendError as exc:
                    log.debug("backend %s still unavailable: %s", backend.describe(), exc)
                    continue
                old: Backend | None
                with self._lock:
                    if self._closed or self._index <= i:
                        old = backend  # closed meanwhile, or already on this one or a better one
                    else:
                        old, self.backend, self._index, self._consecutive = self.backend, backend, i, 0
                        log.warning("backend %s is back; stylising with it again", backend.describe())
                        self._retire(old)
                        old = None
                if old is not None:
                    old.close()
                return
        except Exception:  # a thread's boundary: never let a retry take anything else down
            log.exception("retrying the earlier backends failed")
        finally:
            with self._lock:
                self._retrying = False

    # -- one frame ------------------------------------------------------------------------------
    def prepare(self, frame: Frame) -> np.ndarray:
        w, h = self.work_size
        px = frame.pixels
        if (px.shape[1], px.shape[0]) != (w, h):
            px = shrink(px, (w, h))
        return px

    def unstyled(self, frame: Frame) -> np.ndarray:
        """The source picture as it goes to the sinks unstyled: at the output size when the source already
        is (no work), else at the working size (the loop enlarges it)."""
        if self.output_size is not None and frame.size == self.output_size:
            return frame.pixels
        return self.prepare(frame)

    def _finish(
        self, frame: Frame, source_small: np.ndarray, small: np.ndarray, styled: bool, model_ms: float
    ) -> StylizeResult:
        """The working-size picture ``small`` at the output size (when an upscaler is set) as the result;
        ``source_small`` is the source at the working size (the guide that ``small`` was made from)."""
        size = self.output_size
        if self.upscaler is None or size is None:
            return StylizeResult(frame.with_pixels(small), styled, model_ms)
        if not styled and frame.size == size:
            return StylizeResult(frame, False, model_ms)  # the source itself is the sharpest unstyled picture
        guide = frame.pixels if frame.size == size else None
        big = self.upscaler.upscale(small, source_small, guide, size)
        return StylizeResult(frame.with_pixels(big), styled, model_ms)

    def process(self, frame: Frame, mix: StyleMix) -> StylizeResult:
        self._maybe_retry()
        pixels = self.prepare(frame)
        if mix.is_unstyled:
            return self._finish(frame, pixels, pixels, False, 0.0)
        backend = self._use()
        if backend is None:
            return self._finish(frame, pixels, pixels, False, 0.0)
        try:
            return self._stylise(frame, pixels, mix, backend)
        finally:
            self._done(backend)

    def _stylise(self, frame: Frame, pixels: np.ndarray, mix: StyleMix, backend: Backend) -> StylizeResult:
        fixed = backend.fixed_hw
        image = pixels if fixed is None else shrink(pixels, (fixed[1], fixed[0]))
        t0 = time.perf_counter()
        try:
            weights = mix.as_array() if backend.n_styles else None
            if weights is not None and weights.shape[1] != backend.n_styles:
                raise BackendError(
                    f"mix has {weights.shape[1]} styles, model {backend.manifest.name} has {backend.n_styles}"
                )
            # the smoothing's small grey picture of the input is made in the same pass as the model's input
            stab = self.stabilizer
            motion = stab.new_motion_picture(pixels) if stab is not None and image is pixels else None
            tensor = to_tensor(image, getattr(self._buffers, "tensor", None), motion, stab.scale if stab else 8)
            self._buffers.tensor = tensor  # the backend is done with it when infer returns
            if stab is not None and stab.amount > 0 and image is not pixels:  # a fixed-size model: the working size
                motion = stab.motion_picture(pixels)
            out_tensor = backend.infer(tensor, weights)
        except BackendError as exc:
            self._fail(backend, exc)
            return self._finish(frame, pixels, pixels, False, 0.0)
        model_ms = (time.perf_counter() - t0) * 1000.0
        self._consecutive = 0
        if self.stabilizer is not None and motion is not None and out_tensor.shape[2:] == pixels.shape[:2]:
            with self._stab_lock:  # converted and smoothed in one pass where engine._frames is built
                out = self.stabilizer.apply_tensor(out_tensor, motion)
        else:
            out = to_pixels(out_tensor)
            if out.shape[:2] != pixels.shape[:2]:
                out = uint8_pixels(cv2.resize(out, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_LINEAR))
            if self.stabilizer is not None:
                with self._stab_lock:
                    out = self.stabilizer.apply(pixels, out, motion)
        if mix.strength < 1.0:
            out = uint8_pixels(cv2.addWeighted(out, mix.strength, pixels, 1.0 - mix.strength, 0.0))
        if abs(mix.warmth) >= 0.01:
            out = uint8_pixels(cv2.LUT(out, warmth_lut(mix.warmth)))
        return self._finish(frame, pixels, out, True, model_ms)

    def close(self) -> None:
        """Close the backend (at once, or when the frames still running on it end)."""
        with self._lock:
            self._closed = True
            old, self.backend = self.backend, None
            self._retire(old)
