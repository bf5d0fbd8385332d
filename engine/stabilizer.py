"""Motion-aware temporal smoothing of the stylised output.

Where the input picture did not change (a static room, only sensor noise), the new output is
blended with the previous output, which removes flicker; where the input moved, the new output is
used as it is, so motion does not smear. The motion map is computed at low resolution (cheap).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from engine.frame import Pixels, uint8_pixels


class Stabilizer:
    def __init__(self, amount: float = 0.6, motion_threshold: float = 12.0, scale: int = 8) -> None:
        """``amount``: weight of the previous output where nothing moved (0 turns smoothing off).
        ``motion_threshold``: grey-level change (0..255) above which a pixel counts as moving."""
        self.amount = float(amount)
        self.threshold = float(motion_threshold)
        self.scale = int(scale)
        self._prev_in: npt.NDArray[np.float32] | None = None  # small grey picture of the last input
        self._prev_out: Pixels | None = None

    def reset(self) -> None:
        self._prev_in = self._prev_out = None

    def _small_grey(self, pixels: Pixels) -> npt.NDArray[np.float32]:
        h, w = pixels.shape[:2]
        small = cv2.resize(pixels, (max(1, w // self.scale), max(1, h // self.scale)), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def apply(self, inp: Pixels, out: Pixels) -> Pixels:
        """Smooth ``out`` (uint8 HxWx3) given the input picture ``inp`` it was made from."""
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
        keep = cv2.resize(keep, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
        # per-pixel weighted blend in OpenCV's C++ (uint8 in and out): ~10x a numpy float blend
        result = uint8_pixels(cv2.blendLinear(out, prev_out, 1.0 - keep, keep))
        self._prev_out = result
        return result
