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
