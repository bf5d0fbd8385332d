import shutil
import sysconfig
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import convert
from engine.convert import merge, small_grey, to_pixels, to_planes, to_tensor
from engine.sources.pattern import PatternSource

needs_fused = pytest.mark.skipif(not convert.FUSED, reason="engine._frames is not built (no C compiler here)")


@pytest.fixture()
def opencv_only(monkeypatch):
    """The conversions as they run where engine._frames could not be built."""
    monkeypatch.setattr(convert, "_frames", None)
    monkeypatch.setattr(convert, "FUSED", False)


def _picture(w=160, h=96, t=12.0):
    return PatternSource(w, h, seed=3).render(t)


def test_the_compiled_loop_is_built_where_a_compiler_is():
    """`pip install` builds engine._frames wherever a C compiler and Python's headers are (the build is optional,
    so a failed build would otherwise go unnoticed and the show would quietly run the slower OpenCV path)."""
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (shutil.which("cc") or shutil.which("gcc")) or not headers.is_file():
        pytest.skip("no C compiler or no Python.h here: engine._frames cannot be built, OpenCV runs instead")
    assert convert.FUSED, "engine._frames did not build: run `pip install -e .` and read its compiler errors"


@pytest.mark.parametrize("path", ["fused", "opencv"])
def test_to_tensor_is_the_picture_over_255_in_planes(path, request):
    """Both ways, the model's input is exactly pixels / 255, colour planes in order, written into the given buffer."""
    if path == "opencv":
        request.getfixturevalue("opencv_only")
    elif not convert.FUSED:
        pytest.skip("engine._frames is not built")
    px = _picture()
    buf = np.empty((1, 3, 96, 160), np.float32)
    assert to_tensor(px, buf) is buf
    expected = px.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
    assert np.abs(buf - expected).max() < 1e-6


@pytest.mark.parametrize("path", ["fused", "opencv"])
def test_to_tensor_also_makes_the_smoothings_small_grey_picture(path, request):
    """Asked for it, to_tensor writes the input's luma shrunk 8x, as small_grey makes it (within two grey levels:
    the compiled pass averages in float, OpenCV rounds after each halving)."""
    if path == "opencv":
        request.getfixturevalue("opencv_only")
    elif not convert.FUSED:
        pytest.skip("engine._frames is not built")
    px = _picture(640, 360)
    grey = np.full((45, 80), -1.0, np.float32)
    to_tensor(px, None, grey, 8)
    assert np.abs(grey - small_grey(px, 8)).max() <= 2.0


@needs_fused
def test_to_planes_rounds_and_clamps_like_opencv():
    """The compiled conversion gives what cv2.convertScaleAbs gives, within one level, and clamps values the model
    should not produce (below 0, above 1) to 0 and 255."""
    rng = np.random.default_rng(0)
    t = rng.uniform(-0.2, 1.2, (1, 3, 40, 56)).astype(np.float32)
    planes = to_planes(t, np.empty((3, 40, 56), np.uint8))
    expected = np.clip(np.rint(t[0] * 255.0), 0, 255)
    assert np.abs(planes.astype(int) - expected).max() <= 1
    assert planes[t[0] < 0].max() == 0 and planes[t[0] > 1].min() == 255
    assert np.array_equal(merge(planes), np.ascontiguousarray(planes.transpose(1, 2, 0)))


@needs_fused
def test_to_planes_blends_with_the_previous_picture_by_the_enlarged_weights():
    """With a previous picture and a small weight grid, each pixel is new * (1 - k) + previous * k with k the grid
    enlarged as cv2.resize (bilinear) enlarges it, within one level."""
    rng = np.random.default_rng(1)
    t = rng.random((1, 3, 72, 128), dtype=np.float32)
    prev = rng.integers(0, 256, (3, 72, 128), dtype=np.uint8)
    keep = rng.uniform(0.0, 0.6, (9, 16)).astype(np.float32)
    out = to_planes(t, np.empty((3, 72, 128), np.uint8), prev, keep)
    k = cv2.resize(keep, (128, 72), interpolation=cv2.INTER_LINEAR)
    expected = np.clip(np.rint(t[0] * 255.0 * (1 - k) + prev * k), 0, 255)
    assert np.abs(out.astype(int) - expected).max() <= 1


@needs_fused
def test_the_compiled_loop_refuses_buffers_of_the_wrong_size():
    """A buffer smaller than the size given, or one it may not write, is a clear error, not a crash."""
    from engine import _frames

    t = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match="out"):
        _frames.to_planes(t, np.empty((3, 8, 7), np.uint8), 8, 8)
    read_only = np.empty((3, 8, 8), np.uint8)
    read_only.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _frames.to_planes(t, read_only, 8, 8)
    with pytest.raises(ValueError, match="keep"):
        _frames.to_planes(
            t, np.empty((3, 8, 8), np.uint8), 8, 8, np.zeros((3, 8, 8), np.uint8), np.zeros(3, np.float32), 2, 2
        )
    with pytest.raises(ValueError, match="block"):
        _frames.to_tensor(
            np.zeros((4, 4, 3), np.uint8), np.empty((3, 4, 4), np.float32), 4, 4, np.empty(1, np.float32), 8
        )


def test_to_pixels_round_trips_a_picture(opencv_only):
    """to_pixels(to_tensor(px)) is px (the OpenCV path; the compiled one is checked against it above)."""
    px = _picture()
    assert np.array_equal(to_pixels(to_tensor(px)), px)


@pytest.mark.parametrize("size", [(45, 80), (3, 5), (1, 1)])
def test_motion_weights_are_the_same_both_ways(size, monkeypatch):
    """The smoothing's weights from two small grey pictures (blurred difference, ramp, floor at 0) and their largest
    value are the same in the compiled call and in OpenCV, up to float rounding, at any grid size."""
    rng = np.random.default_rng(7)
    grey = (rng.random(size) * 255).astype(np.float32)
    prev = grey + rng.normal(0, 5, size).astype(np.float32)
    ways = []
    for built in (True, False):
        if not built:
            monkeypatch.setattr(convert, "_frames", None)
        elif not convert.FUSED:
            continue
        ways.append(convert.motion_weights(grey, prev, 0.5, 12.0))
    for keep, top in ways:
        assert keep.shape == size and keep.min() >= 0.0 and keep.max() <= 0.5 and top == pytest.approx(keep.max())
    if len(ways) == 2:
        assert np.abs(ways[0][0] - ways[1][0]).max() < 1e-5
