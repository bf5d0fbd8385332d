import cv2
import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sources.pattern import PatternSource
from tests.engine.sources.scripted import ManualClock


def test_same_seed_and_time_give_the_same_picture():
    """render(t) is a pure function of the seed and t."""
    a = PatternSource(160, 90, seed=3).render(12.5)
    b = PatternSource(160, 90, seed=3).render(12.5)
    assert a.shape == (90, 160, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_it_moves_and_seeds_differ():
    """The picture changes over time, and another seed gives another landscape."""
    source = PatternSource(160, 90, seed=0)
    assert not np.array_equal(source.render(0.0), source.render(2.0))
    assert not np.array_equal(source.render(5.0), PatternSource(160, 90, seed=1).render(5.0))


def test_it_has_colour_and_edges_for_a_style_network():
    """The picture is not flat: varied colour and a fair share of edge pixels."""
    for t in (0.0, 40.0, 80.0):
        img = PatternSource(320, 180, seed=0).render(t)
        assert img.reshape(-1, 3).std(axis=0).mean() > 10
        edges = cv2.Canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 30, 90)
        assert (edges > 0).mean() > 0.01


def test_read_is_paced_at_fps():
    """read() gives a new frame once per 1/fps seconds and None in between; the frame is render(seq/fps)."""
    clock = ManualClock()
    with PatternSource(64, 36, fps=10, seed=0, clock=clock) as source:
        first = source.read()
        assert first is not None and first.seq == 0
        assert source.read() is None
        clock.advance(0.05)
        assert source.read() is None
        clock.advance(0.26)
        frame = source.read()
    assert frame is not None and frame.seq == 3
    assert np.array_equal(frame.pixels, PatternSource(64, 36, fps=10, seed=0).render(0.3))


def test_bad_settings_are_config_errors():
    """A tiny size or a non-positive fps is refused at construction."""
    with pytest.raises(ConfigError):
        PatternSource(4, 4)
    with pytest.raises(ConfigError):
        PatternSource(64, 36, fps=0)
