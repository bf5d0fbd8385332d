"""A WebRTC video track fed from a stream output's mailbox (aiortc; the ``[xr]`` extra).

``OutputTrack`` is what aiortc's ``RTCRtpSender`` pulls frames from: each ``recv()`` awaits the output's
next published frame (``StreamOutput.next_frame``; the event loop never blocks) and hands it on as an
``av.VideoFrame``. The sender encodes it (in a worker thread: aiortc runs its encoder in the loop's
executor) and only then asks for the next, so a peer whose encoder or network is slow simply takes a
newer frame next time: the frames it never took count as its drops (``ViewerHandle.sent``). Each peer
has its own track and encoder, so each WebRTC viewer costs one encode per frame it takes.

This module imports aiortc and PyAV; import it only where the extra is installed (``RtcService`` does
so on its first offer).

``set_bitrates`` raises aiortc's encoder bitrate limits. aiortc keeps them as module constants of its
VP8 and H.264 encoders (VP8: start 0.5, range 0.25-1.5 Mb/s; H.264: 1, 0.5-3 Mb/s): the starting value
is read when an encoder is created, the range clamps every congestion-control update (REMB). The
constants are per process, so every peer of this process shares one setting.
"""

from __future__ import annotations

import fractions
import logging
import time
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from engine.sinks.fanout import StreamOutput, ViewerHandle

log = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
WAIT_S = 1.0  # how long one recv() waits for a frame before it repeats the last one (a paused show)


def set_bitrates(start_bps: int, min_bps: int, max_bps: int) -> None:
    """aiortc's VP8 and H.264 encoders start at ``start_bps`` and stay within ``min_bps``..``max_bps``."""
    from aiortc.codecs import h264, vpx

    vpx.DEFAULT_BITRATE, vpx.MIN_BITRATE, vpx.MAX_BITRATE = start_bps, min_bps, max_bps
    h264.DEFAULT_BITRATE, h264.MIN_BITRATE, h264.MAX_BITRATE = start_bps, min_bps, max_bps


class OutputTrack(MediaStreamTrack):
    """The newest pictures of one ``StreamOutput`` as a video track, for one viewer (``handle``)."""

    kind = "video"

    def __init__(self, output: StreamOutput, handle: ViewerHandle) -> None:
        super().__init__()
        self.output = output
        self.handle = handle
        self._seq = 0
        self._t0: float | None = None
        self._last_pts = -1
        self._last: av.VideoFrame | None = None

    async def recv(self) -> Any:
        """The output's next frame (newer than the last one sent); the last one again while the show pauses."""
        while True:
            if self.readyState != "live" or self.handle.closed:
                raise MediaStreamError
            frame = await self.output.next_frame(self._seq, timeout=WAIT_S)
            if frame is not None:
                break
            if self._last is not None:  # nothing new: the viewer keeps its picture, the encoder its pace
                return self._stamp(self._last, None)
        self._seq = frame.seq
        self.handle.sent(frame.seq, 0)  # bytes are the encoder's business; frames skipped count as drops
        video = av.VideoFrame.from_ndarray(frame.pixels, format="rgb24")
        self._last = video
        return self._stamp(video, frame.t_shown)

    def _stamp(self, video: av.VideoFrame, t_shown: float | None) -> av.VideoFrame:
        """Presentation time on the 90 kHz clock from when the output showed the frame; always increasing."""

        t = time.monotonic() if t_shown is None else t_shown
        if self._t0 is None:
            self._t0 = t
        pts = max(self._last_pts + 1, int((t - self._t0) * VIDEO_CLOCK_RATE))
        self._last_pts = pts
        video.pts = pts
        video.time_base = VIDEO_TIME_BASE
        return video
