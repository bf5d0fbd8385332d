import numpy as np
import pytest

from engine.frame import Frame
from engine.sinks.capabilities import KeyInput, Overlays
from engine.sinks.headless import HeadlessSink
from engine.sources.base import (
    FrameSource,
    Selectable,
    Steerable,
    find_all,
    find_first,
    walk,
)
from engine.sources.crossfade import SwitchSource
from engine.sources.pattern import PatternSource
from engine.sources.transform import TransformedSource


class Doubler(FrameSource):
    """A wrapper written from scratch: naming its child in children() is all the loop needs to see through it."""

    def __init__(self, inner: FrameSource) -> None:
        self.inner = inner

    def read(self) -> Frame | None:
        frame = self.inner.read()
        return None if frame is None else frame.with_pixels(np.concatenate([frame.pixels, frame.pixels], axis=1))

    def children(self) -> tuple[FrameSource]:
        return (self.inner,)


class Steered(PatternSource):
    """A pattern that takes steering, like a generator."""

    latent_dim = 4

    def steer(self, latent: np.ndarray, seconds: float = 4.0) -> None:
        self.latent = latent

    def release(self, seconds: float = 8.0) -> None:
        self.latent = None


def test_capabilities_are_found_through_any_wrapper_by_protocol():
    """find_all/find_first see through a new wrapper and the built-in ones by children() and protocols."""
    deep = Steered(width=16, height=16)
    switch = SwitchSource({"live": TransformedSource(Doubler(deep), 16, 16), "other": PatternSource(16, 16)})
    assert find_all(switch, Steerable) == [deep]
    assert find_first(Doubler(switch), Selectable) is switch
    assert find_first(PatternSource(16, 16), Selectable) is None
    assert len(list(walk(switch))) == 5


def test_a_wrapper_says_when_its_children_have_a_frame():
    """A wrapper's next_frame_in is the soonest of its children's, and None when one cannot say."""

    class Unknown(PatternSource):
        def next_frame_in(self):
            return None

    paced = PatternSource(16, 16, fps=10, clock=lambda: 5.0)
    paced.open()
    assert paced.next_frame_in() == 0.0  # nothing read yet: due now
    paced.read()
    assert paced.next_frame_in() == pytest.approx(0.1)
    assert Doubler(paced).next_frame_in() == pytest.approx(0.1)
    assert Doubler(Unknown(16, 16)).next_frame_in() is None


def test_sink_capabilities_are_protocols():
    """A sink with set_overlay or key_handlers has the capability; the headless sink has neither."""

    class Keys(HeadlessSink):
        def __init__(self):
            super().__init__()
            self.key_handlers = []

    assert isinstance(Keys(), KeyInput) and not isinstance(HeadlessSink(), KeyInput)
    assert not isinstance(HeadlessSink(), Overlays)
