"""A looping slideshow of still images with crossfades.

Each image is shown for ``seconds``; during the last ``fade`` seconds of its turn it dissolves into
the next one. Images are cropped ("fill") or letterboxed ("fit") to width x height once, when first
needed, and at most three are kept in memory. ``read()`` returns a new frame at ``fps`` while a fade
runs and one frame per image otherwise: a still picture is not news.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, SourceError
from engine.frame import Frame
from engine.sources.base import FrameSource
from engine.sources.transform import MODES, fit_to_aspect

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
CACHE_SIZE = 3


def find_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class SlideshowSource(FrameSource):
    """Shows the images of a folder (or a list of files) in name order, one every ``seconds``, looping."""

    name = "slideshow"

    def __init__(
        self,
        images: str | Path | Sequence[str | Path],
        width: int = 1280,
        height: int = 720,
        seconds: float = 8.0,
        fade: float = 1.0,
        fps: float = 30.0,
        fit: str = "fill",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds <= 0:
            raise ConfigError(f"slideshow: seconds must be positive, got {seconds}")
        if not 0 <= fade <= seconds:
            raise ConfigError(f"slideshow: fade must be between 0 and seconds ({seconds}), got {fade}")
        if fps <= 0 or width <= 0 or height <= 0:
            raise ConfigError(f"slideshow: width, height and fps must be positive, got {width}x{height} at {fps}")
        if fit not in MODES:
            raise ConfigError(f"slideshow: fit must be one of {MODES}, got {fit!r}")
        self.images = images
        self.width = width
        self.height = height
        self.seconds = seconds
        self.fade = fade
        self.fps = fps
        self.fit = fit
        self._clock = clock
        self._paths: list[Path] = []
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._t0: float | None = None
        self._last_key: tuple[int, int] | None = None
        self._seq = 0

    def open(self) -> None:
        if isinstance(self.images, (str, Path)):
            folder = Path(self.images)
            if not folder.is_dir():
                raise SourceError(f"slideshow folder {folder} does not exist")
            paths = find_images(folder)
            if not paths:
                raise SourceError(
                    f"slideshow folder {folder} has no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
        else:
            paths = [Path(p) for p in self.images]
            if not paths:
                raise SourceError("slideshow: the list of images is empty")
        self._paths = paths
        self._cache.clear()
        self._load(0)  # fail now, not on the first read, if nothing is readable
        self._t0 = None
        self._last_key = None
        log.info("slideshow of %d images, %g s each", len(paths), self.seconds)

    def read(self) -> Frame | None:
        if not self._paths:
            raise SourceError("slideshow is not open")
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        elapsed = now - self._t0
        turn = int(elapsed // self.seconds)
        into = elapsed - turn * self.seconds
        fade_start = self.seconds - self.fade
        count = len(self._paths)
        if self.fade > 0 and into >= fade_start and count > 1:
            key = (turn, 1 + int((into - fade_start) * self.fps))
        else:
            key = (turn, 0)
        if key == self._last_key:
            return None
        self._last_key = key
        current = self._load(turn % count)
        if key[1] == 0:
            pixels = current
        else:
            alpha = min(1.0, (into - fade_start) / self.fade)
            upcoming = self._load((turn + 1) % count)
            pixels = cv2.addWeighted(current, 1.0 - alpha, upcoming, alpha, 0.0)
        self._seq += 1
        return Frame(pixels, t_capture=now, seq=self._seq, source=self.name)

    def next_frame_in(self) -> float | None:
        """Until the next fade step while a fade runs, else until the next fade (or slide) begins."""
        if self._t0 is None:
            return 0.0
        elapsed = self._clock() - self._t0
        turn = int(elapsed // self.seconds)
        into = elapsed - turn * self.seconds
        fade_start = self.seconds - self.fade
        if self.fade > 0 and len(self._paths) > 1:
            if into < fade_start:
                return fade_start - into
            step = 1 + int((into - fade_start) * self.fps)
            return max(0.0, min(fade_start + step / self.fps, self.seconds) - into)
        return self.seconds - into

    def _load(self, index: int) -> np.ndarray:
        """Image ``index`` at the output size; unreadable files are dropped from the show with a warning."""
        while self._paths:
            index %= len(self._paths)
            path = self._paths[index]
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path]
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None:
                pixels = fit_to_aspect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.width, self.height, self.fit)
                pixels.flags.writeable = False  # shared with every frame that shows it
                self._cache[path] = pixels
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                return pixels
            log.warning("slideshow: cannot read image %s; leaving it out", path)
            del self._paths[index]
        raise SourceError(f"slideshow {self.images}: none of the images could be read")

    def close(self) -> None:
        self._cache.clear()
        self._paths = []
