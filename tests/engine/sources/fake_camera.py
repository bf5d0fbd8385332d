"""A camera for tests: real threads and timing, pictures made up, failures on demand."""

from __future__ import annotations

import threading
import time

import numpy as np


class FakeCamera:
    """Plays the device behind ``capture_factory``: ``mode`` decides what each capture read does.

    "ok": a frame every 10 ms; "fail": read() reports failure; "block": read() hangs until
    ``unblock()`` (as OpenCV does after an RTSP drop); "unplugged": opening fails.
    """

    def __init__(self, bgr: tuple[int, int, int] = (0, 0, 255)) -> None:
        self.mode = "ok"
        self.bgr = bgr
        self.opens: list[float] = []  # monotonic time of each open attempt
        self.factory_error: Exception | None = None
        self._release_block = threading.Event()

    def factory(self, device: int | str, width: int, height: int, fps: float) -> FakeCapture:
        self.opens.append(time.monotonic())
        if self.factory_error is not None:
            raise self.factory_error
        return FakeCapture(self, width, height)

    def unblock(self) -> None:
        self._release_block.set()


class FakeCapture:
    def __init__(self, camera: FakeCamera, width: int, height: int) -> None:
        self.camera = camera
        self.opened = camera.mode != "unplugged"
        self.size = (height, width)

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        mode = self.camera.mode
        if mode == "block":
            self.camera._release_block.wait(10.0)
            return False, None
        if mode != "ok":
            time.sleep(0.005)
            return False, None
        time.sleep(0.01)
        return True, np.full(self.size + (3,), self.camera.bgr, dtype=np.uint8)

    def release(self) -> None:
        self.opened = False
