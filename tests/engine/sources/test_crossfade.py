import logging

import numpy as np
import pytest

from engine.errors import ConfigError, SourceError
from engine.frame import Frame
from engine.sources.crossfade import Crossfade, SwitchSource
from engine.sources.fallback import FallbackSource
from tests.engine.sources.scripted import ManualClock, ScriptedSource, solid

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def colour(frame: Frame) -> tuple[int, int, int]:
    """The colour of a one-colour frame (asserting that it is one colour)."""
    px = frame.pixels.reshape(-1, 3)
    assert (px == px[0]).all()
    return tuple(int(v) for v in px[0])


def test_crossfade_goes_from_the_held_picture_to_the_new_one_smoothly():
    """Right after start() the held picture shows; halfway it is an even mix; after `seconds` only the new."""
    clock = ManualClock()
    fade = Crossfade(2.0, clock)
    assert colour(fade.apply(Frame(solid(RED)))) == RED  # no fade yet: frames pass unchanged
    fade.start()
    assert colour(fade.apply(Frame(solid(BLUE)))) == RED
    clock.advance(1.0)
    r, _, b = colour(fade.apply(Frame(solid(BLUE))))
    assert abs(r - 128) <= 1 and abs(b - 128) <= 1
    reds = []
    for _ in range(4):
        clock.advance(0.25)
        reds.append(colour(fade.apply(Frame(solid(BLUE))))[0])
    assert reds == sorted(reds, reverse=True) and reds[-1] == 0 and not fade.active


def test_a_fade_advances_while_the_new_source_has_nothing_new():
    """A still new source (None on later reads) still fades in: its last frame is blended again."""
    clock = ManualClock()
    fade = Crossfade(1.0, clock)
    fade.apply(Frame(solid(RED)))
    fade.start()
    first = fade.apply(Frame(solid(BLUE)))
    assert fade.apply(None) is None  # asked again at once: no new picture (at most fps re-blends a second)
    clock.advance(0.5)
    middle = fade.apply(None)
    clock.advance(0.6)
    last = fade.apply(None)
    assert colour(first) == RED and 100 < colour(middle)[2] < 155 and colour(last) == BLUE
    assert fade.apply(None) is None  # fade over: nothing new is nothing new again


def test_zero_seconds_or_nothing_held_is_a_cut():
    """crossfade 0 s, or a switch before anything was shown, shows the new picture at once."""
    clock = ManualClock()
    fade = Crossfade(0.0, clock)
    fade.apply(Frame(solid(RED)))
    fade.start()
    assert colour(fade.apply(Frame(solid(BLUE)))) == BLUE
    fresh = Crossfade(2.0, clock)
    fresh.start()
    assert colour(fresh.apply(Frame(solid(BLUE)))) == BLUE
    with pytest.raises(ConfigError):
        Crossfade(-1.0)
    with pytest.raises(ConfigError):
        Crossfade(1.0, fps=0)


def test_pictures_of_different_sizes_blend():
    """A held picture of another size is resized to the new frame's size before blending."""
    clock = ManualClock()
    fade = Crossfade(1.0, clock)
    fade.apply(Frame(solid(RED, 32, 18)))
    fade.start()
    clock.advance(0.5)
    out = fade.apply(Frame(solid(BLUE, 16, 12)))
    assert out.pixels.shape == (12, 16, 3) and 100 < colour(out)[0] < 155


def switch(clock: ManualClock, seconds: float = 1.0):
    live, dream = ScriptedSource("camera 0", RED), ScriptedSource("generator", BLUE)
    return live, dream, SwitchSource({"live": live, "generator": dream}, crossfade_s=seconds, clock=clock)


def test_switch_shows_the_selected_source_and_crossfades_on_select():
    """select() takes effect on the next read and dissolves from the last picture into the new source."""
    clock = ManualClock()
    live, dream, source = switch(clock)
    with source:
        assert colour(source.read()) == RED and source.name == "camera 0"
        assert source.select("generator")
        assert colour(source.read()) == RED  # the dissolve starts from what was on screen
        clock.advance(0.5)
        assert 100 < colour(source.read())[2] < 155
        clock.advance(0.6)
        frame = source.read()
        assert colour(frame) == BLUE and frame.source == "generator" and source.name == "generator"
        reads = live.reads
        source.read()
        assert live.reads == reads  # the unselected source is not read
        source.select("live", seconds=0.0)  # this one switch is a cut
        assert colour(source.read()) == RED


def test_switch_refuses_unknown_names_and_sources_that_did_not_open(caplog):
    """An unknown name, or an extra source that failed to open, is refused with a warning; the show stays."""
    clock = ManualClock()
    live, dream, source = switch(clock)
    dream.open_broken = "generator.onnx is corrupt"
    with caplog.at_level(logging.WARNING), source:
        assert not source.select("projector")
        assert not source.select("generator")
        assert colour(source.read()) == RED
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "projector" in said and "corrupt" in said
    with pytest.raises(ConfigError):
        SwitchSource({"live": live}, "generator")


def test_a_broken_selected_source_hands_the_show_back_to_the_first(caplog):
    """When the selected extra source fails, the same read returns the first source's picture (fading)."""
    clock = ManualClock()
    live, dream, source = switch(clock, seconds=0.0)
    with caplog.at_level(logging.WARNING), source:
        source.select("generator")
        assert colour(source.read()) == BLUE
        dream.broken = "inference failed"
        assert colour(source.read()) == RED and source.selected == "live"
    assert any("inference failed" in r.getMessage() for r in caplog.records)
    live.broken = "camera 0 lost"
    with pytest.raises(SourceError):  # the show's own source breaking is for its fallback to handle
        source.read()


def test_camera_loss_dissolves_into_the_fallback_and_back():
    """FallbackSource with crossfade_s: losing the camera and getting it back both dissolve, never cut."""
    clock = ManualClock()
    camera, dream = ScriptedSource("camera 0", RED), ScriptedSource("generator", BLUE)
    source = FallbackSource(camera, dream, retry_every=0.5, clock=clock, crossfade_s=1.0)
    with source:
        assert colour(source.read()) == RED
        camera.broken = "camera 0 lost: unplugged"
        assert colour(source.read()) == RED and source.active == "fallback"  # the last camera picture, held
        clock.advance(0.5)
        r, _, b = colour(source.read())
        assert 100 < r < 155 and 100 < b < 155
        clock.advance(0.6)
        assert colour(source.read()) == BLUE
        camera.broken = None
        clock.advance(0.5)
        assert colour(source.read()) == BLUE and source.active == "primary"  # the dream, held, fades out
        clock.advance(0.5)
        assert 100 < colour(source.read())[0] < 155
        clock.advance(0.6)
        assert colour(source.read()) == RED


def test_fallback_without_crossfade_still_cuts():
    """crossfade_s=0 (the default for FallbackSource) switches within the failing read, as before."""
    clock = ManualClock()
    camera, pattern = ScriptedSource("camera 0", RED), ScriptedSource("pattern", BLUE)
    with FallbackSource(camera, pattern, clock=clock) as source:
        source.read()
        camera.broken = "lost"
        assert colour(source.read()) == BLUE


def test_blend_is_exact_for_uint8():
    """The dissolve never overflows or leaves uint8: white into black stays within 0..255 and mid-grey."""
    clock = ManualClock()
    fade = Crossfade(1.0, clock)
    fade.apply(Frame(np.full((4, 4, 3), 255, np.uint8)))
    fade.start()
    clock.advance(0.5)
    out = fade.apply(Frame(np.zeros((4, 4, 3), np.uint8)))
    assert out.pixels.dtype == np.uint8 and np.all(np.abs(out.pixels.astype(int) - 128) <= 1)
