import cv2
import numpy as np
import pytest

from engine.frame import Frame, shrink, uint8_pixels


def test_uint8_pixels_is_the_same_array():
    """uint8_pixels hands back the very array it was given (no copy) when it is uint8."""
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    assert uint8_pixels(pixels) is pixels


def test_uint8_pixels_rejects_other_dtypes():
    """uint8_pixels raises ValueError naming the dtype for a float picture instead of passing it on."""
    with pytest.raises(ValueError, match="float32"):
        uint8_pixels(np.zeros((4, 6, 3), dtype=np.float32))


def test_frame_rejects_pixels_that_are_not_rgb_uint8():
    """A Frame refuses pixels that are not uint8 HxWx3 and keeps capture data when given new pixels."""
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        Frame(np.zeros((4, 6), dtype=np.uint8))
    frame = Frame(np.zeros((4, 6, 3), dtype=np.uint8), t_capture=1.5, seq=7, source="cam")
    again = frame.with_pixels(np.ones((2, 3, 3), dtype=np.uint8))
    assert (again.t_capture, again.seq, again.source, again.size) == (1.5, 7, "cam", (3, 2))


def test_shrink_counts_every_pixel_like_an_area_average():
    """1920x1080 -> 640x360 by 2x2 averages and a bilinear rest is within ~1.5 grey levels of INTER_AREA on a
    photograph-like picture with sensor noise (a plain bilinear shrink, which skips pixels, is several times off)."""
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (27, 48, 3), dtype=np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    area = cv2.resize(noisy, (640, 360), interpolation=cv2.INTER_AREA).astype(float)
    small = shrink(noisy, (640, 360))
    assert small.shape == (360, 640, 3) and small.dtype == np.uint8
    skipping = cv2.resize(noisy, (640, 360), interpolation=cv2.INTER_LINEAR).astype(float)
    assert np.abs(small - area).mean() < 1.5 < np.abs(skipping - area).mean()


@pytest.mark.parametrize(
    ("source", "size"),
    [((1280, 720), (640, 360)), ((641, 361), (320, 180)), ((100, 60), (90, 50)), ((64, 48), (128, 96))],
)
def test_shrink_gives_the_size_asked_for(source, size):
    """Any source size (odd, just larger, or smaller: then INTER_AREA enlarges) comes back at exactly ``size``."""
    px = np.full((source[1], source[0], 3), 77, np.uint8)
    out = shrink(px, size)
    assert out.shape == (size[1], size[0], 3) and int(out.min()) == int(out.max()) == 77
