"""A real running show that streams, for the stream route tests: the engine's loop (pattern source, the tiny
model, headless) on a thread, a real PromptServer with the stream routes on port 0, and what the loop showed.

Also a plain MJPEG reader over ``http.client``, so the tests read the wire format themselves.
"""

from __future__ import annotations

import collections
import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from engine.events import Stop
from installation.config.schema import config_from_dict
from installation.control.show_control import LoopView, ShowControl
from installation.control.warning_log import WarningLog
from installation.server.prompt_server import PromptServer, ServerThread
from installation.server.settings import ServerSettings
from installation.server.stream_routes import StreamService
from installation.show import Show, build_show, open_show
from tests.installation.prompts.toy_director import make_director

WIDTH, HEIGHT = 160, 90


def wait_for(condition: Any, seconds: float = 30.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


@dataclass
class StreamingShow:
    show: Show
    server: PromptServer
    thread: ServerThread
    control: ShowControl
    port: int
    loop_thread: threading.Thread
    rendered: collections.deque = field(default_factory=lambda: collections.deque(maxlen=90))

    @property
    def streams(self) -> Any:
        return self.show.streams

    @property
    def frames(self) -> int:
        """Frames the loop has shown so far."""
        return int(self.show.loop.stats.frames)

    def closest_rendered(self, picture: np.ndarray) -> float:
        """The mean absolute difference between ``picture`` and the most alike of the recently shown frames, at
        a quarter of the size (what JPEG keeps: colour and structure, not the finest grain)."""
        shown = list(self.rendered)
        assert shown, "the loop has shown nothing yet"
        return min(difference(s, picture) for s in shown)

    def stop(self) -> None:
        self.thread.stop()
        self.show.loop.post(Stop())
        self.loop_thread.join(30)
        self.show.close()


def start_streaming_show(
    tiny_model: Any, tmp_path: Any, operator_token: str | None = None, **streams: Any
) -> StreamingShow:
    """The show above; ``streams`` overrides keys of the ``streams`` section."""
    section = {
        "enabled": True,
        "max_viewers": 30,
        "outputs": [
            {"name": "main", "max_fps": 0.0, "jpeg_quality": 90},
            {"name": "small", "width": 80, "height": 46, "max_fps": 10.0},
            {"name": "big", "width": 1920, "height": 1080, "max_fps": 0.0, "jpeg_quality": 100},  # fills sockets
        ],
        **streams,
    }
    cfg = config_from_dict(
        {
            "source": {"type": "pattern", "width": WIDTH, "height": HEIGHT, "fps": 30.0},
            "model": {"manifest": str(tiny_model.path), "sessions": 1},
            "pipeline": {"width": WIDTH, "height": HEIGHT, "workers": 1, "smoothing": 0.0},
            "style": {"start": {"moss": 1.0}, "strength": 0.0},  # the pattern itself: a picture with structure
            "display": {"type": "headless", "width": WIDTH, "height": HEIGHT, "fps": 30.0},
            "server": {"port": 0, "host": "127.0.0.1", "join_hint": False},
            "attract": {"enabled": False},
            "streams": section,
        },
        "streams-test.yaml",
    )
    show = build_show(cfg, headless=True)
    rendered: collections.deque = collections.deque(maxlen=90)

    def record(loop: Any) -> None:
        picture = loop.on_screen
        if picture is not None and (not rendered or rendered[-1] is not picture):
            rendered.append(picture)

    show.loop.on_tick.append(record)
    open_show(show)
    loop_thread = threading.Thread(target=show.loop.run, name="test-frame-loop", daemon=True)
    loop_thread.start()
    director, _ = make_director()
    control = ShowControl(
        LoopView.of(show.loop), director, ["ink", "ember", "moss"], tmp_path, WarningLog(), streams=show.streams
    )
    server = PromptServer(
        director,
        ServerSettings(host="127.0.0.1", port=0),
        control=control,
        operator_token=operator_token,
        streams=StreamService(show.streams, cfg.streams),
    )
    thread = ServerThread(server, background=[director.run])
    port = thread.start()
    running = StreamingShow(show, server, thread, control, port, loop_thread, rendered)
    assert wait_for(lambda: running.frames > 3, 60), "the show did not start showing frames"
    return running


class MjpegReader:
    """``GET /stream.mjpg`` read with http.client: each ``next()`` is (seq header, decoded RGB picture)."""

    def __init__(self, port: int, target: str = "/stream.mjpg", timeout: float = 20.0) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", target, headers={"User-Agent": "stream-test/1.0"})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def next(self) -> tuple[int, np.ndarray]:
        r = self.response
        line = r.readline()
        while line in (b"\r\n", b"\n"):
            line = r.readline()
        assert line.startswith(b"--laterna-frame"), line
        headers = {}
        while True:
            line = r.readline().strip()
            if not line:
                break
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg", headers
        data = r.read(int(headers["content-length"]))
        return int(headers["x-frame-seq"]), decode(data)

    def close(self) -> None:
        self.response.close()  # the response holds the socket too
        self.connection.close()


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures of one size, compared at a quarter of it."""
    size = (max(1, a.shape[1] // 4), max(1, a.shape[0] // 4))
    small_a = cv2.resize(a, size, interpolation=cv2.INTER_AREA).astype(np.int16)
    small_b = cv2.resize(b, size, interpolation=cv2.INTER_AREA).astype(np.int16)
    return float(np.mean(np.abs(small_a - small_b)))


def decode(jpeg: bytes) -> np.ndarray:
    """A JPEG as an RGB uint8 picture."""
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "not a JPEG"
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
