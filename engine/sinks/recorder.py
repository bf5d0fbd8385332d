"""Records the show: a video file (by its extension) or numbered PNG files in a folder.

A ``path`` that ends with "/" or names an existing folder gets PNGs (frame_000000.png, ...); a path
ending in .mp4/.m4v/.mov gets MPEG-4 ("mp4v"), .avi/.mkv gets Motion-JPEG. The video writer opens
on the first frame, when the size is known; later frames of another size are resized to it.
Encoding runs on the caller's thread, so keep ``every_n`` up on a busy machine.

A recording never takes the show down with it. When a write fails (OpenCV's ``VideoWriter.write``
returns False from 5.x on; ``imwrite`` returns False) or the disk has less than ``min_free_bytes``
left, the recorder stops: it says so once at WARNING (the operator page shows warnings), ``problem``
holds the reason for ``/metrics``, later frames are counted and dropped, and the summary at
``close()`` reads the file back to state how many frames really are in it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, SinkError
from engine.frame import Frame
from engine.notice import Notice
from engine.sinks.base import FrameSink

log = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
MIN_FREE_BYTES = 100 * 1024 * 1024  # stop recording before the disk is full: logs and snapshots need room too


class RecorderSink(FrameSink):
    """Writes every ``every_n``-th frame to a video file or, for a folder, to numbered PNGs."""

    name = "recorder"

    def __init__(
        self, path: str | Path, fps: float = 30.0, every_n: int = 1, min_free_bytes: int = MIN_FREE_BYTES
    ) -> None:
        if every_n < 1:
            raise ConfigError(f"recorder {path}: every_n must be >= 1, got {every_n}")
        if fps <= 0:
            raise ConfigError(f"recorder {path}: fps must be positive, got {fps}")
        self.to_folder = str(path).endswith(("/", "\\")) or Path(path).is_dir()
        self.path = Path(path)
        if not self.to_folder and self.path.suffix.lower() not in CODECS:
            raise ConfigError(
                f"recorder {path}: unknown video extension {self.path.suffix!r}; "
                f"use one of {sorted(CODECS)} or a folder ending with / for PNGs"
            )
        if min_free_bytes < 0:
            raise ConfigError(f"recorder {path}: min_free_bytes must be >= 0, got {min_free_bytes}")
        self.fps = fps
        self.every_n = every_n
        self.min_free_bytes = min_free_bytes
        self.frames_seen = 0
        self.frames_written = 0  # frames handed to the writer (PNGs: files written)
        self.frames_dropped = 0  # frames meant for the recording after it stopped
        self.notice = Notice(log)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._open = False
        self._resize_warned = False

    def open(self) -> None:
        if self._open:
            return
        folder = self.path if self.to_folder else self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"recorder: cannot create folder {folder} ({exc})") from exc
        self.frames_seen = self.frames_written = self.frames_dropped = 0
        self.notice.clear()
        self._open = True
        log.info("recording to %s%s", self.path, "/ as PNG files" if self.to_folder else "")

    def show(self, frame: Frame) -> None:
        if not self._open:
            raise SinkError(f"recorder {self.path}: show() before open()")
        index = self.frames_seen
        self.frames_seen += 1
        if index % self.every_n:
            return
        if self.notice.active:
            self.frames_dropped += 1
            return
        if self.frames_written % max(1, round(self.fps)) == 0 and self._disk_is_full():
            self._stop(f"recorder {self.path}: less than {self.min_free_bytes / 2**20:.0f} MiB free on the disk")
            self.frames_dropped += 1
            return
        bgr = cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2BGR)
        if self.to_folder:
            ok = self._write_png(self.path / f"frame_{self.frames_written:06d}.png", bgr)
        else:
            writer = self._writer_for(frame)
            if writer is None:
                self.frames_dropped += 1
                return
            ok = writer.write(self._sized(bgr)) is not False  # OpenCV < 5 returns None, and says nothing
        if not ok:
            self.frames_dropped += 1
            full = self._disk_is_full(margin=1024 * 1024)
            self._stop(f"recorder {self.path}: {'the disk is full' if full else 'a write failed'}")
            return
        self.frames_written += 1

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self._size = None
        if self.notice.active:
            really = self.frames_written if self.to_folder else readable_frames(self.path)
            log.warning(
                "recorder: %d frames really in %s; recording stopped early (%s), %d frames not recorded",
                really,
                self.path,
                self.notice.problem,
                self.frames_dropped,
            )
        else:
            log.info("recorder: %d frames written to %s", self.frames_written, self.path)

    @property
    def problem(self) -> str | None:
        """Why recording stopped, for the operator page and ``/metrics``; None while it records."""
        return self.notice.problem

    # -- inside ------------------------------------------------------------------------------------
    def _stop(self, reason: str) -> None:
        """Stop recording for the rest of the show; said once, the show goes on."""
        self.notice.fail(f"{reason}; recording stopped after {self.frames_written} frames, the show goes on")

    def _disk_is_full(self, margin: int | None = None) -> bool:
        """Less than ``margin`` (default ``min_free_bytes``) left for us where the recording goes."""
        folder = self.path if self.to_folder else self.path.parent
        try:
            stat = os.statvfs(folder)
        except (OSError, AttributeError):  # no statvfs (Windows) or the folder went away: the write will tell
            return False
        return stat.f_bavail * stat.f_frsize < (self.min_free_bytes if margin is None else margin)

    def _write_png(self, target: Path, bgr: np.ndarray) -> bool:
        try:
            ok = bool(cv2.imwrite(str(target), bgr))
        except cv2.error as exc:
            log.debug("recorder: cannot write %s (%s)", target, exc)
            ok = False
        if not ok:
            try:
                target.unlink(missing_ok=True)  # a half-written PNG is no frame
            except OSError as exc:
                log.debug("recorder: cannot remove the partial %s (%s)", target, exc)
        return ok

    def _writer_for(self, frame: Frame) -> cv2.VideoWriter | None:
        """The open video writer; None (and recording stopped, said once) if OpenCV cannot open one."""
        if self._writer is None:
            fourcc = cv2.VideoWriter.fourcc(*CODECS[self.path.suffix.lower()])
            writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, frame.size)
            if not writer.isOpened():
                writer.release()
                self._stop(f"recorder: OpenCV cannot open {self.path} for writing ({frame.width}x{frame.height})")
                return None
            self._writer, self._size = writer, frame.size
        return self._writer

    def _sized(self, bgr: np.ndarray) -> np.ndarray:
        assert self._size is not None
        if (bgr.shape[1], bgr.shape[0]) == self._size:
            return bgr
        if not self._resize_warned:
            self._resize_warned = True
            log.warning(
                "recorder %s: frames changed size to %dx%d; resizing to %dx%d",
                self.path,
                bgr.shape[1],
                bgr.shape[0],
                *self._size,
            )
        return cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)


def readable_frames(path: Path) -> int:
    """How many frames OpenCV can read back from a video file (0 if it cannot open it at all)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while capture.isOpened() and capture.grab():
            count += 1
    finally:
        capture.release()
    return count
