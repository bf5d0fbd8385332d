import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sinks.keystone import keystone_matrix, warp
from engine.sinks.mesh import check_grid, forward_map, identity_grid, is_identity, remap, unit_keystone, warp_maps

W, H = 320, 180


def dots(points: list[tuple[float, float]]) -> np.ndarray:
    """A black picture with a white 3x3 dot at each (x, y) in 0..1."""
    img = np.zeros((H, W, 3), np.uint8)
    for x, y in points:
        cx, cy = round(x * (W - 1)), round(y * (H - 1))
        img[max(0, cy - 1) : cy + 2, max(0, cx - 1) : cx + 2] = 255
    return img


def centre_near(img: np.ndarray, x: float, y: float, radius: float = 10) -> tuple[float, float]:
    ys, xs = np.nonzero(img[:, :, 0] > 64)
    near = np.hypot(xs - x, ys - y) < radius
    assert near.any(), f"nothing lit near ({x:.1f}, {y:.1f})"
    weights = img[ys[near], xs[near], 0].astype(np.float64)
    return float(np.average(xs[near], weights=weights)), float(np.average(ys[near], weights=weights))


def test_the_regular_grid_leaves_the_picture_alone():
    """A 5x5 identity mesh remaps every pixel onto itself."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert is_identity(identity_grid(5, 5))
    assert np.array_equal(remap(img, warp_maps(identity_grid(5, 5), W, H)), img)


def test_the_spline_passes_through_every_control_point():
    """The dense forward map equals each control point at its grid position."""
    grid = identity_grid(5, 5)
    grid[2, 2] = (0.55, 0.42)
    grid[1, 3] = (0.8, 0.3)
    dense = forward_map(grid, 401, 201)
    for r in range(5):
        for c in range(5):
            assert np.allclose(dense[r * 50, c * 100], grid[r, c], atol=1e-9)


def test_control_points_land_where_configured():
    """Dots at the 5x5 grid positions of the picture show up where the moved control points say."""
    grid = identity_grid(5, 5)
    grid[2, 2] = (0.56, 0.44)
    grid[1, 3] = (0.79, 0.29)
    grid[3, 1] = (0.22, 0.78)
    points = [(c / 4, r / 4) for r in range(1, 4) for c in range(1, 4)]
    out = remap(dots(points), warp_maps(grid, W, H))
    for r in range(1, 4):
        for c in range(1, 4):
            tx, ty = grid[r, c] * (W - 1, H - 1)
            fx, fy = centre_near(out, tx, ty)
            assert abs(fx - tx) < 1.0 and abs(fy - ty) < 1.0, (r, c, (fx, fy), (tx, ty))


def test_keystone_corners_compose_with_the_mesh_like_the_perspective_warp():
    """A regular mesh plus keystone corners warps like the four-corner keystone alone."""
    corners = [(0.05, 0.02), (0.97, 0.0), (1.0, 1.0), (0.0, 0.95)]
    img = dots([(x, y) for x in (0.25, 0.5, 0.75) for y in (0.25, 0.5, 0.75)])
    meshed = remap(img, warp_maps(identity_grid(3, 3), W, H, unit_keystone(corners)))
    keystoned = warp(img, keystone_matrix(corners, W, H))
    for x in (0.25, 0.5, 0.75):
        for y in (0.25, 0.5, 0.75):
            kx, ky = centre_near(keystoned, x * W, y * H, radius=30)
            mx, my = centre_near(meshed, kx, ky, radius=4)
            assert abs(mx - kx) < 1.0 and abs(my - ky) < 1.0


def test_nothing_outside_the_warped_picture_is_shown():
    """A mesh pulled in from the edges leaves black around the picture."""
    grid = identity_grid(3, 3) * 0.8 + 0.1
    out = remap(np.full((H, W, 3), 255, np.uint8), warp_maps(grid, W, H))
    assert not out[: int(0.08 * H)].any() and not out[:, : int(0.08 * W)].any()
    assert out[H // 2, W // 2].all()


@pytest.mark.parametrize("bad", [[[[0, 0]]], [[[0, 0], [1, 0]], [[0, 1]]], [[[0, 0], [1, float("nan")]]] * 2])
def test_a_malformed_grid_is_refused(bad):
    """Fewer than 2x2 points, ragged rows or NaN are a ConfigError."""
    with pytest.raises(ConfigError):
        check_grid(bad)
