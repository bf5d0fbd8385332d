import numpy as np
import pytest

from engine.frame import Frame, uint8_pixels


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
