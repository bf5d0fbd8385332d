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
from installation.server.stream_routes import StreamService
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


def start_colour_show(webrtc: dict | None = None, **streams: Any) -> ColourShow:
    """The show above; ``webrtc``: the ``streams.webrtc`` section (default: WebRTC off, so the page takes the
    JPEG websocket, the cheaper path for a CPU-rendered test), ``streams``: other keys of ``streams``."""
    settings = StreamsSettings(
        enabled=True,
        outputs=(StreamOutputSettings(name="main", width=WIDTH, height=HEIGHT, max_fps=0.0),),
        webrtc=webrtc if webrtc is not None else {"enabled": False},
        **streams,
    )
    sink = FanoutSink(settings.specs((WIDTH, HEIGHT)), max_viewers=settings.max_viewers)
    sink.open()
    director, posted = make_director()
    service = StreamService(sink, settings, title="Laterna XR test")
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
