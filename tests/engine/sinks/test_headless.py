import numpy as np
import pytest

from engine.errors import ConfigError
from engine.frame import Frame
from engine.sinks.headless import HeadlessSink


def frame(value: int) -> Frame:
    return Frame(np.full((4, 6, 3), value, dtype=np.uint8), seq=value)


def test_keeps_the_last_frame_and_counts():
    """show() keeps the newest frame and counts every one."""
    with HeadlessSink() as sink:
        assert sink.last is None and sink.count == 0
        for v in range(3):
            sink.show(frame(v))
        assert sink.last.seq == 2 and sink.count == 3
        assert sink.poll()


def test_max_frames_ends_the_show():
    """With max_frames=2, poll() asks to stop after the second frame."""
    sink = HeadlessSink(max_frames=2)
    sink.show(frame(1))
    assert sink.poll()
    sink.show(frame(2))
    assert not sink.poll()
    sink.close()
    sink.close()


def test_negative_max_frames_is_a_config_error():
    """max_frames below zero makes no sense and is refused."""
    with pytest.raises(ConfigError):
        HeadlessSink(max_frames=-1)
