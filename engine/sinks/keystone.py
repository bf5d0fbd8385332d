"""Four-corner keystone correction: pure functions, no window.

A projector that is not square-on to the wall draws a trapezoid. The operator moves the four
corners of the picture (top-left, top-right, bottom-right, bottom-left, in output coordinates
0..1) until it looks square again; ``keystone_matrix`` turns those corners into the homography once,
and ``warp`` applies it to each frame. Pixel centres are the reference: the picture's corner pixel
lands exactly on the corner requested, so identity corners give the identity matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels

Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

IDENTITY: Corners = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def check_corners(corners: Sequence[Sequence[float]]) -> Corners:
    """``corners`` as four (x, y) float pairs; ConfigError unless they form a convex quadrilateral."""
    try:
        points = np.asarray(corners, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"keystone: expected four (x, y) corners, got {corners!r}") from None
    if points.shape != (4, 2) or not np.all(np.isfinite(points)):
        raise ConfigError(f"keystone: expected four finite (x, y) corners, got {corners!r}")
    edges = np.roll(points, -1, axis=0) - points
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not (np.all(turns > 0) or np.all(turns < 0)):
        raise ConfigError(
            "keystone: corners must go top-left, top-right, bottom-right, bottom-left around a convex shape, "
            f"got {corners!r}"
        )
    tl, tr, br, bl = ((float(x), float(y)) for x, y in points)
    return tl, tr, br, bl


def is_identity(corners: Sequence[Sequence[float]], tolerance: float = 1e-6) -> bool:
    """True when the corners are the picture's own, so no warp is needed."""
    return bool(np.allclose(np.asarray(corners, dtype=np.float64), IDENTITY, atol=tolerance))


def keystone_matrix(corners: Sequence[Sequence[float]], width: int, height: int) -> npt.NDArray[np.float64]:
    """The 3x3 homography taking a width x height picture's corners to ``corners`` (fractions of the output)."""
    points = np.asarray(check_corners(corners), dtype=np.float32)
    scale = np.array([width - 1, height - 1], dtype=np.float32)
    src = np.asarray(IDENTITY, dtype=np.float32) * scale
    return np.asarray(cv2.getPerspectiveTransform(src, points * scale), dtype=np.float64)


def warp(pixels: Pixels, matrix: npt.NDArray[np.float64], out: Pixels | None = None) -> Pixels:
    """``pixels`` seen through ``matrix``, same size, black outside; written into ``out`` when given."""
    h, w = pixels.shape[:2]
    return uint8_pixels(
        cv2.warpPerspective(
            pixels, matrix, (w, h), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    )
