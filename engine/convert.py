"""Pictures to tensors and back: the frame path's conversions around the model.

Where the optional compiled loops are built (engine/_frames.c, by ``pip install``; ``FUSED``):
``to_tensor`` makes the model's input and, in the same pass, the small grey picture the smoothing compares;
``to_planes`` turns the model's output into 8-bit colour planes blended with the previous picture's planes
(the smoothing) in one pass. Without them OpenCV and numpy do the same in more passes, into each thread's
scratch planes, within one or two grey levels.

Measured in the running show (640x360, two sessions on two cores, thread CPU ms per frame): input 0.77 ->
0.45 with the small grey picture included (was 0.33 more), output + smoothing 2.0 -> ~1.0.
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType

import cv2
import numpy as np
import numpy.typing as npt

from engine.frame import Pixels, shrink, uint8_pixels

log = logging.getLogger(__name__)

_frames: ModuleType | None
try:
    from engine import _frames  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built (no C compiler at install time): OpenCV does the same in more passes
    _frames = None
FUSED = _frames is not None

Weights = npt.NDArray[np.float32]
Planes = npt.NDArray[np.uint8]
"""Three 8-bit colour planes: uint8 3 x height x width."""

_INV_255 = np.float32(1.0 / 255.0)


class Buffers:
    """Scratch arrays by name, shape and dtype, made once: a frame allocates nothing once warm (a fresh 230 KB+
    array costs its page faults again every frame: in the running show to_tensor took 0.9 ms with fresh planes,
    ~0.3 ms with these)."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, tuple[int, ...], str], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike = np.uint8) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        array = self.arrays.get(key)
        if array is None:
            array = self.arrays[key] = np.empty(shape, dtype)
        return array


class ThreadBuffers(Buffers, threading.local):
    """``Buffers`` of each thread's own (for scratch arrays that several threads fill at once)."""


_scratch = ThreadBuffers()  # the conversions' planes (they never leave their thread)


def small_grey(pixels: Pixels, scale: int) -> Weights:
    """The luma (0..255, float32) of ``pixels`` shrunk ``scale`` times by ``engine.frame.shrink`` (three 2x2
    halvings make an 8x8 box)."""
    h, w = pixels.shape[:2]
    small = shrink(pixels, (max(1, w // scale), max(1, h // scale)))
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def to_tensor(
    pixels: np.ndarray, out: np.ndarray | None = None, grey: Weights | None = None, scale: int = 8
) -> np.ndarray:
    """uint8 HxWx3 -> C-contiguous float32 1x3xHxW in [0, 1], written into ``out`` when it has that shape.
    With ``grey`` (float32 (H // scale) x (W // scale)): also written, with ``small_grey(pixels, scale)``
    (from whole blocks in the compiled pass, where that is built).

    In numpy, one pass per channel straight into the NCHW array (cv2.split into this thread's planes, then
    a scaling cast): a transposed ``astype`` keeps the HWC memory order, so the backend had to copy it once
    more. A fresh 2.8 MB array can cost up to ~700 page faults when the allocator hands back new pages, so
    the Stylizer passes each worker thread's own buffer."""
    h, w = pixels.shape[:2]
    if out is None or out.shape != (1, 3, h, w) or out.dtype != np.float32:
        out = np.empty((1, 3, h, w), np.float32)
    grey_fits = grey is None or (
        h >= scale
        and w >= scale
        and grey.dtype == np.float32
        and grey.shape == (h // scale, w // scale)
        and grey.flags.c_contiguous
    )
    if _frames is not None and pixels.flags.c_contiguous and pixels.dtype == np.uint8 and grey_fits:
        _frames.to_tensor(pixels, out, h, w, grey, scale)
        return out
    planes = [_scratch.get(f"plane{c}", (h, w)) for c in range(3)]
    cv2.split(pixels, planes)
    for c, channel in enumerate(planes):
        np.multiply(channel, _INV_255, out=out[0, c], casting="unsafe")
    if grey is not None:
        grey[...] = small_grey(pixels, scale)
    return out


def to_pixels(tensor: np.ndarray) -> Pixels:
    """float32 1x3xHxW in [0, 1] -> a new uint8 HxWx3 (cv2.convertScaleAbs per channel into this thread's
    planes, ~20x numpy's speed, then one merge into the picture that is handed on)."""
    h, w = tensor.shape[2], tensor.shape[3]
    planes = [_scratch.get(f"plane{c}", (h, w)) for c in range(3)]
    for c in range(3):
        cv2.convertScaleAbs(tensor[0, c], dst=planes[c], alpha=255.0)
    return uint8_pixels(cv2.merge(planes))


def to_planes(tensor: np.ndarray, out: Planes, prev: Planes | None = None, keep: Weights | None = None) -> Planes:
    """The model's float32 1x3xHxW output in [0, 1] as 8-bit planes in ``out`` (uint8 3xHxW), rounded; with
    ``prev`` (uint8 3xHxW) and ``keep`` (float32, the previous picture's weight on a small grid):
    ``tensor * (1 - k) + prev * k``, with ``k`` the grid enlarged bilinearly as cv2.resize does. Needs ``FUSED``."""
    if _frames is None:
        raise RuntimeError("engine._frames is not built")
    h, w = tensor.shape[2], tensor.shape[3]
    for name, planes in (("out", out), ("prev", prev)):
        if planes is not None and (planes.dtype != np.uint8 or planes.shape != (3, h, w)):
            raise ValueError(f"to_planes: {name} must be uint8 3x{h}x{w}, got {planes.dtype} {planes.shape}")
    src = np.ascontiguousarray(tensor, dtype=np.float32)
    if prev is None or keep is None:
        _frames.to_planes(src, out, h, w)
    else:
        grid = np.ascontiguousarray(keep, dtype=np.float32)
        _frames.to_planes(src, out, h, w, prev, grid, grid.shape[0], grid.shape[1])
    return out


def motion_weights(grey: Weights, prev_grey: Weights, amount: float, threshold: float) -> tuple[Weights, float]:
    """The previous picture's weight on the motion map's grid, ``amount * max(0, 1 - m / threshold)`` with ``m``
    the absolute difference of two small grey pictures blurred by a 5x5 Gaussian (OpenCV's, reflect-101 border),
    and its largest value: one compiled call where built, five OpenCV/numpy calls otherwise (equal to 1e-6)."""
    h, w = grey.shape
    if _frames is not None and grey.flags.c_contiguous and prev_grey.flags.c_contiguous:
        keep = np.empty((h, w), np.float32)
        top = _frames.motion_weights(grey, prev_grey, keep, h, w, amount, threshold)
        return keep, float(top)
    motion = cv2.GaussianBlur(cv2.absdiff(grey, prev_grey), (5, 5), 0)
    found: Weights = np.multiply(motion, np.float32(-amount / threshold), out=motion)  # in place: motion >= 0,
    np.add(found, np.float32(amount), out=found)  # so only the low side of the clip is needed
    np.maximum(found, np.float32(0.0), out=found)
    return found, float(found.max())


def merge(planes: Planes) -> Pixels:
    """uint8 3xHxW planes as a new HxWx3 picture."""
    return uint8_pixels(cv2.merge([planes[0], planes[1], planes[2]]))
