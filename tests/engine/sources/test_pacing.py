import pytest

from engine.errors import ConfigError
from engine.sources.pacing import FramePacer, smoothstep


def test_pacer_hands_out_each_frame_once_and_says_when_the_next_is_due():
    """Frame indices follow the clock at fps; a frame already handed out is not due again."""
    now = [100.0]
    pacer = FramePacer(4.0, lambda: now[0])
    assert pacer.next_in() == 0.0 and pacer.due() == 0 and pacer.due() is None
    assert pacer.next_in() == pytest.approx(0.25)
    now[0] = 100.6
    assert pacer.due() == 2 and pacer.next_in() == pytest.approx(0.15)
    pacer.reset()
    assert pacer.due() == 0


def test_smoothstep_is_clamped_and_eases():
    """smoothstep maps 0 -> 0, 0.5 -> 0.5, 1 -> 1 and clamps outside [0, 1]."""
    assert [smoothstep(x) for x in (-1.0, 0.0, 0.5, 1.0, 2.0)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ConfigError):
        FramePacer(0.0, lambda: 0.0)
