import threading

import cv2
import numpy as np

from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.frame import Frame
from engine.loop import FrameLoop
from engine.pipeline import Stylizer, StylizeResult
from engine.scheduler import InOrderResults, Mailbox
from engine.sinks.headless import HeadlessSink
from engine.sources.pattern import PatternSource
from engine.sources.slideshow import SlideshowSource
from engine.style import StyleMix


def test_mailbox_keeps_only_the_newest_item():
    """A second put replaces an untaken item and says so; take hands out the newest and empties the slot."""
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is None
    assert box.put(2) == 1
    assert box.take(timeout=0.0) == 2
    assert box.take(timeout=0.0) is None
    assert box.wait_empty(timeout=0.0) is True


def test_closed_mailbox_releases_a_waiting_taker():
    """close() wakes a thread blocked in take() without a timeout, so workers stop without polling."""
    box: Mailbox[int] = Mailbox()
    got = []
    taker = threading.Thread(target=lambda: got.append(box.take()))
    taker.start()
    box.close()
    taker.join(timeout=5.0)
    assert not taker.is_alive() and got == [None]


class CountingPattern(PatternSource):
    """The built-in pattern, counting how often it is asked for a frame."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.reads = 0

    def read(self):
        self.reads += 1
        return super().read()


def test_feeder_asks_a_paced_source_only_when_a_frame_is_due(tiny_model):
    """With a slow source the feeder sleeps until the source's next frame instead of polling read()."""
    source = CountingPattern(width=64, height=36, fps=8)
    source.open()
    loop = FrameLoop(
        source,
        Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36)),
        [HeadlessSink()],
        StyleMix.single(3, 0),
        (64, 36),
        display_fps=60,
        workers=2,
    )
    stats = loop.run(max_frames=4)
    assert stats["frames"] == 4 and stats["styled_frames"] == 4
    assert source.reads <= 3 * stats["frames"]  # polling every few ms asked hundreds of times


def test_a_slideshow_is_stylised_not_shown_raw(tiny_model, tmp_path, caplog):
    """A still source gives no new frame for seconds: that is not a hung backend, so every frame shown is
    stylised and nothing warns about showing the picture unstyled (issue 13)."""
    for i, bgr in enumerate(((0, 0, 200), (0, 200, 0))):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((36, 64, 3), bgr, np.uint8))
    source = SlideshowSource(tmp_path, width=64, height=36, seconds=30, fade=1)
    source.open()
    loop = FrameLoop(
        source,
        Stylizer([lambda: OnnxRuntimeBackend(tiny_model)], (64, 36)),
        [HeadlessSink()],
        StyleMix.single(3, 0),
        (64, 36),
        display_fps=60,
        frame_budget_s=0.1,
    )
    stats = loop.run(duration=0.6)
    assert stats["frames"] >= 1 and stats["styled_frames"] == stats["frames"]
    assert "unstyled" not in caplog.text


def _result(seq):
    return StylizeResult(Frame(np.zeros((2, 2, 3), np.uint8), 0.0, seq), True, 1.0)


def test_results_finishing_out_of_order_are_all_shown_in_order():
    """A frame that finishes before an older one still in work waits for it; then both come out, oldest first."""
    drops = []
    results = InOrderResults(capacity=2, hold_s=60.0, on_drop=lambda: drops.append(1))
    for seq in (1, 2, 3):
        results.started(seq)
    results.finished(2, _result(2))
    assert results.take(timeout=0.0) is None  # frame 1 is still in work
    results.finished(1, _result(1))
    assert [results.take(timeout=0.0).frame.seq for _ in range(2)] == [1, 2]
    results.abandoned(3)
    assert results.take(timeout=0.0) is None and drops == []


def test_a_hung_older_frame_holds_newer_ones_back_only_briefly():
    """After hold_s a newer picture is handed over without the hung older one, which is dropped if it comes."""
    now = [0.0]
    drops = []
    results = InOrderResults(capacity=2, hold_s=0.5, on_drop=lambda: drops.append(1), clock=lambda: now[0])
    results.started(1)
    results.started(2)
    results.finished(2, _result(2))
    assert results.take(timeout=0.0) is None
    now[0] = 0.6
    assert results.take(timeout=0.0).frame.seq == 2
    results.finished(1, _result(1))
    assert results.take(timeout=0.0) is None and drops == [1]
