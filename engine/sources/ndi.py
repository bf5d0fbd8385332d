"""NDI input: a named NDI source on the network as a frame source (``cyndilib``; the ``[ndi]`` extra).

``NdiSource`` is a ``CameraSource`` whose capture is an NDI receiver, so it has the camera's capture
thread (newest frame wins), stale-frame timer, reconnection with back-off, and, in a show, the same
fallback. A receiver is "open" once the source is found (``Finder``, up to ``open_timeout``); a read
that gets no video for ``READ_TIMEOUT_S`` fails it, and the camera's loop reconnects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import SourceError
from engine.ndi import import_ndi
from engine.sources.camera import RECONNECT_MAX_S, RECONNECT_MIN_S, CameraSource, Capture

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0  # no video for this long: the receiver counts as failed and is reconnected
POLL_MS = 100


def matches(found: str, wanted: str) -> bool:
    """An NDI name ``MACHINE (stream)`` matches ``wanted`` given whole or as its stream part alone."""
    if found == wanted:
        return True
    stream = found[found.find("(") + 1 : -1] if found.endswith(")") and "(" in found else found
    return stream == wanted


class NdiCapture:
    """One NDI receiver as the camera's ``Capture``: ``read()`` gives BGRA pixels or (False, None)."""

    def __init__(self, name: str, open_timeout: float) -> None:
        ndi = import_ndi()
        from cyndilib.receiver import ReceiveFrameType

        self._recv_video = ReceiveFrameType.recv_video
        self._finder = ndi.Finder()
        self._finder.open()
        self._receiver: Any = None
        self.found = ""
        deadline = time.monotonic() + open_timeout
        while not self.found and time.monotonic() < deadline:
            self._finder.wait_for_sources(min(0.5, max(0.01, deadline - time.monotonic())))
            self.found = next((n for n in self._finder.get_source_names() if matches(n, name)), "")
        if not self.found:
            return
        self._receiver = ndi.Receiver(color_format=ndi.RecvColorFormat.BGRX_BGRA, bandwidth=ndi.RecvBandwidth.highest)
        self._video = ndi.VideoRecvFrame()
        self._receiver.set_video_frame(self._video)
        self._receiver.set_source(self._finder.get_source(self.found))

    def isOpened(self) -> bool:
        return self._receiver is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            got = self._receiver.receive(self._recv_video, POLL_MS)
            if not got & self._recv_video:
                continue
            width, height = self._video.get_resolution()
            pixels = np.empty(height * width * 4, np.uint8)
            self._video.fill_p_data(pixels)
            return True, pixels.reshape(height, width, 4)
        return False, None

    def release(self) -> None:
        if self._receiver is not None:
            self._receiver.disconnect()
            self._receiver = None
        self._finder.close()


def open_ndi(open_timeout: float) -> Callable[[int | str, int, int, float], Capture]:
    def factory(device: int | str, width: int, height: int, fps: float) -> Capture:
        return NdiCapture(str(device), open_timeout)

    return factory


class NdiSource(CameraSource):
    """The newest picture of the NDI source ``name``; SourceError while it is lost, recovering by itself."""

    def __init__(
        self,
        name: str,
        stale_after: float = 2.0,
        open_timeout: float = 5.0,
        reconnect_min: float = RECONNECT_MIN_S,
        reconnect_max: float = RECONNECT_MAX_S,
    ) -> None:
        if not name.strip():
            raise SourceError("ndi: the NDI source name must not be empty")
        super().__init__(
            device=name,
            stale_after=stale_after,
            open_timeout=open_timeout + READ_TIMEOUT_S,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
            capture_factory=open_ndi(open_timeout),
        )
        self.name = f"NDI source {name!r}"
