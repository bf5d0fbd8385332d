"""Mesh warp for curved walls and domes: a grid of control points, smooth in between; pure functions.

The technician says where each point of a regular grid over the picture lands on the wall (``[x, y]``
in 0..1 of the output, rows top to bottom, points left to right, at least 2x2). Between the points
the picture follows a Catmull-Rom spline (it passes through every control point, with continuous
slopes); four-corner keystone corners, when also set, are applied after the mesh. ``warp_maps``
turns all that into ``cv2.remap`` tables once (the spline is inverted numerically, at up to 512
pixels across, then the smooth inverse is interpolated up), converted to fixed-point ``CV_16SC2``
maps; per frame, ``remap`` is one ``cv2.remap``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels

log = logging.getLogger(__name__)

Maps = tuple[np.ndarray, np.ndarray]  # cv2.remap's (map1, map2), CV_16SC2 + CV_16UC1
Grid = npt.NDArray[np.float64]  # rows x cols x 2, (x, y) in 0..1


def identity_grid(rows: int, cols: int) -> Grid:
    """The grid that leaves the picture as it is."""
    ys, xs = np.meshgrid(np.linspace(0.0, 1.0, rows), np.linspace(0.0, 1.0, cols), indexing="ij")
    return np.stack([xs, ys], axis=-1)


def check_grid(points: Sequence[Sequence[Sequence[float]]]) -> Grid:
    """``points`` as a rows x cols x 2 array; ConfigError unless at least 2x2 finite [x, y] points."""
    try:
        grid = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("mesh: expected rows of [x, y] points, every row as long") from None
    if grid.ndim != 3 or grid.shape[0] < 2 or grid.shape[1] < 2 or grid.shape[2] != 2:
        raise ConfigError(f"mesh: expected at least 2 rows of at least 2 [x, y] points, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ConfigError("mesh: every point must be a finite [x, y]")
    return grid


def is_identity(grid: Grid, tolerance: float = 1e-6) -> bool:
    """True when the grid is the regular one, so the mesh changes nothing."""
    return bool(np.allclose(grid, identity_grid(*grid.shape[:2]), atol=tolerance))


def _catmull_rom(values: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    """Interpolate ``values`` (k points along axis 0, any trailing shape) at ``n`` evenly spaced
    positions from the first point to the last, through every point (ends extended linearly)."""
    k = values.shape[0]
    padded = np.concatenate([2 * values[:1] - values[1:2], values, 2 * values[-1:] - values[-2:-1]], axis=0)
    s = np.linspace(0.0, k - 1.0, n)
    i = np.minimum(np.floor(s).astype(int), k - 2)
    t = (s - i).reshape((n,) + (1,) * (values.ndim - 1))
    p0, p1, p2, p3 = padded[i], padded[i + 1], padded[i + 2], padded[i + 3]
    cubic = 2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
    return np.asarray(0.5 * cubic, dtype=np.float64)


def forward_map(grid: Grid, width: int, height: int) -> npt.NDArray[np.float64]:
    """Where each pixel of a ``width`` x ``height`` picture lands, HxWx2 (x, y) in 0..1 of the output."""
    along_rows = _catmull_rom(np.transpose(grid, (1, 0, 2)), width)  # width x rows x 2
    return _catmull_rom(np.transpose(along_rows, (1, 0, 2)), height)  # height x width x 2


def _apply_homography(points: npt.NDArray[np.float64], matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    flat = points.reshape(-1, 2)
    mapped = np.c_[flat, np.ones(len(flat))] @ matrix.T
    return np.asarray(mapped[:, :2] / mapped[:, 2:3], dtype=np.float64).reshape(points.shape)


def warp_maps(
    grid: Grid | None,
    width: int,
    height: int,
    keystone: npt.NDArray[np.float64] | None = None,
    iterations: int = 40,
    max_side: int = 512,
) -> Maps:
    """``cv2.remap`` tables (CV_16SC2) that show a ``width`` x ``height`` picture with each grid point
    moved to its place, then through the 0..1 homography ``keystone``; black where no picture lands."""
    scale = min(1.0, max_side / max(width, height))
    lw, lh = max(2, round(width * scale)), max(2, round(height * scale))
    g = grid if grid is not None else identity_grid(2, 2)
    forward = forward_map(g, lw, lh)  # low-res picture grid -> output, 0..1
    if keystone is not None:
        forward = _apply_homography(forward, keystone)
    ys, xs = np.meshgrid(np.linspace(0.0, 1.0, lh), np.linspace(0.0, 1.0, lw), indexing="ij")
    ident = np.stack([xs, ys], axis=-1)
    shift = (forward - ident).astype(np.float32)  # displacement at each low-res picture point
    # Fixed-point inversion: the picture point u that lands on output x satisfies u = x - shift(u).
    u = ident.astype(np.float32).copy()
    target = ident.astype(np.float32)
    for _ in range(iterations):
        at = cv2.remap(
            shift, u[..., 0] * (lw - 1), u[..., 1] * (lh - 1), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        moved = float(np.abs(target - at - u).max())
        u = target - at
        if moved < 0.01 / max(lw, lh):  # settled to a hundredth of a pixel
            break
    at = cv2.remap(shift, u[..., 0] * (lw - 1), u[..., 1] * (lh - 1), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    residual = np.abs(u + at - target).max(axis=-1) * max(lw, lh)
    slack = 0.5 / max(lw, lh)
    outside = (residual > 0.5) | (u < -slack).any(axis=-1) | (u > 1 + slack).any(axis=-1)
    if residual[~outside].size and residual[~outside].max() > 0.5:
        log.warning("mesh: the warp folds over itself; parts of the picture may show twice")
    # Up to full size, corner-aligned, then to pixel coordinates of the picture.
    fx = np.linspace(0.0, lw - 1.0, width, dtype=np.float32)[None, :].repeat(height, 0)
    fy = np.linspace(0.0, lh - 1.0, height, dtype=np.float32)[:, None].repeat(width, 1)
    u[outside] = -1.0
    full = cv2.remap(u, fx, fy, cv2.INTER_LINEAR)
    mask = cv2.remap(outside.astype(np.float32), fx, fy, cv2.INTER_LINEAR) > 0
    map_x = full[..., 0] * (width - 1)
    map_y = full[..., 1] * (height - 1)
    map_x[mask] = -10.0
    map_y[mask] = -10.0
    map1, map2 = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    return map1, map2


def unit_keystone(corners: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """The homography taking the unit square's corners (TL, TR, BR, BL) to ``corners`` (0..1 coordinates)."""
    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    return np.asarray(cv2.getPerspectiveTransform(src, np.asarray(corners, dtype=np.float32)), dtype=np.float64)


def remap(pixels: Pixels, maps: Maps, out: Pixels | None = None) -> Pixels:
    """``pixels`` through the precomputed ``maps``; black where no picture lands."""
    return uint8_pixels(
        cv2.remap(pixels, maps[0], maps[1], cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    )
