import threading
import time

import numpy as np
import pytest

from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.events import (
    Blackout,
    SetStrength,
    SetStyleWeight,
    SetWarmth,
    Snapshot,
    Stop,
    TargetChanged,
)
from engine.loop import FrameLoop
from engine.pipeline import Stylizer
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.style import StyleMix


class SwitchableBackend(OnnxRuntimeBackend):
    """A real ONNX Runtime backend that can be told to fail or to hang, as a crashed or stuck GPU would."""

    fail = False
    hang = threading.Event()

    def _infer(self, image, style):
        if SwitchableBackend.fail:
            raise RuntimeError("simulated backend crash")
        if SwitchableBackend.hang.is_set():
            time.sleep(2.0)
        return super()._infer(image, style)


class RecordingSink(HeadlessSink):
    def __init__(self):
        super().__init__()
        self.shown = []

    def show(self, frame):
        super().show(frame)
        self.shown.append(frame.pixels.copy())


def _loop(tiny_model, sink, backend=OnnxRuntimeBackend, **kw):
    stylizer = Stylizer([lambda: backend(tiny_model)], (64, 36))
    source = PatternSource(width=64, height=36, fps=60)
    source.open()
    return FrameLoop(source, stylizer, [sink], StyleMix.single(3, 0), (64, 36), display_fps=60, **kw)


def test_loop_shows_stylised_frames_and_counts_them(tiny_model):
    """The loop shows stylised frames from the source on the sink and records stats."""
    sink = RecordingSink()
    stats = _loop(tiny_model, sink).run(max_frames=10)
    assert stats["frames"] == 10 and len(sink.shown) == 10
    assert stats["styled_frames"] >= 9 and stats["errors"] == 0
    assert stats["model_ms"]["p50"] > 0 and stats["latency_ms"]["p50"] > 0
    assert stats["mix"]["ink"] == 1.0


def test_backend_that_raises_does_not_stop_the_show(tiny_model):
    """While the backend raises, the loop keeps showing (unstyled) frames and counts errors; then recovers."""
    sink = RecordingSink()
    loop = _loop(tiny_model, sink, backend=SwitchableBackend)
    loop.stylizer.max_consecutive_errors = 10**9  # keep the same backend: we test recovery, not fallback
    SwitchableBackend.fail = True
    try:
        stats = loop.run(max_frames=8)
    finally:
        SwitchableBackend.fail = False
    assert stats["frames"] == 8 and stats["errors"] >= 8 and stats["styled_frames"] == 0
    loop2 = _loop(tiny_model, RecordingSink(), backend=SwitchableBackend)
    assert loop2.run(max_frames=5)["styled_frames"] >= 4


def test_hung_backend_falls_back_to_passthrough_within_budget(tiny_model, caplog):
    """If no stylised frame arrives within the frame budget, the picture is shown unstyled (never frozen),
    and the operator is told once, not on every frame."""
    sink = RecordingSink()
    loop = _loop(tiny_model, sink, backend=SwitchableBackend, frame_budget_s=0.2)
    before = loop.run(max_frames=2)  # it worked, then it hangs
    assert before["styled_frames"] == 2
    SwitchableBackend.hang.set()
    try:
        t0 = time.monotonic()
        stats = loop.run(duration=1.0)
    finally:
        SwitchableBackend.hang.clear()
    assert time.monotonic() - t0 < 3.0
    assert stats["frames"] - before["frames"] >= 2 and stats["styled_frames"] == before["styled_frames"]
    assert caplog.text.count("no stylised frame") == 1


def test_posted_target_is_reached_in_the_configured_time(tiny_model):
    """A TargetChanged event glides the mix to the target over the transition time, not at once."""
    sink = RecordingSink()
    loop = _loop(tiny_model, sink, transition_s=0.6)
    loop.post(TargetChanged(StyleMix.single(3, 2)))
    loop.run(max_frames=1)  # the event is applied at the glide's start, t0; the mix is judged at set times
    glide = loop.state.glide
    early = loop.current_mix(glide.t0 + 0.25).named(["ink", "ember", "moss"])
    assert 0.05 < early["moss"] < 0.95 and early["ink"] == pytest.approx(1.0 - early["moss"])
    assert glide.duration == pytest.approx(0.6) and loop.current_mix(glide.t0).weights[2] < 0.05
    loop = _loop(tiny_model, sink, transition_s=0.6)
    loop.post(TargetChanged(StyleMix.single(3, 2)))
    loop.run(duration=0.8)
    assert loop.stats.snapshot()["mix"]["moss"] == pytest.approx(1.0)
    first, last = sink.shown[0].astype(int), sink.shown[-1].astype(int)
    assert np.abs(first - last).mean() > 1.0  # the picture changed as the style glided


def test_blackout_stop_and_snapshot_events(tiny_model, tmp_path):
    """Blackout shows black, Snapshot saves the screen as a PNG, Stop ends the run, all via post()."""
    sink = RecordingSink()
    loop = _loop(tiny_model, sink)
    loop.run(max_frames=2)
    loop.post(Snapshot(tmp_path / "snap.png"))
    loop.post(Blackout(True))
    loop.run(max_frames=4)
    assert (tmp_path / "snap.png").stat().st_size > 0
    assert sink.shown[-1].max() == 0
    loop.post(Stop())
    assert loop.run()["frames"] >= 4  # returns at once


def test_show_still_replaces_the_picture_over_blackout_until_taken_back(tiny_model):
    """ShowStill(pixels) puts that picture on every sink and on screen, even in a blackout; ShowStill(None)
    gives the show back (here: black, as the blackout is still on)."""
    from engine.events import ShowStill

    sink = RecordingSink()
    loop = _loop(tiny_model, sink)
    pattern = np.zeros((36, 64, 3), np.uint8)
    pattern[::6, :] = 255
    loop.post(Blackout(True))
    loop.post(ShowStill(pattern))
    loop.run(max_frames=3)
    assert np.array_equal(sink.shown[-1], pattern) and np.array_equal(loop.on_screen, pattern)
    loop.post(ShowStill(None))
    loop.run(max_frames=5)
    assert sink.shown[-1].max() == 0


def test_post_is_bounded(tiny_model):
    """post() never blocks and never grows without bound: a full queue refuses the event."""
    loop = _loop(tiny_model, RecordingSink(), max_events=4)
    accepted = [loop.post(Blackout(False)) for _ in range(10)]
    assert accepted == [True] * 4 + [False] * 6


class StillSource(PatternSource):
    """A source that yields one picture and then nothing new (a slideshow slide, a paused camera)."""

    def read(self):
        if getattr(self, "_given", False):
            return None
        self._given = True
        return super().read()


def test_still_picture_keeps_gliding(tiny_model):
    """With a still source, a style glide still updates the picture until the target is reached."""
    sink = RecordingSink()
    source = StillSource(width=64, height=36, fps=60)
    source.open()
    loop = FrameLoop(
        source,
        Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36)),
        [sink],
        StyleMix.single(3, 0),
        (64, 36),
        display_fps=60,
        transition_s=0.4,
    )
    loop.run(max_frames=1)
    loop.post(TargetChanged(StyleMix.single(3, 1)))
    loop.run(duration=0.7)
    assert len(sink.shown) >= 4
    assert np.abs(sink.shown[-1].astype(int) - sink.shown[0].astype(int)).mean() > 1.0
    assert loop.stats.snapshot()["mix"]["ember"] == pytest.approx(1.0)


def test_blackout_with_slide_shows_the_slide(tiny_model, tmp_path):
    """Outside opening hours a configured slide is shown instead of the picture."""
    import cv2

    slide = tmp_path / "closed.png"
    cv2.imwrite(str(slide), np.full((10, 20, 3), (0, 0, 255), np.uint8))  # BGR red
    sink = RecordingSink()
    loop = _loop(tiny_model, sink)
    loop.post(Blackout(True, slide))
    loop.on_tick.append(lambda lp: lp.on_screen is not None and lp.on_screen[..., 0].min() == 255 and lp.post(Stop()))
    loop.run(duration=5.0)  # the slide is read off the render thread; black until it is ready
    assert sink.shown[-1].shape == (36, 64, 3) and (sink.shown[-1][..., 0] == 255).all()


def test_partial_target_events_build_on_the_loops_own_target(tiny_model):
    """Weight, strength and warmth events posted together all land on the target the loop has when it applies
    them, so a poster never has to guess the target; loop.state publishes the result."""
    loop = _loop(tiny_model, RecordingSink(), transition_s=0.0)
    before = loop.state
    for event in (SetStyleWeight(1, 1.0), SetStyleWeight(2, 1.0), SetStrength(0.5), SetWarmth(0.25)):
        loop.post(event)
    loop.tick()
    target = loop.state.target
    assert target.weights == pytest.approx((0.25, 0.25, 0.5))  # (1, 1, 0) -> (.5, .5, 0) -> (.5, .5, 1) normalised
    assert target.strength == 0.5 and target.warmth == 0.25
    assert before.target == StyleMix.single(3, 0)  # a snapshot once read never changes under the reader


def test_snapshot_is_written_off_the_render_thread(tiny_model, tmp_path, caplog):
    """The PNG of a Snapshot event is written by the file worker thread, not by the thread running the loop."""
    import logging

    caplog.set_level(logging.INFO, logger="engine.loop")
    loop = _loop(tiny_model, RecordingSink())
    loop.run(max_frames=1)
    loop.post(Snapshot(tmp_path / "deep" / "snap.png"))
    loop.run(max_frames=2)
    assert (tmp_path / "deep" / "snap.png").stat().st_size > 0
    saved = [r for r in caplog.records if "snapshot saved" in r.getMessage()]
    assert len(saved) == 1 and saved[0].threadName == "laterna-files"


def test_set_warp_reaches_the_projector_window_it_names(tiny_model):
    """SetWarp(1, ...) gives the second projector window (real SDL dummy windows) its mesh; a bad index is ignored."""
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from engine.events import SetWarp
    from engine.sinks.window import ProjectorSink

    first, second = ProjectorSink(64, 36, vsync=False), ProjectorSink(64, 36, vsync=False)
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36))
    source = PatternSource(width=64, height=36, fps=60)
    source.open()
    loop = FrameLoop(source, stylizer, [HeadlessSink(), first, second], StyleMix.single(3, 0), (64, 36), display_fps=60)
    mesh = (((0.0, 0.0), (1.0, 0.0)), ((0.0, 1.0), (0.8, 0.8)))
    first.open()
    try:
        loop.post(SetWarp(1, None, mesh))
        loop.post(SetWarp(5, None, mesh))
        loop.run(max_frames=2)
    finally:
        first.close()
        stylizer.close()
        source.close()
    assert second.mesh is not None and np.allclose(second.mesh[1, 1], (0.8, 0.8)) and first.mesh is None


class FlakySink(RecordingSink):
    """Fails its first ``failures`` frames with a SinkError, then shows frames again."""

    name = "flaky"

    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    def show(self, frame):
        from engine.errors import SinkError

        if self.failures > 0:
            self.failures -= 1
            raise SinkError("the output went away")
        super().show(frame)


def test_a_failing_sink_is_counted_said_once_and_its_recovery_said(tiny_model, caplog):
    """A sink that fails frame after frame: every failure is counted, the cause is logged at WARNING once (not
    once per frame), the other sinks keep showing, and its recovery is logged at INFO."""
    flaky, steady = FlakySink(failures=6), RecordingSink()
    loop = _loop(tiny_model, flaky)
    loop.sinks.append(steady)
    with caplog.at_level("INFO", logger="engine.loop"):
        stats = loop.run(max_frames=10)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "flaky" in r.getMessage()]
    assert stats["errors"] == 6 and len(steady.shown) == 10 and len(flaky.shown) == 4
    assert warnings == ["sink flaky failed: the output went away"]
    assert any("sink flaky shows frames again" in r.getMessage() for r in caplog.records if r.levelname == "INFO")
