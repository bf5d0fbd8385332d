import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.sources.transform import TransformedSource, crop_box, fit_to_aspect, mirror, zoom
from tests.engine.sources.scripted import ScriptedSource


def columns(width: int, height: int) -> np.ndarray:
    """A picture whose red channel is the column number, so crops can be read back."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.arange(width, dtype=np.uint8)[None, :]
    pixels[:, :, 1] = 100
    return pixels


def test_fill_crops_the_sides_of_a_wide_picture():
    """Mode "fill" keeps the centre of a wider picture and trims its left and right."""
    out = fit_to_aspect(columns(200, 100), 100, 100, "fill")
    assert out.shape == (100, 100, 3)
    assert out[50, 0, 0] == 50 and out[50, 99, 0] == 149


def test_fit_letterboxes_with_black_bars():
    """Mode "fit" keeps the whole picture and pads the rest of the output with black."""
    out = fit_to_aspect(columns(200, 100), 100, 100, "fit")
    assert out.shape == (100, 100, 3)
    assert not out[:25].any() and not out[75:].any()
    assert (out[30:70, :, 1] == 100).all()


def test_zoom_enlarges_the_central_part():
    """zoom(2) shows the central half of the picture at the original size."""
    out = zoom(columns(200, 100), 2.0)
    assert out.shape == (100, 200, 3)
    assert abs(int(out[50, 0, 0]) - 50) <= 1 and abs(int(out[50, 199, 0]) - 149) <= 1


def test_mirror_flips_left_and_right():
    """mirror() is the selfie flip: the first column becomes the last."""
    out = mirror(columns(10, 4))
    assert list(out[0, :, 0]) == list(range(9, -1, -1))


def test_bad_arguments_are_refused():
    """A zoom below 1 or an unknown mode is a ValueError, not a silent odd picture."""
    with pytest.raises(ValueError):
        crop_box(100, 100, 10, 10, "fill", 0.5)
    with pytest.raises(ValueError):
        crop_box(100, 100, 10, 10, "stretch")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(1, 200),
    st.integers(1, 200),
    st.sampled_from(["fill", "fit"]),
    st.floats(1.0, 4.0),
)
def test_output_is_always_exactly_the_requested_size(sw, sh, w, h, mode, factor):
    """Whatever the input size, mode and zoom, the result is exactly height x width x 3."""
    out = fit_to_aspect(np.zeros((sh, sw, 3), dtype=np.uint8), w, h, mode, factor)
    assert out.shape == (h, w, 3)


def test_transformed_source_resizes_mirrors_and_keeps_the_capture():
    """TransformedSource hands out the inner frames at its size, mirrored, with seq and source kept."""
    inner = ScriptedSource("cam", (10, 20, 30), width=64, height=48)
    inner.pixels = np.ascontiguousarray(np.broadcast_to(columns(64, 48), (48, 64, 3)))
    with TransformedSource(inner, 32, 32, mirror=True) as source:
        frame = source.read()
    assert frame is not None and frame.size == (32, 32) and frame.source == "cam" and frame.seq == 1
    assert frame.pixels[0, 0, 0] > frame.pixels[0, 31, 0]  # mirrored: high columns now on the left
    assert inner.opens == 1 and inner.closes == 1


def test_transformed_source_passes_none_through():
    """When the inner source has nothing new, neither has the wrapper."""
    inner = ScriptedSource("cam", (1, 2, 3))
    inner.idle = True
    assert TransformedSource(inner, 8, 8).read() is None


def test_transformed_source_rejects_bad_settings():
    """Impossible sizes, zooms and modes are ConfigErrors at construction."""
    inner = ScriptedSource("cam", (1, 2, 3))
    bad = ({"width": 0, "height": 8}, {"width": 8, "height": 8, "zoom": 0.5}, {"width": 8, "height": 8, "mode": "x"})
    for kwargs in bad:
        with pytest.raises(ConfigError):
            TransformedSource(inner, **kwargs)
