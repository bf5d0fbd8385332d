"""Geometry applied to a source's pictures: selfie mirror, crop or letterbox to the output, zoom.

The functions are pure (numpy/OpenCV in, new array out) and do one crop and at most one resize
each, whatever the combination. ``TransformedSource`` wraps any source and applies them to every
frame it hands out.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from engine.errors import ConfigError
from engine.frame import Frame
from engine.sources.base import FrameSource

log = logging.getLogger(__name__)

MODES = ("fill", "fit")


def crop_box(
    src_width: int, src_height: int, width: int, height: int, mode: str = "fill", zoom: float = 1.0
) -> tuple[int, int, int, int]:
    """The centred (x, y, w, h) region of a src_width x src_height picture to show at width x height.

    "fill" trims the picture to the output aspect; "fit" keeps all of it. ``zoom`` > 1 then keeps
    only the central 1/zoom of that region.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if zoom < 1.0:
        raise ValueError(f"zoom must be >= 1.0, got {zoom}")
    if width <= 0 or height <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    w, h = float(src_width), float(src_height)
    if mode == "fill":
        target = width / height
        if w / h > target:
            w = h * target
        else:
            h = w / target
    w, h = w / zoom, h / zoom
    cw = min(src_width, max(1, round(w)))
    ch = min(src_height, max(1, round(h)))
    return (src_width - cw) // 2, (src_height - ch) // 2, cw, ch


def fit_size(src_width: int, src_height: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The centred (x, y, w, h) rectangle of a width x height output that a picture fits in whole."""
    scale = min(width / src_width, height / src_height)
    w = min(width, max(1, round(src_width * scale)))
    h = min(height, max(1, round(src_height * scale)))
    return (width - w) // 2, (height - h) // 2, w, h


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """``pixels`` at width x height (area filter when shrinking, bilinear when growing); no copy if equal."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    shrinking = width * height < w * h
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def fit_to_aspect(pixels: np.ndarray, width: int, height: int, mode: str = "fill", zoom: float = 1.0) -> np.ndarray:
    """``pixels`` (HxWx3) as exactly width x height: "fill" crops to the aspect, "fit" letterboxes in black."""
    src_h, src_w = pixels.shape[:2]
    x, y, w, h = crop_box(src_w, src_h, width, height, mode, zoom)
    region = pixels[y : y + h, x : x + w]
    if mode == "fill":
        return resize(region, width, height)
    ox, oy, ow, oh = fit_size(w, h, width, height)
    if (ow, oh) == (width, height):
        return resize(region, width, height)
    out = np.zeros((height, width) + pixels.shape[2:], dtype=pixels.dtype)
    out[oy : oy + oh, ox : ox + ow] = resize(region, ow, oh)
    return out


def zoom(pixels: np.ndarray, factor: float) -> np.ndarray:
    """The central 1/factor of ``pixels`` enlarged back to the same size (factor >= 1)."""
    h, w = pixels.shape[:2]
    return fit_to_aspect(pixels, w, h, "fill", factor)


def mirror(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` flipped left to right, as a selfie camera shows a visitor."""
    return cv2.flip(pixels, 1)


class TransformedSource(FrameSource):
    """Wraps a source so every frame comes out at width x height, optionally mirrored and zoomed."""

    def __init__(
        self,
        inner: FrameSource,
        width: int,
        height: int,
        mirror: bool = False,
        zoom: float = 1.0,
        mode: str = "fill",
    ) -> None:
        if width <= 0 or height <= 0:
            raise ConfigError(f"transform: width and height must be positive, got {width}x{height}")
        if zoom < 1.0:
            raise ConfigError(f"transform: zoom must be >= 1.0, got {zoom}")
        if mode not in MODES:
            raise ConfigError(f"transform: mode must be one of {MODES}, got {mode!r}")
        self.inner = inner
        self.width = width
        self.height = height
        self.mirrored = mirror
        self.zoom_factor = zoom
        self.mode = mode
        self.name = inner.name

    def open(self) -> None:
        self.inner.open()

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None:
            return None
        pixels = fit_to_aspect(frame.pixels, self.width, self.height, self.mode, self.zoom_factor)
        if self.mirrored:
            pixels = mirror(pixels)
        return frame.with_pixels(pixels)

    def children(self) -> tuple[FrameSource]:
        return (self.inner,)

    def close(self) -> None:
        self.inner.close()
