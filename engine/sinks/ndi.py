"""NDI output: one stream output of the fan-out sent as an NDI source (``cyndilib``; the ``[ndi]`` extra).

``NdiSink`` sits in the show's sink list after the ``FanoutSink`` so the show opens and closes it, but
its pictures do not come through ``show()``: it is a viewer of a stream output (``add_viewer("ndi")``,
listed on the operator panel like any viewer), and its own thread takes the output's newest frame
(``wait_newer``: the output's size and rate cap apply, a slow send drops frames, never the show),
converts it to RGBA and hands it to libndi. NDI receivers (OBS, TouchDesigner, Resolume, vMix, Unity
or Unreal through KlakNDI) then see a source named ``<machine> (<name>)``.
"""

from __future__ import annotations

import fractions
import logging
import threading

import cv2
import numpy as np

from engine.errors import SinkError
from engine.frame import Frame
from engine.ndi import import_ndi
from engine.sinks.base import FrameSink
from engine.sinks.fanout import FanoutSink, StreamFrame, ViewerHandle

log = logging.getLogger(__name__)

WAIT_S = 0.5  # how long the sender waits for a frame before it checks whether it should stop
JOIN_TIMEOUT_S = 5.0


class NdiSink(FrameSink):
    """The stream output ``output`` of ``streams`` as the NDI source ``source_name``."""

    name = "ndi"

    def __init__(self, streams: FanoutSink, source_name: str = "Laterna", output: str = "") -> None:
        if not source_name.strip():
            raise SinkError("ndi: the NDI source name must not be empty")
        self.streams = streams
        self.source_name = source_name
        self.output = streams.output(output)
        self.sent = 0
        self._handle: ViewerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def open(self) -> None:
        if self._thread is not None:
            return
        try:
            ndi = import_ndi()
        except ImportError as exc:
            raise SinkError(str(exc)) from exc
        self._stop = threading.Event()
        sender = ndi.Sender(self.source_name)
        self._handle = self.output.add_viewer("ndi", f"NDI source {self.source_name!r}")
        self._thread = threading.Thread(
            target=self._run, args=(ndi, sender, self._handle, self._stop), name="ndi-send", daemon=True
        )
        self._thread.start()
        log.info("NDI: sending stream output %s as %r", self.output.name, self.source_name)

    def show(self, frame: Frame) -> None:
        """Nothing: this sink's pictures come from its stream output (module docstring)."""

    def close(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if self._handle is not None:
            self._handle.close("the show is stopping")
        if thread is not None:
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("NDI: the sender thread did not stop within %.0f s", JOIN_TIMEOUT_S)

    # -- the sender thread --------------------------------------------------------------------------
    def _run(self, ndi: object, sender: object, handle: ViewerHandle, stop: threading.Event) -> None:
        seq = 0
        size: tuple[int, int] | None = None
        try:
            while not stop.is_set() and not handle.closed:
                frame = self.output.wait_newer(seq, WAIT_S)
                if frame is None:
                    continue
                seq = frame.seq
                if size != frame.size:
                    if size is not None:
                        sender.close()  # type: ignore[attr-defined]
                        sender = ndi.Sender(self.source_name)  # type: ignore[attr-defined]
                    self._prepare(ndi, sender, frame)
                    size = frame.size
                sender.write_video(_rgba(frame).ravel())  # type: ignore[attr-defined]
                handle.sent(seq, frame.pixels.nbytes * 4 // 3)
                self.sent += 1
        except Exception:  # the thread is a task boundary: say it; the show goes on without NDI
            log.exception("NDI: sending %r failed; NDI output is off until the show restarts", self.source_name)
        finally:
            try:
                sender.close()  # type: ignore[attr-defined]
            except Exception as exc:  # closing a broken sender: nothing more to do with it
                log.debug("NDI: closing the sender: %s", exc)
            handle.close("left")

    def _prepare(self, ndi: object, sender: object, frame: StreamFrame) -> None:
        """(the sender thread) A video frame of this size at the output's rate; the sender opened."""
        width, height = frame.size
        video = ndi.VideoSendFrame()  # type: ignore[attr-defined]
        video.set_resolution(width, height)
        fps = self.output.spec.max_fps or 30.0
        video.set_frame_rate(fractions.Fraction(fps).limit_denominator(1001))
        video.set_fourcc(ndi.FourCC.RGBA)  # type: ignore[attr-defined]
        sender.set_video_frame(video)  # type: ignore[attr-defined]
        sender.open()  # type: ignore[attr-defined]


def _rgba(frame: StreamFrame) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2RGBA))
