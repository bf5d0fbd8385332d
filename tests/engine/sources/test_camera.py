import time

import cv2
import numpy as np
import pytest

from engine.errors import SourceError
from engine.sources.camera import CameraSource, open_capture
from tests.engine.sources.fake_camera import FakeCamera


def camera_source(fake: FakeCamera, **kwargs) -> CameraSource:
    settings = dict(width=32, height=24, reconnect_min=0.05, reconnect_max=0.2, capture_factory=fake.factory)
    settings.update(kwargs)
    return CameraSource(0, **settings)


def next_frame(source: CameraSource, within: float = 2.0):
    """The first frame read() hands out within ``within`` seconds (SourceError counts as no frame yet)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            frame = source.read()
        except SourceError:
            frame = None
        if frame is not None:
            return frame
        time.sleep(0.01)
    raise AssertionError("no frame arrived")


def error_within(source: CameraSource, within: float) -> SourceError:
    """The SourceError read() raises within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            source.read()
        except SourceError as exc:
            return exc
        time.sleep(0.01)
    raise AssertionError("read() kept working")


def test_frames_arrive_in_rgb_at_the_capture_size():
    """The capture thread's BGR pictures come out of read() as RGB frames."""
    fake = FakeCamera(bgr=(0, 0, 255))
    with camera_source(fake) as source:
        frame = next_frame(source)
    assert frame.size == (32, 24)
    assert tuple(frame.pixels[0, 0]) == (255, 0, 0)
    assert frame.source == "camera 0"


def test_read_returns_none_when_nothing_is_new():
    """Two reads with no capture in between: the second is None, not the same frame again."""
    fake = FakeCamera()
    with camera_source(fake) as source:
        next_frame(source)
        fake.mode = "block"  # no more frames, but not yet stale
        time.sleep(0.05)
        source.read()  # the frame captured just before the block, if any
        assert source.read() is None
        fake.unblock()


def test_a_failing_capture_is_reported_and_reconnected():
    """When reads fail, read() raises "camera 0 lost"; when the device works again frames return."""
    fake = FakeCamera()
    with camera_source(fake) as source:
        next_frame(source)
        fake.mode = "fail"
        error = error_within(source, 1.0)
        assert "camera 0 lost" in str(error)
        fake.mode = "ok"
        next_frame(source, within=3.0)
    assert len(fake.opens) >= 2


def test_stale_timer_fires_while_opencv_is_blocked():
    """If the capture hangs inside read(), read() still raises after stale_after seconds."""
    fake = FakeCamera()
    source = camera_source(fake, stale_after=0.3)
    try:
        source.open()
        next_frame(source)
        fake.mode = "block"
        started = time.monotonic()
        error = error_within(source, 2.0)
        assert time.monotonic() - started >= 0.29
        assert "no new frame" in str(error)
    finally:
        fake.unblock()
        source.close()


def test_opening_failures_back_off_exponentially():
    """Failed opens are retried after 0.05, 0.1, 0.2, 0.2 s (doubling, capped), not in a tight loop."""
    fake = FakeCamera()
    fake.mode = "unplugged"
    with camera_source(fake) as source:
        error = error_within(source, 1.0)
        time.sleep(0.7)
    assert "could not open" in str(error)
    gaps = [b - a for a, b in zip(fake.opens, fake.opens[1:])]
    assert len(gaps) >= 3
    for gap, expected in zip(gaps, [0.05, 0.1, 0.2, 0.2, 0.2]):
        assert gap >= expected * 0.9
    assert len(fake.opens) <= 8


def test_factory_exceptions_become_source_errors():
    """An exception from the capture factory is reported by read() as a lost camera with the reason."""
    fake = FakeCamera()
    fake.factory_error = RuntimeError("no such device")
    with camera_source(fake) as source:
        error = error_within(source, 1.0)
    assert "no such device" in str(error)


def test_close_is_idempotent_and_stops_the_thread():
    """close() joins the capture thread, can be called twice, and read() afterwards raises."""
    fake = FakeCamera()
    source = camera_source(fake)
    source.open()
    next_frame(source)
    thread = source._thread
    source.close()
    source.close()
    assert thread is not None and not thread.is_alive()
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_names_hide_credentials_and_digit_strings_are_indices():
    """A URL's user:password never reaches logs; "1" from a config file means device index 1."""
    fake = FakeCamera()
    url = CameraSource("rtsp://admin:secret@cam.local:554/stream", capture_factory=fake.factory)
    assert url.name == "camera rtsp://cam.local:554/stream"
    assert CameraSource("1", capture_factory=fake.factory).device == 1


def test_the_real_opencv_capture_opens_a_device_path(tmp_path):
    """The default capture factory opens a path OpenCV understands (here a short clip) and reads BGR from it."""
    path = tmp_path / "device.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for _ in range(5):
        writer.write(np.full((24, 32, 3), (0, 0, 250), dtype=np.uint8))  # BGR red
    writer.release()
    capture = open_capture(str(path), 0, 0, 0)
    try:
        ok, bgr = capture.read()
    finally:
        capture.release()
    assert ok and bgr.shape == (24, 32, 3) and bgr[12, 16, 2] > 200


def test_the_real_opencv_capture_reports_a_missing_device():
    """With the default capture factory, a device that does not exist is a lost camera, not a hang."""
    with CameraSource("/dev/laterna-no-such-camera", reconnect_min=0.05, reconnect_max=0.1) as source:
        error = error_within(source, 2.0)
    assert "could not open" in str(error)
