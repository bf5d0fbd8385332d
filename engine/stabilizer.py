"""Motion-aware temporal smoothing of the stylised output.

Where the input picture did not change (a static room, only sensor noise), the new output is
blended with the previous output, which removes flicker; where the input moved, the new output is
used as it is, so motion does not smear. The motion map is computed at low resolution (cheap).

The Stylizer hands over the model's output as it is (``apply_tensor``): where engine._frames is built it
is converted and blended in one pass (engine.convert.to_planes), the weight enlarged row by row from the
motion map; the last result's colour planes are kept for the next frame. Otherwise, and for a finished
picture (``apply``), OpenCV blends with 8-bit weights and two scaled 8-bit products (``cv2.blendLinear``'s
float weights cost a third more); where the weight is the same everywhere (a still picture, or everything
moved) one scalar blend, or none, does it. The motion map's picture is the input's luma shrunk 8x (whole
8x8 blocks), made in the pass that makes the model's input.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.convert import FUSED, Buffers, Planes, Weights, merge, motion_weights, small_grey, to_pixels, to_planes
from engine.frame import Pixels, uint8_pixels


class Stabilizer:
    """``apply`` and ``apply_tensor`` are not thread-safe: one caller at a time (the Stylizer holds a lock
    around them). ``motion_picture`` is: a worker thread makes it from its input outside that lock and hands
    it to them."""

    def __init__(self, amount: float = 0.6, motion_threshold: float = 12.0, scale: int = 8) -> None:
        """``amount``: weight of the previous output where nothing moved (0 turns smoothing off).
        ``motion_threshold``: grey-level change (0..255) above which a pixel counts as moving."""
        self.amount = float(amount)
        self.threshold = float(motion_threshold)
        self.scale = int(scale)
        self._prev_in: Weights | None = None  # small grey picture of the last input
        self._prev_out: Pixels | None = None
        self._buffers = Buffers()  # the OpenCV blend's full-size 8-bit weights and products, kept
        self._planes: list[Planes] = []  # two uint8 3xHxW blocks: the last result's planes and the next one's
        self._prev_planes: Planes | None = None  # the last result as planes (fused path), or None

    def reset(self) -> None:
        self._prev_in = self._prev_out = self._prev_planes = None

    def motion_picture(self, pixels: Pixels) -> Weights:
        """The small grey picture of an input that ``apply`` compares with the last one (thread-safe; the
        Stylizer has ``to_tensor`` make it in the pass that makes the model's input)."""
        return small_grey(pixels, self.scale)

    def new_motion_picture(self, pixels: Pixels) -> Weights | None:
        """An empty motion picture for ``pixels`` for ``to_tensor`` to fill, or None when smoothing is off."""
        if self.amount <= 0:
            return None
        h, w = pixels.shape[:2]
        return np.empty((max(1, h // self.scale), max(1, w // self.scale)), np.float32)

    def _blend(self, out: Pixels, prev_out: Pixels, keep: Weights) -> Pixels:
        """``out * (1 - keep) + prev_out * keep`` per pixel (``keep`` at the motion map's size, enlarged
        bilinearly), in 8 bits into ``out``'s buffer: within one grey level of the float blend."""
        h, w = out.shape[:2]
        full, prev_part = self._buffers.get("keep", out.shape), self._buffers.get("prev_part", out.shape)
        take = self._buffers.get("take", out.shape)
        keep8 = np.empty(keep.shape, np.uint8)
        np.multiply(keep, np.float32(255.0), out=keep8, casting="unsafe")
        grey = cv2.resize(keep8, (w, h), dst=self._buffers.get("keep_grey", (h, w)), interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB, dst=full)  # x255, three colours
        cv2.bitwise_not(full, dst=take)  # 255 - keep
        cv2.multiply(prev_out, full, dst=prev_part, scale=1.0 / 255.0)
        cv2.multiply(out, take, dst=out, scale=1.0 / 255.0)
        return uint8_pixels(cv2.add(out, prev_part, dst=out))

    def _weights(self, grey: Weights, shape: tuple[int, ...]) -> tuple[Weights | None, Pixels | None]:
        """The previous output's weight at the motion map's size and the previous output, for a new output of
        ``shape`` made from the input with motion picture ``grey``; (None, None) when nothing is to be blended
        (the first picture, a new size, or everything moved)."""
        prev_in, prev_out = self._prev_in, self._prev_out
        self._prev_in = grey
        if prev_in is None or prev_out is None or prev_out.shape != shape or prev_in.shape != grey.shape:
            return None, None
        keep, top = motion_weights(grey, prev_in, self.amount, self.threshold)
        return (keep, prev_out) if top > 0.0 else (None, None)

    def apply(self, inp: Pixels, out: Pixels, motion_picture: Weights | None = None) -> Pixels:
        """Smooth ``out`` (uint8 HxWx3) given the input picture ``inp`` it was made from (or its
        ``motion_picture``, made already). The result is written into ``out``'s own buffer (it is the
        caller's fresh picture) and returned."""
        if self.amount <= 0:
            return out
        grey = self.motion_picture(inp) if motion_picture is None else motion_picture
        keep, prev_out = self._weights(grey, out.shape)
        result = out if keep is None or prev_out is None else self._blend_with(out, prev_out, keep)
        self._prev_out, self._prev_planes = result, None
        return result

    def apply_tensor(self, tensor: np.ndarray, motion_picture: Weights) -> Pixels:
        """The model's float32 1x3xHxW output as a new smoothed uint8 HxWx3 picture. Where engine._frames is
        built (``convert.FUSED``) converted and blended in one pass, from and into planes kept here (the last
        result's stay for the next frame); else ``to_pixels`` and the OpenCV blend of ``apply``."""
        if self.amount <= 0:
            return to_pixels(tensor)
        shape = (tensor.shape[2], tensor.shape[3], 3)
        keep, prev_out = self._weights(motion_picture, shape)
        if not FUSED:
            out = to_pixels(tensor)
            result = out if keep is None or prev_out is None else self._blend_with(out, prev_out, keep)
            self._prev_out, self._prev_planes = result, None
            return result
        planes = (3, shape[0], shape[1])
        if len(self._planes) != 2 or self._planes[0].shape != planes:
            self._planes = [np.empty(planes, np.uint8) for _ in range(2)]
            self._prev_planes = None
        prev, nxt = self._planes[::-1] if self._prev_planes is self._planes[1] else self._planes
        if keep is not None and prev_out is not None:
            if self._prev_planes is None:  # the last picture came through ``apply``: its planes are not kept
                cv2.split(prev_out, [prev[0], prev[1], prev[2]])
            to_planes(tensor, nxt, prev, keep)
        else:
            to_planes(tensor, nxt)
        result = merge(nxt)
        self._prev_out, self._prev_planes = result, nxt
        return result

    def _blend_with(self, out: Pixels, prev_out: Pixels, keep: Weights) -> Pixels:
        """``out`` blended with ``prev_out`` by ``keep`` in OpenCV, in ``out``'s buffer."""
        lo, hi = float(keep.min()), float(keep.max())
        if hi <= 0.0:  # everything moved: the new output as it is
            return out
        if lo == hi:  # nothing moved anywhere (or everywhere alike): one scalar blend
            return uint8_pixels(cv2.addWeighted(out, 1.0 - hi, prev_out, hi, 0.0, dst=out))
        return self._blend(out, prev_out, keep)
