"""Slow file work of the frame loop (snapshot PNGs, blackout slides) on one bounded background thread.

The render thread hands a job over and goes on; a full queue refuses the job with one warning per
burst instead of blocking the picture. ``close()`` finishes the jobs already queued.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Write RGB uint8 ``pixels`` to ``path`` (parents created); EngineError if it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)):
        raise EngineError(f"snapshot {path} could not be written (unknown image type or unwritable folder)")
    return path


def read_still(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The image at ``path`` as RGB uint8 at ``size`` (width, height); EngineError if it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise EngineError(f"slide {path} cannot be read")
    return cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA)


class FileWorker:
    """Runs submitted file jobs one at a time on its own daemon thread; at most ``max_jobs`` wait."""

    def __init__(self, name: str = "laterna-files", max_jobs: int = 8) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=max_jobs)
        self._name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._refusing = False

    def submit(self, job: Callable[[], object], what: str) -> bool:
        """Queue ``job``; False (warned once per burst of refusals) if the queue is full."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            if not self._refusing:
                log.warning("file work is behind; %s dropped (and any more until it catches up)", what)
            self._refusing = True
            return False
        self._refusing = False
        return True

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except EngineError as exc:
                log.warning("%s", exc)
            except Exception:  # a bug in one job must not end the thread
                log.exception("file job failed")

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued jobs and stop the thread; safe to call more than once."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)  # blocks only while the queue is full, i.e. while jobs are still running
        thread.join(timeout)
