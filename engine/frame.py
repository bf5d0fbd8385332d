"""The unit that travels through the engine: one RGB picture and when it was captured."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
"""An RGB picture: uint8, height x width x 3."""


def uint8_pixels(array: npt.NDArray[Any]) -> Pixels:
    """``array`` itself, checked to be uint8: OpenCV's type hints cannot say that uint8 in gives uint8 out."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}")
    return array


@dataclass(frozen=True)
class Frame:
    """RGB uint8 HxWx3 pixels, the monotonic capture time, and the source's sequence number."""

    pixels: Pixels
    t_capture: float = field(default_factory=time.monotonic)
    seq: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.uint8 or p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(f"Frame pixels must be uint8 HxWx3, got {p.dtype} {p.shape}")

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order OpenCV and pygame use."""
        return self.width, self.height

    def with_pixels(self, pixels: Pixels) -> Frame:
        """The same capture (time, sequence, source) with new pixels."""
        return Frame(pixels, self.t_capture, self.seq, self.source)
