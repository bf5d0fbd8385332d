"""Records the show: a video file (by its extension) or numbered PNG files in a folder.

A ``path`` that ends with "/" or names an existing folder gets PNGs (frame_000000.png, ...); a path
ending in .mp4/.m4v/.mov gets MPEG-4 ("mp4v"), .avi/.mkv gets Motion-JPEG. The video writer opens
on the first frame, when the size is known; later frames of another size are resized to it.
Encoding runs on the caller's thread, so keep ``every_n`` up on a busy machine.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, SinkError
from engine.frame import Frame
from engine.sinks.base import FrameSink

log = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecorderSink(FrameSink):
    """Writes every ``every_n``-th frame to a video file or, for a folder, to numbered PNGs."""

    name = "recorder"

    def __init__(self, path: str | Path, fps: float = 30.0, every_n: int = 1) -> None:
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
        self.fps = fps
        self.every_n = every_n
        self.frames_seen = 0
        self.frames_written = 0
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
        self.frames_seen = self.frames_written = 0
        self._open = True
        log.info("recording to %s%s", self.path, "/ as PNG files" if self.to_folder else "")

    def show(self, frame: Frame) -> None:
        if not self._open:
            raise SinkError(f"recorder {self.path}: show() before open()")
        index = self.frames_seen
        self.frames_seen += 1
        if index % self.every_n:
            return
        bgr = cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2BGR)
        if self.to_folder:
            target = self.path / f"frame_{self.frames_written:06d}.png"
            try:
                ok = cv2.imwrite(str(target), bgr)
            except cv2.error as exc:
                raise SinkError(f"recorder: cannot write {target} ({exc})") from exc
            if not ok:
                raise SinkError(f"recorder: cannot write {target}")
        else:
            self._writer_for(frame).write(self._sized(bgr))
        self.frames_written += 1

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self._size = None
        log.info("recorder: %d frames written to %s", self.frames_written, self.path)

    # -- inside ------------------------------------------------------------------------------------
    def _writer_for(self, frame: Frame) -> cv2.VideoWriter:
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*CODECS[self.path.suffix.lower()])
            writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, frame.size)
            if not writer.isOpened():
                writer.release()
                raise SinkError(f"recorder: OpenCV cannot open {self.path} for writing ({frame.width}x{frame.height})")
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
                self.path, bgr.shape[1], bgr.shape[0], *self._size,
            )
        return cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
