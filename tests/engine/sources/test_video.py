import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import SourceError
from engine.sources.video import VideoSource
from tests.engine.sources.scripted import ManualClock

FPS = 10
FRAMES = 20  # two seconds


def level(index: int) -> int:
    """The red level written into frame ``index`` of the test video."""
    return 10 + 12 * index


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 2-second 10 fps clip; frame i is one flat colour, RGB (10 + 12 i, 60, 200)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (64, 48))
    assert writer.isOpened()
    for i in range(FRAMES):
        rgb = np.full((48, 64, 3), (level(i), 60, 200), dtype=np.uint8)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def assert_frame(frame, index: int) -> None:
    assert frame is not None, f"expected frame {index}, got None"
    r, g, b = frame.pixels[24, 32].astype(int)
    assert abs(r - level(index)) <= 6 and abs(g - 60) <= 6 and abs(b - 200) <= 6, (index, (r, g, b))


def test_missing_file_names_the_file(tmp_path):
    """Opening a file that is not there raises SourceError with its path."""
    with pytest.raises(SourceError, match="nothere.mp4"):
        VideoSource(tmp_path / "nothere.mp4").open()


def test_undecodable_file_names_the_file(tmp_path):
    """A file that is not a video raises SourceError with its path."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(SourceError, match="notes.mp4"):
        VideoSource(bad).open()


def test_first_frame_is_rgb_and_then_none_until_due(clip):
    """The first read gives frame 0 in RGB; reading again before 1/fps has passed gives None."""
    clock = ManualClock()
    with VideoSource(clip, clock=clock) as source:
        assert source.fps == FPS
        assert_frame(source.read(), 0)
        assert source.read() is None
        clock.advance(0.11)
        frame = source.read()
    assert_frame(frame, 1)
    assert frame.seq == 1


def test_late_reads_skip_to_the_frame_due_now(clip):
    """A reader that comes back late gets the frame due now, not the ones it missed."""
    clock = ManualClock()
    with VideoSource(clip, clock=clock) as source:
        source.read()
        clock.advance(0.55)
        assert_frame(source.read(), 5)


def test_it_loops_and_seq_keeps_counting(clip):
    """After the last frame the video starts again; Frame.seq carries on counting."""
    clock = ManualClock()
    with VideoSource(clip, clock=clock) as source:
        source.read()
        for t in (0.95, 1.85, 2.35):
            clock.advance(t - (clock.now - 100.0))
            frame = source.read()
    assert frame is not None and frame.seq == 23
    assert_frame(frame, 3)


def test_fps_override_sets_the_pace(clip):
    """With fps=20 the same clip plays twice as fast."""
    clock = ManualClock()
    with VideoSource(clip, fps=20, clock=clock) as source:
        source.read()
        clock.advance(0.575)
        assert_frame(source.read(), 11)


def test_without_loop_it_stops_at_the_end(clip):
    """loop=False: after the last frame read() returns None."""
    clock = ManualClock()
    with VideoSource(clip, loop=False, clock=clock) as source:
        source.read()
        clock.advance(0.95)
        assert_frame(source.read(), 9)
        clock.advance(0.95)
        assert_frame(source.read(), 19)  # 1.9 s
        clock.advance(0.5)
        assert source.read() is None


def test_read_before_open_and_double_close(clip):
    """read() on a closed source is a SourceError; close() may be called twice."""
    source = VideoSource(clip)
    with pytest.raises(SourceError):
        source.read()
    source.open()
    source.close()
    source.close()


def write_clip(path: Path, fourcc: str = "MJPG") -> Path:
    """A 2-second 10 fps clip of noise (so every frame takes room in the file), frame i also flat-red-coded."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (64, 48))
    rng = np.random.default_rng(3)
    for _ in range(FRAMES):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def play(source: VideoSource, clock: ManualClock, seconds: float) -> int:
    """Read at the clip's pace for ``seconds``; how many frames came out."""
    shown = 0
    for _ in range(round(seconds * FPS)):
        clock.advance(1 / FPS + 1e-6)
        shown += source.read() is not None
    return shown


def video_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == "engine.sources.video"]


def test_an_intact_file_loops_without_a_word(tmp_path, caplog):
    """Three loops of an unchanged file: every frame shown, no warning."""
    clock = ManualClock()
    with caplog.at_level(logging.INFO), VideoSource(write_clip(tmp_path / "clip.avi"), clock=clock) as source:
        source.read()
        assert play(source, clock, 6.0) == 60
    assert video_warnings(caplog) == []


def test_a_file_truncated_mid_show_is_said_once_and_keeps_playing(tmp_path, caplog):
    """Cut to half while playing: one WARNING naming the file, then the shorter file keeps looping."""
    path = write_clip(tmp_path / "clip.avi")
    clock = ManualClock()
    with caplog.at_level(logging.INFO), VideoSource(path, clock=clock) as source:
        source.read()
        play(source, clock, 0.5)
        os.truncate(path, path.stat().st_size // 2)
        assert play(source, clock, 10.0) == 100  # the show goes on
    warnings = video_warnings(caplog)
    assert len(warnings) == 1 and "clip.avi changed while playing" in warnings[0]


def test_a_file_deleted_mid_show_is_said_once_and_the_open_copy_loops(tmp_path, caplog):
    """Deleted while playing: one WARNING that it is gone; the frames still open keep looping."""
    path = write_clip(tmp_path / "clip.avi")
    clock = ManualClock()
    with caplog.at_level(logging.INFO), VideoSource(path, clock=clock) as source:
        source.read()
        path.unlink()
        assert play(source, clock, 6.0) == 60
    warnings = video_warnings(caplog)
    assert len(warnings) == 1 and "was deleted while playing" in warnings[0]


def test_a_file_that_no_longer_opens_after_a_change_is_a_source_error(tmp_path):
    """An .mp4 cut short loses its index: at the loop's end read() raises SourceError naming the file."""
    path = write_clip(tmp_path / "clip.mp4", "mp4v")
    clock = ManualClock()
    with VideoSource(path, clock=clock) as source:
        source.read()
        os.truncate(path, path.stat().st_size // 2)
        with pytest.raises(SourceError, match="clip.mp4"):
            play(source, clock, 3.0)


def test_a_file_already_cut_short_is_called_truncated_once(tmp_path, caplog):
    """An .avi whose header promises 20 frames but holds about 10: one WARNING over many loops, frames go on."""
    path = write_clip(tmp_path / "clip.avi")
    os.truncate(path, path.stat().st_size // 2)
    clock = ManualClock()
    with caplog.at_level(logging.INFO), VideoSource(path, clock=clock) as source:
        source.read()
        assert play(source, clock, 6.0) == 60
    warnings = video_warnings(caplog)
    assert len(warnings) == 1 and "of the 20 frames its header states" in warnings[0]
