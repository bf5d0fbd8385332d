"""WebRTC and NDI rows of ``laterna bench --tables streams`` (registered there when the extras are installed).

- WebRTC latency: an aiortc client peer on this machine offers over ``/rtc`` like a browser page, receives
  the show's VP8 video and decodes it; the stamp read back from each decoded picture gives glass-to-glass ms.
- WebRTC viewers: aiortc client peers in the viewers' child process (their decoding is not the show's
  cost); the show pays one VP8 encode per viewer per frame it takes.
- NDI latency: an ``NdiSink`` on the show's stream output, an ``NdiSource`` in a child process on
  loopback (Laterna's unicast discovery config); the receiver notes when each picture arrived
  (CLOCK_MONOTONIC is shared by the processes of one machine).

The client peers use the machine's own host addresses (aioice leaves out 127.0.0.1): the bench needs a
network interface other than loopback, as any gallery machine has.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from installation.bench.streams import StreamBench

CONNECT_S = 30.0


async def _receive(port: int, on_picture: Callable[[np.ndarray, float], bool]) -> None:
    """Offer over /rtc, then hand each decoded picture (RGB) and when it was decoded to ``on_picture`` until
    it returns False."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from websockets.asyncio.client import connect

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    got_track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def _on_track(track: Any) -> None:
        if not got_track.done():
            got_track.set_result(track)

    try:
        await pc.setLocalDescription(await pc.createOffer())
        async with connect(f"ws://127.0.0.1:{port}/rtc", user_agent_header="laterna-bench") as ws:
            await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_S))
        if reply["type"] != "answer":
            raise RuntimeError(f"the show refused a WebRTC viewer: {reply}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        track = await asyncio.wait_for(got_track, CONNECT_S)
        while True:
            frame = await asyncio.wait_for(track.recv(), CONNECT_S)
            if not on_picture(frame.to_ndarray(format="rgb24"), time.monotonic()):
                return
    finally:
        await pc.close()


def webrtc_latency(bench: StreamBench) -> list[float]:
    """ms per frame, the show's WebRTC video decoded by an aiortc client peer on this machine."""
    samples: list[float] = []
    started: list[float] = []

    def on_picture(pixels: np.ndarray, t: float) -> bool:
        if not started:
            started.append(t)  # measure from the first frame on: connecting is not latency
        ms = bench.latency_ms(pixels, t)
        if ms is not None:
            samples.append(ms)
        return t - started[0] < bench.seconds

    asyncio.run(_receive(bench.port, on_picture))
    return samples


def webrtc_reader(port: int, stop: Any) -> None:
    """(a viewers' child process thread) One WebRTC viewer, decoding every frame, until ``stop`` is set."""
    asyncio.run(_receive(port, lambda pixels, t: not stop.is_set()))


def _ndi_receive(config_dir: str, name: str, seconds: float, out: Any) -> None:
    """(a child process) Read the NDI source ``name`` for ``seconds``; put [(stamp, t_arrived), ...] on ``out``."""
    from engine.ndi import use_config

    use_config(config_dir, ["127.0.0.1"])
    from engine.errors import SourceError
    from engine.sources.ndi import NdiSource
    from installation.bench.streams import read_stamp

    source = NdiSource(name, open_timeout=CONNECT_S)
    source.open()
    arrivals: list[tuple[int, float]] = []
    end = None
    try:
        while end is None or time.monotonic() < end:
            try:
                frame = source.read()
            except SourceError:
                frame = None
                if end is None and time.monotonic() > CONNECT_S * 2:
                    break
            if frame is None:
                time.sleep(0.002)
                continue
            end = end or time.monotonic() + seconds
            arrivals.append((read_stamp(frame.pixels), frame.t_capture))
    finally:
        source.close()
        out.put(arrivals)


def ndi_latency(bench: StreamBench) -> list[float]:
    """ms per frame, the show's stream output sent by ``NdiSink`` and received by ``NdiSource`` in another
    process on loopback."""
    from engine.ndi import use_config
    from engine.sinks.ndi import NdiSink

    folder = tempfile.mkdtemp(prefix="laterna-ndi-bench-")
    use_config(folder, ["127.0.0.1"])
    name = f"laterna-bench-{int(time.time())}"
    sink = NdiSink(bench.sink, name)
    sink.open()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_ndi_receive, args=(folder, name, bench.seconds, out), daemon=True)
    child.start()
    try:
        arrivals: list[tuple[int, float]] = out.get(timeout=CONNECT_S * 3)
    finally:
        child.join(15)
        sink.close()
    samples = []
    for number, t in arrivals:
        shown = bench.shown.at(number)
        if shown is not None:
            samples.append((t - shown) * 1000.0)
    return samples


def latency_probes() -> dict[str, Callable[[StreamBench], list[float]]]:
    """The probes whose extras are installed."""
    probes: dict[str, Callable[[StreamBench], list[float]]] = {}
    if importlib.util.find_spec("aiortc") is not None:
        probes["WebRTC (aiortc peer)"] = webrtc_latency
    if importlib.util.find_spec("cyndilib") is not None:
        probes["NDI"] = ndi_latency
    return probes


def viewer_kinds() -> dict[str, Callable[[int, Any], None]]:
    """The viewer kinds whose extras are installed."""
    return {"WebRTC": webrtc_reader} if importlib.util.find_spec("aiortc") is not None else {}
