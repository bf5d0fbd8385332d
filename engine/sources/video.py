"""A video file played in a loop at its own pace, decoded by OpenCV.

``read()`` returns the frame that is due now on the monotonic clock: if the caller is late, the
frames in between are grabbed without being converted, and if it is early it gets None. Frame
numbers (``Frame.seq``) keep counting across loops. If decoding breaks, ``read()`` raises
SourceError and the next ``read()`` opens the file again.

At the end of each loop the file is looked at again, and a change is said once at WARNING: a file
deleted mid-show keeps playing from the handle that is still open (it will be gone at the next start);
a file that changed (truncated, replaced) is opened again and played as it is now; a loop that ended
well before the frame count the file's header promises is called a truncated file.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, SourceError
from engine.frame import Frame, uint8_pixels
from engine.sources.base import FrameSource

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0  # when the file does not say
MAX_CATCH_UP_SECONDS = 1.0  # later than this, restart the clock instead of decoding the backlog
SHORT_LOOP = 0.9  # a loop with fewer than this share of the header's frame count is a truncated file


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of ``path``, or None when it is gone: what tells a change mid-show."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


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
        self._identity: tuple[int, int, int] | None = None  # the file as it was when opened
        self._header_frames = 0  # the frame count the file states (0: unknown)
        self._loop_start = 0  # frame number of the current loop's first frame
        self._told: set[str] = set()  # file problems already said (each said once)

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
        self._identity = file_identity(self.path)
        self._header_frames = _frame_count(capture)
        self._loop_start = 0
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
        assert self._held is not None  # open() holds the first frame; close() clears it with the capture
        rgb = uint8_pixels(cv2.cvtColor(self._held, cv2.COLOR_BGR2RGB))
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
                if self._check_file():
                    self._rewind()
                self._loop_start = self._held_index + 1
        self._drop_capture()
        raise SourceError(f"video file {self.path}: decoding failed after rewinding to the start")

    def _check_file(self) -> bool:
        """At the end of a loop: say once if the file was deleted, changed or cut short; False if reopened."""
        played = self._held_index - self._loop_start + 1
        now = file_identity(self.path)
        if now is None:
            self._tell(
                "deleted",
                f"video file {self.path} was deleted while playing; looping the copy still open, "
                "which will be gone at the next start",
            )
            return True
        if self._identity is not None and now != self._identity:
            self._tell(
                f"changed {now}",
                f"video file {self.path} changed while playing ({self._identity[1]} -> "
                f"{now[1]} bytes); playing it as it is now",
            )
            self._told.add(f"short {now}")  # a cut-short file that was just reported as changed: said already
            self._reopen()
            return False
        if self._header_frames and played < SHORT_LOOP * self._header_frames:
            self._tell(
                f"short {now}",
                f"video file {self.path} ends after {played} of the {self._header_frames} "
                "frames its header states: truncated? looping what can be read",
            )
        return True

    def _tell(self, key: str, message: str) -> None:
        if key not in self._told:
            self._told.add(key)
            log.warning("%s", message)

    def _reopen(self) -> None:
        """Open the file afresh at its start (it changed on disk); SourceError if it no longer opens."""
        assert self._capture is not None
        self._capture.release()
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._drop_capture()
            raise SourceError(f"video file {self.path} changed while playing and no longer opens")
        self._identity = file_identity(self.path)
        self._header_frames = _frame_count(self._capture)

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


def _frame_count(capture: cv2.VideoCapture) -> int:
    """The frame count the file's header states, or 0 when it states none that makes sense."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and 0 < count < 1e9 else 0
