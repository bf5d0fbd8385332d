"""A real server that streams a picture the test controls, and headless Chromium with WebGL, for the /xr tests.

``ColourShow``: a real ``FanoutSink`` (the engine's frame-out layer) fed by a painter thread that shows a
solid colour at ~20 frames a second (the test plays the frame loop's part, so it decides what the live
picture is), a real ``PromptServer`` with the real stream routes (``StreamService``) on port 0, and the
toy Director for the prompt box.

``xr_browser`` and ``install_iwer``: tools/xr_browser.py (headless Chromium with SwiftShader WebGL;
Meta's IWER as its WebXR runtime, injected by the browser, never served by the show), skipping the test
cleanly, saying what is missing, where they are not installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.frame import Frame
from engine.sinks.fanout import FanoutSink
from installation.server.prompt_server import PromptServer, ServerThread
from installation.server.settings import ServerSettings
from installation.server.stream_routes import RTC_PATH, StreamService
from installation.server.stream_settings import StreamOutputSettings, StreamsSettings
from tests.installation.prompts.toy_director import make_director
from tools.xr_browser import BrowserMissing, chromium
from tools.xr_browser import install_iwer as _install_iwer

WIDTH, HEIGHT = 160, 90


@dataclass
class ColourShow:
    sink: FanoutSink
    thread: ServerThread
    port: int
    posted: list  # what the toy Director posted to the engine (a prompt's look)
    colour: list[int] = field(default_factory=lambda: [200, 40, 40])
    shown: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _painter: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paint(self) -> None:
        seq = 0
        while not self._stop.wait(0.05):  # ~20 frames a second: the pace of a show's frame loop
            seq += 1
            pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            pixels[:] = self.colour
            self.sink.show(Frame(pixels, seq=seq))
            self.shown = seq

    def stop(self) -> None:
        self._stop.set()
        if self._painter is not None:
            self._painter.join(5)
        self.thread.stop()
        self.sink.close()


def start_colour_show(rtc: Any = None, **streams: Any) -> ColourShow:
    """The show above; ``rtc``: an async handler(ws) to serve at /rtc (WebRTC signalling), ``streams``: keys of
    the ``streams`` section."""
    settings = StreamsSettings(
        enabled=True,
        outputs=(StreamOutputSettings(name="main", width=WIDTH, height=HEIGHT, max_fps=0.0),),
        **streams,
    )
    sink = FanoutSink(settings.specs((WIDTH, HEIGHT)), max_viewers=settings.max_viewers)
    sink.open()
    director, posted = make_director()
    service = StreamService(sink, settings, title="Laterna XR test")
    if rtc is not None:
        service.add_websocket(RTC_PATH, "WebRTC signalling (the test's)", "rtc", rtc)
    server = PromptServer(
        director, ServerSettings(host="127.0.0.1", port=0, page_title="Laterna XR test"), streams=service
    )
    thread = ServerThread(server, background=[director.run])
    show = ColourShow(sink, thread, thread.start(), posted)
    show._painter = threading.Thread(target=show.paint, name="test-painter", daemon=True)
    show._painter.start()
    return show


def xr_browser(profile: Path) -> Any:
    """``tools.xr_browser.chromium``; skips, saying what is missing, without it."""
    try:
        return chromium(profile)
    except BrowserMissing as missing:
        pytest.skip(str(missing))


def install_iwer(driver: Any) -> str:
    """``tools.xr_browser.install_iwer``; skips, saying so, without npm's iwer."""
    try:
        return _install_iwer(driver)
    except BrowserMissing as missing:
        pytest.skip(str(missing))


def colour_webrtc(show_colour: Any) -> Any:
    """The other side of the /rtc signalling (docs/protocol.md) for a test: an aiortc peer that answers the
    page's offer with a video track of ``show_colour()`` (skips without aiortc). The real one is the show's
    WebRTC service; this one lets the page's WebRTC client be tested on its own."""
    aiortc = pytest.importorskip("aiortc", reason="aiortc is not installed (the [xr] extra)")
    import json

    from av import VideoFrame

    class ColourTrack(aiortc.VideoStreamTrack):
        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            pixels[:] = show_colour()
            frame = VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    async def answer(ws: Any) -> None:
        offer = json.loads(await ws.recv())
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer["sdp"], "offer"))
            pc.addTrack(ColourTrack())
            await pc.setLocalDescription(await pc.createAnswer())
            await ws.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))
            await ws.wait_closed()  # the page keeps the signalling socket open while it watches
        finally:
            await pc.close()

    return answer
