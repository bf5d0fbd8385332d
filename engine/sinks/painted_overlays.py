"""Named overlays (text lines and an optional picture such as a QR code) painted onto RGB arrays with OpenCV.

The projector window draws its overlays with pygame; a stream has no surface, so ``PaintedOverlays``
draws the same named overlays (same positions, same meaning of ``size_px``) straight into the pixels.
Each overlay is rendered once into a small box per picture size and then pasted, so painting a frame
costs one copy and a few small blends. OpenCV's built-in font has ASCII only: other characters are
drawn as '?'. ``set`` may be called from any thread; ``paint`` from one thread per output.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from engine.frame import Pixels

ANCHORS = {
    "top-left": (0, 0),
    "top": (1, 0),
    "top-right": (2, 0),
    "left": (0, 1),
    "center": (1, 1),
    "right": (2, 1),
    "bottom-left": (0, 2),
    "bottom": (1, 2),
    "bottom-right": (2, 2),
}
POSITIONS = tuple(ANCHORS)


def check_overlay(position: str, image: np.ndarray | None, size_px: int) -> None:
    """Raise ``ValueError`` for an overlay no sink can draw (the window's and the streams' rule)."""
    if size_px < 0:
        raise ValueError(f"overlay size_px must be >= 0, got {size_px}")
    if position not in POSITIONS:
        raise ValueError(f"overlay position must be one of {POSITIONS}, got {position!r}")
    if image is not None and (image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3):
        raise ValueError(f"overlay image must be uint8 HxWx3, got {image.dtype} {image.shape}")


_BOX_ALPHA = 150 / 255  # the window's box: black at 150/255
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity: a new set() is a new overlay
class _Overlay:
    lines: tuple[str, ...]
    position: str
    image: np.ndarray | None
    size_px: int


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def render_box(lines: Sequence[str], image: np.ndarray | None, text_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The overlay as (RGB box, alpha 0..1 per pixel): the picture on top, then the lines, on a dark box."""
    scale = cv2.getFontScaleFromHeight(_FONT, max(6, text_px), 1)
    thickness = max(1, text_px // 14)
    texts = [_ascii(line) for line in lines if line]
    sizes = [cv2.getTextSize(t, _FONT, scale, thickness) for t in texts]
    pad, gap = max(3, text_px // 3), max(1, text_px // 6)
    heights = [(image.shape[0] if image is not None else 0)] + [s[0][1] + s[1] for s in sizes]
    widths = [(image.shape[1] if image is not None else 0)] + [s[0][0] for s in sizes]
    rows = [h for h in heights if h]
    if not rows:
        return np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32)
    w = max(widths) + 2 * pad
    h = sum(rows) + gap * (len(rows) - 1) + 2 * pad
    box = np.zeros((h, w, 3), np.uint8)
    alpha = np.full((h, w), _BOX_ALPHA, np.float32)
    y = pad
    if image is not None:
        ih, iw = image.shape[:2]
        box[y : y + ih, pad : pad + iw] = image
        alpha[y : y + ih, pad : pad + iw] = 1.0
        y += ih + gap
    ink = np.zeros((h, w), np.uint8)  # the text, drawn opaque on the translucent box
    for text, ((_, th), base) in zip(texts, sizes):
        cv2.putText(ink, text, (pad, y + th), _FONT, scale, 255, thickness, cv2.LINE_AA)
        y += th + base + gap
    coverage = ink.astype(np.float32) / 255.0
    box = np.maximum(box, ink[:, :, None])
    alpha = np.maximum(alpha, coverage)
    return box, alpha


class PaintedOverlays:
    """The named overlays of one sink, painted onto pictures of any size (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overlays: dict[str, _Overlay] = {}
        self._boxes: dict[tuple[str, _Overlay, int], tuple[np.ndarray, np.ndarray]] = {}
        self.visible = True  # False during a blackout: black means black

    def set(
        self,
        name: str,
        lines: Sequence[str] | None,
        position: str = "bottom",
        image: np.ndarray | None = None,
        size_px: int = 0,
    ) -> None:
        """Show ``lines`` (and ``image`` above them) at ``position`` under ``name``; None removes it."""
        check_overlay(position, image, size_px)
        with self._lock:
            if lines is None:
                self._overlays.pop(name, None)
            else:
                self._overlays[name] = _Overlay(tuple(str(line) for line in lines), position, image, size_px)
            live = set(self._overlays.items())
            self._boxes = {k: v for k, v in self._boxes.items() if (k[0], k[1]) in live}

    @property
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._overlays)

    def paint(self, pixels: Pixels) -> Pixels:
        """A copy of ``pixels`` with the overlays on it; ``pixels`` itself when there is nothing to draw."""
        with self._lock:
            overlays = list(self._overlays.items()) if self.visible else []
        if not overlays:
            return pixels
        out = pixels.copy()
        height, width = out.shape[:2]
        margin = max(4, height // 60)
        for name, overlay in overlays:
            text_px = overlay.size_px or max(12, height // 28)
            key = (name, overlay, height)
            with self._lock:
                cached = self._boxes.get(key)
            if cached is None:
                cached = render_box(overlay.lines, overlay.image, text_px)
                with self._lock:
                    self._boxes[key] = cached
            box, alpha = cached
            bh, bw = min(box.shape[0], height), min(box.shape[1], width)
            if not bh or not bw:
                continue
            col, row = ANCHORS[overlay.position]
            x = (margin, (width - bw) // 2, width - bw - margin)[col]
            y = (margin, (height - bh) // 2, height - bh - margin)[row]
            x, y = max(0, x), max(0, y)
            region = out[y : y + bh, x : x + bw].astype(np.float32)
            a = alpha[:bh, :bw, None]
            out[y : y + bh, x : x + bw] = (box[:bh, :bw] * a + region * (1.0 - a)).astype(np.uint8)
        return out
