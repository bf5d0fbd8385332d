import logging
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import ConfigError, SinkError
from engine.frame import Frame
from engine.sinks.recorder import RecorderSink


def frames(count: int, width: int = 64, height: int = 48):
    for i in range(count):
        yield Frame(np.full((height, width, 3), (200, 40 + i, 10), dtype=np.uint8), seq=i)


def count_frames(path) -> int:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


@pytest.mark.parametrize("name", ["show.mp4", "show.avi"])
def test_writes_a_video_opencv_can_read_back(tmp_path, name):
    """An .mp4 (mp4v) or .avi (MJPG) recording reopens in OpenCV with every frame in it."""
    path = tmp_path / "out" / name
    with RecorderSink(path, fps=10) as sink:
        for f in frames(12):
            sink.show(f)
    assert count_frames(path) == 12
    capture = cv2.VideoCapture(str(path))
    ok, bgr = capture.read()
    capture.release()
    assert ok and abs(int(bgr[0, 0, 2]) - 200) <= 8  # red stayed red: RGB went in, BGR was written


def test_every_n_keeps_one_frame_in_n_as_numbered_pngs(tmp_path):
    """A path ending with / gets PNGs; every_n=3 keeps frames 0, 3, 6 with their exact pixels."""
    with RecorderSink(f"{tmp_path}/pngs/", every_n=3) as sink:
        for f in frames(7):
            sink.show(f)
        assert sink.frames_written == 3
    files = sorted((tmp_path / "pngs").glob("*.png"))
    assert [p.name for p in files] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    rgb = cv2.cvtColor(cv2.imread(str(files[1])), cv2.COLOR_BGR2RGB)
    assert tuple(rgb[0, 0]) == (200, 43, 10)


def test_frames_that_change_size_are_still_recorded(tmp_path):
    """A frame of another size is resized to the recording's size rather than silently dropped."""
    path = tmp_path / "mixed.avi"
    with RecorderSink(path, fps=10) as sink:
        for f in frames(3):
            sink.show(f)
        for f in frames(2, width=32, height=32):
            sink.show(f)
    assert count_frames(path) == 5


def test_an_output_that_cannot_be_created_is_a_sink_error(tmp_path):
    """A folder that cannot be created (its parent is a file) raises SinkError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    with pytest.raises(SinkError, match="file"):
        RecorderSink(blocker / "show.mp4").open()
    with pytest.raises(SinkError):
        RecorderSink(f"{blocker}/pngs/").open()


def test_unknown_extensions_are_config_errors(tmp_path):
    """An extension with no codec is refused at construction, with the ones that work."""
    with pytest.raises(ConfigError, match=".mp4"):
        RecorderSink(tmp_path / "show.gifv")


@pytest.fixture
def full_disk(tmp_path):
    """A real 256 KiB tmpfs (needs root and mount): the recorder fills it up."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False, capture_output=True, timeout=30)


def noise(count: int, width: int = 64, height: int = 48):
    """Frames of random pixels: they compress badly, so they fill a small disk quickly."""
    rng = np.random.default_rng(0)
    for i in range(count):
        yield Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), seq=i)


def recorder_warnings(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == "engine.sinks.recorder"
    ]


@pytest.mark.parametrize("name", ["show.avi", "pngs/"])
def test_a_full_disk_is_said_once_and_the_recording_stops(full_disk, caplog, name):
    """Filling a real tmpfs: one WARNING, problem set, no exception per frame; later frames are dropped."""
    path = f"{full_disk}/{name}"
    sink = RecorderSink(path, fps=30, min_free_bytes=0)
    with caplog.at_level(logging.INFO):
        sink.open()
        for f in noise(300):
            sink.show(f)  # must never raise: the show goes on
        during = recorder_warnings(caplog)
        assert len(during) == 1 and "the disk is full" in during[0] and "the show goes on" in during[0]
        assert sink.problem is not None and sink.frames_dropped > 0
        assert sink.frames_written + sink.frames_dropped == 300
        sink.close()
    summary = recorder_warnings(caplog)[-1]
    if name.endswith("/"):
        really = len(list(Path(path).glob("*.png")))
        assert really == sink.frames_written
    else:
        really = count_frames_lenient(Path(path))
    assert f"{really} frames really in" in summary and really < 300


def test_too_little_free_space_stops_the_recording_before_the_disk_is_full(tmp_path, caplog):
    """With less free space than min_free_bytes, nothing is written and the reason is said once."""
    sink = RecorderSink(tmp_path / "show.avi", fps=10, min_free_bytes=2**62)
    with caplog.at_level(logging.WARNING), sink:
        for f in frames(20):
            sink.show(f)
        assert sink.frames_written == 0 and sink.frames_dropped == 20
        assert "MiB free" in (sink.problem or "")
    assert len([m for m in recorder_warnings(caplog) if "MiB free" in m and "frames really" not in m]) == 1


def count_frames_lenient(path: Path) -> int:
    """Frames OpenCV can still read from a video that may have been cut short."""
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.isOpened() and capture.grab():
        n += 1
    capture.release()
    return n
