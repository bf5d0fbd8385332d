import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sources.black import BlackSource
from tests.engine.sources.scripted import ManualClock


def test_hands_out_black_frames_at_its_pace():
    """A black width x height frame every 1/fps s on the clock, None in between, and no burst after a stall."""
    clock = ManualClock()
    source = BlackSource(32, 24, fps=10, clock=clock)
    with source:
        first = source.read()
        assert first is not None and first.size == (32, 24) and not first.pixels.any()
        assert source.read() is None
        clock.advance(0.1)
        assert source.read().seq == 2
        clock.advance(5.0)  # a stall: one frame now, then the normal pace again
        assert source.read() is not None and source.read() is None
        clock.advance(0.1)
        assert source.read() is not None


def test_frames_do_not_share_pixels():
    """Painting on one black frame does not paint the next one."""
    clock = ManualClock()
    source = BlackSource(8, 8, fps=10, clock=clock)
    frame = source.read()
    frame.pixels[:] = 255
    clock.advance(0.1)
    assert np.count_nonzero(source.read().pixels) == 0


def test_bad_sizes_are_config_errors():
    """A zero size or a zero frame rate is refused with a ConfigError."""
    with pytest.raises(ConfigError):
        BlackSource(0, 10)
    with pytest.raises(ConfigError):
        BlackSource(10, 10, fps=0)
