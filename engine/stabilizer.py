"""Motion-aware temporal smoothing of the stylised output.

Where the input picture did not change (a static room, only sensor noise), the new output is
blended with the previous output, which removes flicker; where the input moved, the new output is
used as it is, so motion does not smear. The motion map is computed at low resolution (cheap).

Per 640x360 frame the blend is the cost (~0.5-0.8 ms of ~1 ms): it runs in OpenCV's C++ into the new
output's own buffer, with the full-size weight maps kept between frames. Where the weight is the same
everywhere (a still picture: nothing moved; or everything moved) one scalar blend, or none, does it.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from engine.frame import Pixels, uint8_pixels

Weights = npt.NDArray[np.float32]


class Stabilizer:
    """Not thread-safe: one caller at a time (the Stylizer holds a lock around ``apply``)."""

    def __init__(self, amount: float = 0.6, motion_threshold: float = 12.0, scale: int = 8) -> None:
        """``amount``: weight of the previous output where nothing moved (0 turns smoothing off).
        ``motion_threshold``: grey-level change (0..255) above which a pixel counts as moving."""
        self.amount = float(amount)
        self.threshold = float(motion_threshold)
        self.scale = int(scale)
        self._prev_in: Weights | None = None  # small grey picture of the last input
        self._prev_out: Pixels | None = None
        self._keep: Weights | None = None  # full-size weight of the previous output, reused
        self._take: Weights | None = None  # 1 - keep, reused

    def reset(self) -> None:
        self._prev_in = self._prev_out = None

    def _small_grey(self, pixels: Pixels) -> Weights:
        h, w = pixels.shape[:2]
        small = cv2.resize(pixels, (max(1, w // self.scale), max(1, h // self.scale)), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def _full_weights(self, keep: Weights, shape: tuple[int, ...]) -> tuple[Weights, Weights]:
        """``keep`` enlarged to ``shape`` (and 1 - it) in the buffers kept from the last frame."""
        h, w = shape[:2]
        if self._keep is None or self._take is None or self._keep.shape != (h, w):
            self._keep, self._take = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        cv2.resize(keep, (w, h), dst=self._keep, interpolation=cv2.INTER_LINEAR)
        np.subtract(np.float32(1.0), self._keep, out=self._take)
        return self._keep, self._take

    def apply(self, inp: Pixels, out: Pixels) -> Pixels:
        """Smooth ``out`` (uint8 HxWx3) given the input picture ``inp`` it was made from. The result is
        written into ``out``'s own buffer (it is the caller's fresh picture) and returned."""
        if self.amount <= 0:
            return out
        grey = self._small_grey(inp)
        prev_in, prev_out = self._prev_in, self._prev_out
        self._prev_in = grey
        if prev_in is None or prev_out is None or prev_out.shape != out.shape or prev_in.shape != grey.shape:
            self._prev_out = out
            return out
        motion = cv2.GaussianBlur(np.abs(grey - prev_in), (5, 5), 0)
        keep = self.amount * np.clip(1.0 - motion / self.threshold, 0.0, 1.0)  # weight of the previous output
        lo, hi = float(keep.min()), float(keep.max())
        if hi <= 0.0:  # everything moved: the new output as it is
            result = out
        elif lo == hi:  # nothing moved anywhere (or everywhere alike): one scalar blend
            result = uint8_pixels(cv2.addWeighted(out, 1.0 - hi, prev_out, hi, 0.0, dst=out))
        else:
            # per-pixel weighted blend in OpenCV's C++ (uint8 in and out): ~10x a numpy float blend
            weight, take = self._full_weights(keep, out.shape)
            result = uint8_pixels(cv2.blendLinear(out, prev_out, take, weight, dst=out))
        self._prev_out = result
        return result
