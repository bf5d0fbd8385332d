import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.sinks.keystone import IDENTITY, is_identity, keystone_matrix, warp

W, H = 64, 48
CORNERS = ((0.1, 0.2), (0.95, 0.05), (0.8, 0.9), (0.05, 1.0))


def test_identity_corners_give_the_identity_matrix():
    """The picture's own corners need no warp: identity matrix, and is_identity says so."""
    assert np.allclose(keystone_matrix(IDENTITY, W, H), np.eye(3), atol=1e-9)
    assert is_identity(IDENTITY) and not is_identity(CORNERS)


def test_the_matrix_takes_picture_corners_to_the_requested_corners():
    """Each corner pixel of the picture is mapped onto its requested corner of the output."""
    matrix = keystone_matrix(CORNERS, W, H)
    src = np.array([[[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]]], dtype=np.float64)
    mapped = cv2.perspectiveTransform(src, matrix)[0]
    assert np.allclose(mapped, np.array(CORNERS) * [W - 1, H - 1], atol=1e-3)


@pytest.mark.parametrize("corner", range(4))
def test_a_white_corner_pixel_lands_at_the_requested_corner(corner):
    """A lone white pixel at a corner of the picture shows up at that keystone corner after warp()."""
    image = np.zeros((H, W, 3), dtype=np.uint8)
    src = [(0, 0), (W - 1, 0), (W - 1, H - 1), (0, H - 1)][corner]
    image[src[1], src[0]] = 255
    out = warp(image, keystone_matrix(CORNERS, W, H))
    y, x = np.unravel_index(np.argmax(out[:, :, 0]), out.shape[:2])
    want_x, want_y = CORNERS[corner][0] * (W - 1), CORNERS[corner][1] * (H - 1)
    assert out[y, x, 0] > 0
    assert abs(x - want_x) <= 1 and abs(y - want_y) <= 1


def test_warp_writes_into_a_given_buffer_and_leaves_black_outside():
    """warp(out=...) fills the buffer it is given; outside the keystoned quad stays black."""
    white = np.full((H, W, 3), 255, dtype=np.uint8)
    out = np.full((H, W, 3), 7, dtype=np.uint8)
    result = warp(white, keystone_matrix(CORNERS, W, H), out=out)
    assert result is out or np.shares_memory(result, out)
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[H // 2, W // 2]) == (255, 255, 255)


@pytest.mark.parametrize(
    "corners",
    [
        [(0, 0), (1, 0), (1, 1)],  # three corners
        [(0, 0), (1, 1), (1, 0), (0, 1)],  # crossed: a bow tie
        [(0, 0), (1, 0), (float("nan"), 1), (0, 1)],
        "not corners",
    ],
)
def test_impossible_corners_are_config_errors(corners):
    """Missing, crossed or non-finite corners are refused with a ConfigError."""
    with pytest.raises(ConfigError):
        keystone_matrix(corners, W, H)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.2, 0.2), min_size=8, max_size=8))
def test_any_moderate_keystone_maps_its_corners(offsets):
    """For any corners moved up to 0.2 inwards or outwards, the picture's corners land on them."""
    corners = [(x + dx, y + dy) for (x, y), dx, dy in zip(IDENTITY, offsets[0::2], offsets[1::2])]
    matrix = keystone_matrix(corners, W, H)
    src = np.array([[[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]]], dtype=np.float64)
    assert np.allclose(cv2.perspectiveTransform(src, matrix)[0], np.array(corners) * [W - 1, H - 1], atol=1e-2)
