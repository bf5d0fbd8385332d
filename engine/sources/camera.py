"""A live camera (device index, device path or RTSP/HTTP URL) read by OpenCV in its own thread.

The capture thread keeps only the newest frame, behind a lock, and owns the reconnection: when the
capture fails it retries with exponential back-off (0.5 s doubling to 2 s by default). The cap is what
a camera that comes back waits for at worst before it is tried again: at 10 s a camera back after a
long outage took 5.6 s on average (10.6 s at worst) to be on screen again; at 2 s, 1.2 s (2.0 s at
worst), measured as in docs/sources.md. The stale
timer belongs to ``read()``, not to the thread: OpenCV's ``read()`` can block for ~90 s after an RTSP
drop, so if no frame has arrived for ``stale_after`` seconds, ``read()`` raises SourceError whatever
the thread is doing. ``stale_after`` is the trade-off between a frozen camera noticed quickly and a
slow network stream mistaken for a frozen one (docs/sources.md).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from engine.errors import ConfigError, SourceError
from engine.frame import Frame
from engine.sources.base import FrameSource

log = logging.getLogger(__name__)

NETWORK_TIMEOUT_MS = 5000  # FFmpeg open/read timeouts for URLs, so a dead stream returns to us
JOIN_TIMEOUT_S = 2.0  # close() waits this long for the thread; a capture blocked in OpenCV is left behind
RECONNECT_MIN_S = 0.5  # first wait after a failure, doubling ...
RECONNECT_MAX_S = 2.0  # ... up to this: the longest a camera that is back waits to be tried again


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` that CameraSource uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[int | str, int, int, float], Capture]


def open_capture(device: int | str, width: int, height: int, fps: float) -> Capture:
    """Open ``device`` with OpenCV and ask for width x height at fps (0 leaves the camera's default)."""
    if isinstance(device, str) and "://" in device:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
        ]
        capture = cv2.VideoCapture(device, cv2.CAP_FFMPEG, params)
    else:
        capture = cv2.VideoCapture(device)
    if capture.isOpened():
        if width > 0 and height > 0:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps > 0:
            capture.set(cv2.CAP_PROP_FPS, fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones (where supported)
    return capture


def describe(device: int | str) -> str:
    """A name for logs and the operator page; a URL loses any user:password it carries."""
    if isinstance(device, str) and "://" in device:
        parts = urllib.parse.urlsplit(device)
        if parts.username or parts.password:
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            device = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return f"camera {device}"


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """OpenCV's BGR, BGRA or grey picture as RGB uint8 HxWx3."""
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


class CameraSource(FrameSource):
    """The newest picture from a camera; raises SourceError while it is lost and recovers by itself."""

    def __init__(
        self,
        device: int | str = 0,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        stale_after: float = 2.0,
        open_timeout: float = 5.0,
        reconnect_min: float = RECONNECT_MIN_S,
        reconnect_max: float = RECONNECT_MAX_S,
        capture_factory: CaptureFactory = open_capture,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)  # "0" from a config file means index 0
        self.device = device
        self.name = describe(device)
        if stale_after <= 0 or open_timeout <= 0:
            raise ConfigError(f"{self.name}: stale_after and open_timeout must be positive")
        if not 0 < reconnect_min <= reconnect_max:
            raise ConfigError(f"{self.name}: need 0 < reconnect_min <= reconnect_max")
        self.width = width
        self.height = height
        self.fps = fps
        self.stale_after = stale_after
        self.open_timeout = open_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self._factory = capture_factory
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # Everything below is shared with the capture thread: touch it only while holding _lock.
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._last_frame_at = 0.0  # clock() of the newest frame, or of open() before the first
        self._error: str | None = None
        self._seq = 0
        # Read side only (the caller's thread).
        self._last_read_seq = -1

    # -- caller's side -----------------------------------------------------------------------------
    def open(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            self._latest = None
            self._error = None
            self._last_frame_at = self._clock()
        self._last_read_seq = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def read(self) -> Frame | None:
        if self._thread is None:
            raise SourceError(f"{self.name} is not open")
        now = self._clock()
        with self._lock:
            frame, error, last_at = self._latest, self._error, self._last_frame_at
        if error is not None:
            raise SourceError(f"{self.name} lost: {error}")
        silent = now - last_at
        if frame is None and silent > self.open_timeout:
            raise SourceError(f"{self.name} lost: no frame {silent:.1f} s after opening")
        if frame is not None and silent > self.stale_after:
            raise SourceError(f"{self.name} lost: no new frame for {silent:.1f} s")
        if frame is None or frame.seq == self._last_read_seq:
            return None
        self._last_read_seq = frame.seq
        return frame

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():
            log.warning("%s: capture thread still blocked in OpenCV; it releases the device when it returns", self.name)

    # -- capture thread ----------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        delay = self.reconnect_min
        capture: Capture | None = None
        try:
            while not stop.is_set():
                if capture is None:
                    capture = self._connect()
                    if capture is None:
                        stop.wait(delay)
                        delay = min(delay * 2, self.reconnect_max)
                        continue
                ok, pixels = capture.read()
                if stop.is_set():
                    break
                if not ok or pixels is None:
                    self._failed("the capture stopped delivering frames", delay)
                    self._release(capture)
                    capture = None
                    stop.wait(delay)
                    delay = min(delay * 2, self.reconnect_max)
                    continue
                delay = self.reconnect_min
                self._publish(pixels)
        except Exception as exc:  # the thread is a task boundary: say why it ended, never die silently
            log.exception("%s: capture thread failed", self.name)
            with self._lock:
                self._error = f"capture thread failed ({exc})"
        finally:
            if capture is not None:
                self._release(capture)

    def _connect(self) -> Capture | None:
        try:
            capture = self._factory(self.device, self.width, self.height, self.fps)
        except Exception as exc:  # OpenCV and drivers raise all sorts; report it as a lost camera
            self._failed(f"could not open ({exc})", self.reconnect_min)
            return None
        if not capture.isOpened():
            self._release(capture)
            self._failed("could not open", self.reconnect_min)
            return None
        return capture

    def _failed(self, reason: str, retry_in: float) -> None:
        with self._lock:
            first = self._error is None
            self._error = reason
        if first:
            log.info("%s: %s; reconnecting with back-off from %.1f s", self.name, reason, retry_in)
        else:
            log.debug("%s: %s; next try in %.1f s", self.name, reason, retry_in)

    def _publish(self, pixels: np.ndarray) -> None:
        rgb = to_rgb(pixels)
        now = self._clock()
        with self._lock:
            recovered = self._error is not None
            self._seq += 1
            self._latest = Frame(rgb, t_capture=now, seq=self._seq, source=self.name)
            self._last_frame_at = now
            self._error = None
        if recovered:
            log.info("%s: frames again (%dx%d)", self.name, rgb.shape[1], rgb.shape[0])

    def _release(self, capture: Capture) -> None:
        try:
            capture.release()
        except Exception as exc:  # releasing a broken device may fail too; nothing more to do with it
            log.debug("%s: release failed: %s", self.name, exc)
