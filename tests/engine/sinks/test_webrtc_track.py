"""The WebRTC track fed from a stream output's mailbox, and aiortc's raised bitrate limits (needs aiortc)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine.frame import Frame
from engine.sinks.fanout import FanoutSink, OutputSpec

pytest.importorskip("aiortc", reason="aiortc is not installed (pip install '.[xr]')")


def _picture(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_the_track_hands_on_the_newest_frame_and_counts_the_skipped_ones():
    """recv() returns the newest published frame as an RGB VideoFrame with rising pts; frames published while the
    consumer was busy count as that viewer's drops."""
    from engine.sinks.webrtc_track import OutputTrack

    sink = FanoutSink([OutputSpec("main")])
    sink.open()
    output = sink.output()
    handle = output.add_viewer("webrtc", "test")
    track = OutputTrack(output, handle)

    async def go():
        sink.show(Frame(_picture(10)))
        first = await track.recv()
        for value in (20, 30, 40):  # the consumer is "busy": three frames, only the newest is taken
            seq = output.latest().seq if output.latest() else 0
            sink.show(Frame(_picture(value)))
            assert output.wait_newer(seq, 10) is not None
        second = await track.recv()
        return first, second

    try:
        first, second = asyncio.run(asyncio.wait_for(go(), 30))
    finally:
        handle.close()
        sink.close()
    assert int(first.to_ndarray(format="rgb24")[0, 0, 0]) == 10
    assert int(second.to_ndarray(format="rgb24")[0, 0, 0]) == 40
    assert second.pts > first.pts
    assert handle.info().dropped == 2 and handle.info().frames == 2


def test_a_closed_viewer_ends_the_track():
    """Once its viewer is closed (operator, shutdown) the track's recv() raises MediaStreamError: the sender stops."""
    from aiortc.mediastreams import MediaStreamError

    from engine.sinks.webrtc_track import OutputTrack

    sink = FanoutSink([OutputSpec("main")])
    sink.open()
    output = sink.output()
    handle = output.add_viewer("webrtc", "test")
    track = OutputTrack(output, handle)
    handle.close("closed by the operator")
    with pytest.raises(MediaStreamError):
        asyncio.run(track.recv())
    sink.close()


def test_set_bitrates_raises_aiortcs_encoder_limits():
    """After set_bitrates a new VP8/H.264 encoder starts at the given rate and congestion control may go up to the
    new maximum (aiortc's own cap is 1.5 Mb/s for VP8, 3 Mb/s for H.264)."""
    from aiortc.codecs import h264, vpx

    from engine.sinks.webrtc_track import set_bitrates

    saved = [(m.DEFAULT_BITRATE, m.MIN_BITRATE, m.MAX_BITRATE) for m in (vpx, h264)]
    try:
        set_bitrates(4_000_000, 1_000_000, 8_000_000)
        for encoder in (vpx.Vp8Encoder(), h264.H264Encoder()):
            assert encoder.target_bitrate == 4_000_000
            encoder.target_bitrate = 7_000_000  # what a REMB report would do
            assert encoder.target_bitrate == 7_000_000
            encoder.target_bitrate = 100_000
            assert encoder.target_bitrate == 1_000_000
    finally:
        (
            (vpx.DEFAULT_BITRATE, vpx.MIN_BITRATE, vpx.MAX_BITRATE),
            (h264.DEFAULT_BITRATE, h264.MIN_BITRATE, h264.MAX_BITRATE),
        ) = saved
