"""A video file played in a loop at its own pace, decoded by OpenCV.

``read()`` returns the frame that is due now on the monotonic clock: if the caller is late, the
frames in between are grabbed without being converted, and if it is early it gets None. Frame
numbers (``Frame.seq``) keep counting across loops. If decoding breaks, ``read()`` raises
SourceError and the next ``read()`` opens the file again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, SourceError
from engine.frame import Frame
from engine.sources.base import FrameSource

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0  # when the file does not say
MAX_CATCH_UP_SECONDS = 1.0  # later than this, restart the clock instead of decoding the backlog


class VideoSource(FrameSource):
    """Plays ``path`` at the file's frame rate (or ``fps``), looping unless ``loop`` is False."""

    def __init__(
        self,
        path: str | Path,
        fps: float | None = None,
        loop: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fps is not None and fps <= 0:
            raise ConfigError(f"video {path}: fps must be positive, got {fps}")
        self.path = Path(path)
        self.name = f"video {self.path.name}"
        self.loop = loop
        self._fps_override = fps
        self._clock = clock
        self.fps = fps or DEFAULT_FPS
        self._capture: cv2.VideoCapture | None = None
        self._opened = False  # open() succeeded and close() has not been called since
        self._held: np.ndarray | None = None  # the last decoded BGR picture ...
        self._held_index = -1  # ... and its frame number (counting across loops)
        self._returned_index = -1
        self._t0: float | None = None
        self._ended = False

    def open(self) -> None:
        if self._capture is not None:
            return
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} not found")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"video file {self.path} cannot be opened by OpenCV (not a video, or an unknown codec)")
        ok, bgr = capture.read()
        if not ok or bgr is None:
            capture.release()
            raise SourceError(f"video file {self.path} has no decodable frames")
        file_fps = capture.get(cv2.CAP_PROP_FPS)
        if self._fps_override is None:
            if math.isfinite(file_fps) and 0 < file_fps <= 1000:
                self.fps = float(file_fps)
            else:
                log.warning("%s states no usable frame rate (%r); playing at %g fps", self.path, file_fps, DEFAULT_FPS)
        self._capture = capture
        self._held, self._held_index = bgr, 0
        self._returned_index = -1
        self._t0 = None
        self._ended = False
        self._opened = True
        log.info("%s opened: %dx%d at %g fps", self.path, bgr.shape[1], bgr.shape[0], self.fps)

    def read(self) -> Frame | None:
        if self._capture is None:
            if not self._opened:
                raise SourceError(f"{self.name} is not open")
            self.open()  # decoding broke earlier: start the file again, or say why not
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due = int((now - self._t0) * self.fps)
        if due <= self._returned_index:
            return None
        if due - self._held_index > MAX_CATCH_UP_SECONDS * self.fps:
            # Far behind (a stall, a suspended machine): carry on from the next frame, not the backlog.
            due = self._held_index + 1
            self._t0 = now - due / self.fps
        while self._held_index < due and not self._ended:
            self._advance(decode=self._held_index + 1 == due)
        if self._held_index <= self._returned_index:
            return None  # the file ended and does not loop
        self._returned_index = self._held_index
        rgb = cv2.cvtColor(self._held, cv2.COLOR_BGR2RGB)
        return Frame(rgb, t_capture=now, seq=self._held_index, source=self.name)

    def _advance(self, decode: bool) -> None:
        """Move to the next frame, wrapping at the end; ``decode`` False only grabs it (skipped frame)."""
        assert self._capture is not None
        for attempt in range(2):
            if decode:
                ok, bgr = self._capture.read()
            else:
                ok, bgr = self._capture.grab(), None
            if ok:
                self._held_index += 1
                if bgr is not None:
                    self._held = bgr
                return
            if attempt == 0:
                if not self.loop:
                    self._ended = True
                    return
                self._rewind()
        self._drop_capture()
        raise SourceError(f"video file {self.path}: decoding failed after rewinding to the start")

    def _rewind(self) -> None:
        assert self._capture is not None
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            if not self._capture.isOpened():
                self._drop_capture()
                raise SourceError(f"video file {self.path} could not be reopened to loop")

    def _drop_capture(self) -> None:
        """Let go of a capture that failed; the next read() opens the file again."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def close(self) -> None:
        self._drop_capture()
        self._opened = False
        self._held = None
