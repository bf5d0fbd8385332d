"""FanoutSink: outputs at their own size and rate, latest frame wins, one shared JPEG, viewers, waits, stats."""

import asyncio
import threading

import cv2
import numpy as np
import pytest

from engine.errors import ConfigError, SinkError
from engine.frame import Frame
from engine.sinks.base import FrameSink
from engine.sinks.capabilities import Overlays
from engine.sinks.fanout import FanoutSink, OutputSpec, ViewerLimit


class ManualClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def picture(value: int, w: int = 64, h: int = 36) -> np.ndarray:
    """A picture with structure: a horizontal ramp plus ``value``, so a flip or a wrong resize shows."""
    ramp = np.linspace(0, 150, w, dtype=np.float32)[None, :, None]
    return np.clip(ramp + value + np.zeros((h, w, 3), np.float32), 0, 255).astype(np.uint8)


@pytest.fixture()
def sink():
    s = FanoutSink([OutputSpec("main"), OutputSpec("half", 32, 18)], max_viewers=3)
    s.open()
    yield s
    s.close()


def test_it_is_a_frame_sink_with_overlays():
    """The loop treats it like any sink, and the join hint finds it like the window."""
    s = FanoutSink([OutputSpec("main")])
    assert isinstance(s, FrameSink) and isinstance(s, Overlays)


def test_each_output_publishes_at_its_own_size_with_its_own_sequence(sink):
    """A shown frame reaches every watched output, resized once to that output's size; seq counts per output."""
    main, half = sink.output("main"), sink.output("half")
    main.add_viewer("test")
    half.add_viewer("test")
    sink.show(Frame(picture(10)))
    a, b = main.wait_newer(0, 5), half.wait_newer(0, 5)
    assert a is not None and b is not None
    assert (a.seq, a.size, b.seq, b.size) == (1, (64, 36), 1, (32, 18))
    np.testing.assert_array_equal(a.pixels, picture(10))
    expected = cv2.resize(picture(10), (32, 18), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(b.pixels, expected)
    sink.show(Frame(picture(20)))
    assert main.wait_newer(1, 5).seq == 2


def test_an_output_nobody_watches_does_no_work(sink):
    """Without viewers the frames are not even taken: nothing published, nothing counted as dropped."""
    for i in range(5):
        sink.show(Frame(picture(i)))
    stats = sink.output("main").stats()
    assert (stats["frames"], stats["dropped"], stats["viewers"]) == (0, 0, 0)
    assert sink.output("main").latest() is None


def test_the_newest_frame_wins_and_the_replaced_ones_count_as_dropped():
    """Frames offered faster than the worker takes them replace each other in the one-slot mailbox."""
    s = FanoutSink([OutputSpec("main")])
    out = s.output("main")
    out.add_viewer("test")
    for i in range(4):  # before open(): no worker yet, so the mailbox fills and is replaced
        s.show(Frame(picture(i * 10)))
    s.open()
    try:
        frame = out.wait_newer(0, 5)
        assert frame is not None and frame.seq == 1
        np.testing.assert_array_equal(frame.pixels, picture(30))
        assert out.stats()["dropped"] == 3
    finally:
        s.close()


def test_the_rate_cap_skips_frames_on_a_manual_clock():
    """max_fps 30 with frames offered at 60 per second takes every other one; the rest count as skipped."""
    clock = ManualClock()
    s = FanoutSink([OutputSpec("capped", max_fps=30.0)], clock=clock)
    out = s.output("capped")
    out.add_viewer("test")
    taken = 0
    for i in range(60):
        before = out.stats()["skipped"]
        out.offer(Frame(picture(i)), clock())
        taken += out.stats()["skipped"] == before
        clock.t += 1 / 60
    assert taken == 30
    assert out.stats()["skipped"] == 30


def test_every_frame_is_taken_when_the_cap_equals_a_jittery_frame_rate():
    """A 30 fps loop with a little jitter against max_fps 30 loses no frame (the cap allows a quarter period)."""
    clock = ManualClock()
    s = FanoutSink([OutputSpec("capped", max_fps=30.0)], clock=clock)
    out = s.output("capped")
    out.add_viewer("test")
    rng = np.random.default_rng(1)
    for i in range(60):
        out.offer(Frame(picture(i)), clock())
        clock.t += 1 / 30 + float(rng.uniform(-0.003, 0.003))
    assert out.stats()["skipped"] == 0


def test_one_jpeg_per_frame_is_shared_by_every_viewer(sink):
    """Two JPEG viewers and a direct jpeg() call: the frame is encoded once; all get the same bytes."""
    out = sink.output("main")
    out.add_viewer("a", jpeg=True)
    out.add_viewer("b", jpeg=True)
    sink.show(Frame(picture(40)))
    first = out.wait_newer_jpeg(0, 5)
    second = out.wait_newer_jpeg(0, 5)
    assert first is not None and second is not None
    assert first[1] is second[1] and out.jpeg(first[0].seq) is first[1]
    assert out.stats()["encodes"] == 1
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(first[1], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert float(np.mean(np.abs(decoded.astype(int) - picture(40).astype(int)))) < 3.0


def test_jpeg_is_encoded_lazily_when_no_jpeg_viewer_asked(sink):
    """A raw viewer costs no encode; the first jpeg(seq) encodes, and a frame no longer held gives None."""
    out = sink.output("main")
    out.add_viewer("raw")
    for i in range(3):
        sink.show(Frame(picture(i)))
        out.wait_newer(i, 5)
    assert out.stats()["encodes"] == 0
    assert out.jpeg(3) is not None and out.stats()["encodes"] == 1
    assert out.jpeg(1) is None  # only the newest two frames are held


def test_the_viewer_cap_is_shared_by_the_outputs_and_freed_on_close(sink):
    """max_viewers counts every output's viewers; the next one gets ViewerLimit with words for the client."""
    handles = [sink.output("main").add_viewer("a"), sink.output("half").add_viewer("b"), sink.default.add_viewer("c")]
    with pytest.raises(ViewerLimit, match="full"):
        sink.output("half").add_viewer("d")
    handles[0].close()
    sink.output("half").add_viewer("d")
    assert sink.viewer_count == 3


def test_closing_a_viewer_calls_its_callback_once_from_any_thread(sink):
    """close() unregisters and calls on_close(reason) exactly once, however often and from wherever it is called."""
    reasons: list[str] = []
    handle = sink.output("main").add_viewer("mjpeg", "VLC/3.0", on_close=reasons.append)
    assert [(v.kind, v.peer, v.output) for v in sink.viewers()] == [("mjpeg", "VLC/3.0", "main")]
    threads = [threading.Thread(target=handle.close, args=("closed by the operator",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handle.close("again")
    assert reasons == ["closed by the operator"] and handle.closed and sink.viewers() == []
    assert not sink.close_viewer(handle.id)


def test_close_viewer_finds_the_viewer_on_its_output(sink):
    """The operator closes a viewer by id without knowing its output."""
    reasons: list[str] = []
    handle = sink.output("half").add_viewer("jpeg-ws", on_close=reasons.append)
    assert sink.close_viewer(handle.id, "closed by the operator")
    assert reasons == ["closed by the operator"]


def test_sent_counts_bytes_and_the_frames_a_viewer_missed(sink):
    """handle.sent() with a gap in seq counts the gap as that viewer's drops; skipped() counts too."""
    out = sink.output("main")
    handle = out.add_viewer("test")
    handle.sent(1, 1000)
    handle.sent(4, 1000)  # 2 and 3 never reached it
    handle.skipped()
    info = handle.info()
    assert (info.frames, info.bytes, info.dropped) == (2, 2000, 3)
    stats = out.stats()
    assert (stats["bytes_total"], stats["viewer_dropped"]) == (2000, 3)
    assert stats["bytes_per_s"] == pytest.approx(2000 / 5.0)


def test_waits_time_out_with_none_and_stop_wakes_them(sink):
    """wait_newer returns None after its timeout; closing the sink wakes a blocked waiter with None."""
    out = sink.output("main")
    out.add_viewer("test")
    assert out.wait_newer(0, 0.05) is None
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(out.wait_newer_jpeg(0, 30)))
    waiter.start()
    sink.close()
    waiter.join(10)
    assert not waiter.is_alive() and got == [None]


def test_async_waiters_are_woken_by_the_worker(sink):
    """next_frame and next_jpeg await the next published frame without blocking the event loop."""
    out = sink.output("half")
    out.add_viewer("test")

    async def main():
        raw = asyncio.ensure_future(out.next_frame(0, timeout=10))
        jpeg = asyncio.ensure_future(out.next_jpeg(0, timeout=10))
        await asyncio.sleep(0)  # both are waiting now
        sink.show(Frame(picture(50)))
        frame = await raw
        pair = await jpeg
        assert frame is not None and frame.size == (32, 18)
        assert pair is not None and pair[0].seq == frame.seq and pair[1][:2] == b"\xff\xd8"
        assert await out.next_frame(frame.seq, timeout=0.05) is None  # nothing newer: the timeout

    asyncio.run(main())


def test_overlays_are_painted_only_on_outputs_that_have_them():
    """The join hint reaches an output with overlays on, not the others; during a blackout it is not drawn."""
    s = FanoutSink([OutputSpec("plain"), OutputSpec("hinted", overlays=True)])
    s.open()
    try:
        plain, hinted = s.output("plain"), s.output("hinted")
        plain.add_viewer("test")
        hinted.add_viewer("test")
        s.set_overlay("join", ["scan me"], "bottom-right", image=np.full((8, 8, 3), 255, np.uint8))
        s.show(Frame(picture(0)))
        p, h = plain.wait_newer(0, 5), hinted.wait_newer(0, 5)
        np.testing.assert_array_equal(p.pixels, picture(0))
        assert not np.array_equal(h.pixels, picture(0))
        s.overlays_visible = False
        s.show(Frame(picture(0)))
        np.testing.assert_array_equal(hinted.wait_newer(1, 5).pixels, picture(0))
    finally:
        s.close()


@pytest.mark.parametrize(
    "spec",
    [
        dict(name="bad name!"),
        dict(name="a", width=10, height=0),
        dict(name="a", max_fps=-1.0),
        dict(name="a", jpeg_quality=0),
    ],
)
def test_a_bad_output_is_a_config_error(spec):
    """Output names, sizes, rates and qualities are checked when the output is made."""
    with pytest.raises(ConfigError):
        OutputSpec(**spec)


def test_unknown_or_duplicate_outputs_are_refused():
    """Two outputs with one name are a ConfigError; asking for an output that is not there names the choices."""
    with pytest.raises(ConfigError):
        FanoutSink([OutputSpec("a"), OutputSpec("a")])
    with pytest.raises(ConfigError):
        FanoutSink([])
    with pytest.raises(SinkError, match="main"):
        FanoutSink([OutputSpec("main")]).output("other")


def test_a_loop_a_little_faster_than_the_cap_is_held_under_it():
    """A 40 fps loop against max_fps 30 publishes at most 30 a second, on average."""
    clock = ManualClock()
    s = FanoutSink([OutputSpec("capped", max_fps=30.0)], clock=clock)
    out = s.output("capped")
    out.add_viewer("test")
    for i in range(400):  # 10 seconds
        out.offer(Frame(picture(i % 200)), clock())
        clock.t += 1 / 40
    assert 240 <= 400 - out.stats()["skipped"] <= 300
