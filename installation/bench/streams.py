"""``laterna bench --tables streams``: what streaming the live picture costs the show, measured in one run.

One real show runs for the whole table: the built-in pattern source, the model through ONNX Runtime
(2 sessions x 1 thread, full strength), the frame loop uncapped, a ``FanoutSink`` and the visitor server
with the stream routes on loopback. A probe sink before the ``FanoutSink`` numbers every shown frame
and stamps the number into it as 16 black/white blocks.

- Latency, glass to glass: from the moment the loop hands a frame to its sinks (the probe notes the
  number and the time) to the moment a client on this machine has received and decoded it and read the
  stamp back. p50 / p99 per protocol. Probes are a table (``LATENCY_PROBES``), so other protocols
  (WebRTC, NDI) add a row by adding an entry.
- The show's fps and the process's CPU ms per shown frame with 0, 1, 4 and 10 viewers of each kind,
  side by side. The viewers run in a child process and only read bytes, so the show process's CPU
  time is what serving them costs (the shared encode, socket writes). ``VIEWER_KINDS`` is a table too.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.events import Stop
from engine.frame import Frame
from engine.loop import FrameLoop
from engine.manifest import load_manifest
from engine.pipeline import Stylizer
from engine.sinks.base import FrameSink
from engine.sinks.fanout import FanoutSink, OutputSpec
from engine.sources.pattern import PatternSource
from engine.style import StyleMix
from installation.bench import rtc_ndi
from installation.bench.timing import table

log = logging.getLogger(__name__)

SIZE = (640, 360)
BITS = 16
BLOCK = 16  # px per stamp block: big enough to survive JPEG and a resize


def stamp(pixels: np.ndarray, number: int) -> np.ndarray:
    """``pixels`` with ``number`` (mod 2**16) written as 16 black/white blocks along the top-left edge."""
    out = pixels.copy()
    for bit in range(BITS):
        out[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if number >> bit & 1 else 0
    return out


def read_stamp(pixels: np.ndarray) -> int:
    """The number ``stamp`` wrote (read from each block's centre)."""
    half = BLOCK // 2
    row = pixels[half - 2 : half + 2]
    number = 0
    for bit in range(BITS):
        centre = row[:, bit * BLOCK + half - 2 : bit * BLOCK + half + 2]
        if float(centre.mean()) > 127:
            number |= 1 << bit
    return number


class ShownAt(FrameSink):
    """Stands before the ``FanoutSink``: numbers each frame the loop shows, stamps the number into it (a copy,
    ~0.1 ms), notes the time, and hands it on. The model's picture is untouched but for the stamp's corner."""

    name = "shown-at"

    def __init__(self, inner: FanoutSink) -> None:
        self.inner = inner
        self.count = 0
        self.times: dict[int, float] = {}
        self._lock = threading.Lock()

    def show(self, frame: Frame) -> None:
        self.count += 1
        number = self.count % (1 << BITS)
        stamped = frame.with_pixels(stamp(frame.pixels, number))
        with self._lock:
            self.times[number] = time.monotonic()
            if len(self.times) > 4096:
                for key in list(self.times)[:2048]:
                    del self.times[key]
        self.inner.show(stamped)

    def at(self, number: int) -> float | None:
        with self._lock:
            return self.times.get(number)


@dataclasses.dataclass
class StreamBench:
    """The running show a probe or a viewer kind measures against."""

    loop: FrameLoop
    sink: FanoutSink
    port: int
    shown: ShownAt
    seconds: float

    def latency_ms(self, pixels: np.ndarray, t_decoded: float) -> float | None:
        """ms from the loop showing this picture to ``t_decoded``; None if its stamp is unknown (too old)."""
        t = self.shown.at(read_stamp(pixels))
        return None if t is None else (t_decoded - t) * 1000.0


def _decode(jpeg: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise ValueError("the stream sent something that is not a JPEG")
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)


def mjpeg_latency(bench: StreamBench) -> list[float]:
    """ms per frame, ``GET /stream.mjpg`` read by http.client on this machine, decoded with OpenCV."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", bench.port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    samples: list[float] = []
    t_end = time.monotonic() + bench.seconds
    try:
        while time.monotonic() < t_end:
            line = response.readline()
            if not line.startswith(b"--"):
                continue
            length = 0
            while (line := response.readline().strip()) != b"":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            pixels = _decode(response.read(length))
            ms = bench.latency_ms(pixels, time.monotonic())
            if ms is not None:
                samples.append(ms)
    finally:
        response.close()
        connection.close()
    return samples


def jpeg_ws_latency(bench: StreamBench) -> list[float]:
    """ms per frame, ``/stream/ws`` read by a websockets client on this machine, decoded with OpenCV."""
    from websockets.sync.client import connect

    samples: list[float] = []
    t_end = time.monotonic() + bench.seconds
    with connect(f"ws://127.0.0.1:{bench.port}/stream/ws", max_size=None) as ws:
        ws.recv(timeout=10)  # the hello
        while time.monotonic() < t_end:
            data = ws.recv(timeout=10)
            if isinstance(data, bytes):
                ms = bench.latency_ms(_decode(data), time.monotonic())
                if ms is not None:
                    samples.append(ms)
    return samples


# Latency probes by protocol name: each reads the running show's stream for ``bench.seconds`` and returns
# glass-to-glass ms per frame. Other stream kinds add theirs here (e.g. LATENCY_PROBES["webrtc"] = ...).
LATENCY_PROBES: dict[str, Callable[[StreamBench], list[float]]] = {
    "MJPEG": mjpeg_latency,
    "JPEG websocket": jpeg_ws_latency,
}
LATENCY_PROBES.update(rtc_ndi.latency_probes())  # WebRTC and NDI, where their extras are installed


# -- viewers in a child process (the show's process pays only for serving them) ---------------------------
def _mjpeg_reader(port: int, stop: Any) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: laterna-bench\r\n\r\n")
        s.settimeout(0.5)
        while not stop.is_set():
            try:
                if not s.recv(1 << 16):
                    return
            except TimeoutError:
                continue


def _ws_reader(port: int, stop: Any) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/stream/ws", max_size=None) as ws:
        while not stop.is_set():
            try:
                ws.recv(timeout=0.5)
            except TimeoutError:
                continue


VIEWER_KINDS: dict[str, Callable[[int, Any], None]] = {"MJPEG": _mjpeg_reader, "JPEG websocket": _ws_reader}
VIEWER_KINDS.update(rtc_ndi.viewer_kinds())


def _viewers_main(kind: str, port: int, count: int, stop: Any) -> None:
    """(the child process) ``count`` viewers of ``kind`` reading until ``stop`` is set."""
    reader = VIEWER_KINDS[kind]
    threads = [threading.Thread(target=reader, args=(port, stop), daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def measure_viewers(
    bench: StreamBench, kind: str, count: int, seconds: float, frames: Callable[[], int]
) -> dict[str, float]:
    """Frames a second (``frames()`` counts them) and this process's CPU ms per frame while ``count`` viewers of
    ``kind`` watch."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    child = None
    if count:
        child = ctx.Process(target=_viewers_main, args=(kind, bench.port, count, stop), daemon=True)
        child.start()
        if not _wait_for(lambda: bench.sink.viewer_count >= count, 30):
            log.warning("only %d of %d %s viewers joined", bench.sink.viewer_count, count, kind)
    time.sleep(min(1.0, seconds / 3))  # settle: a new viewer's first frames (a warm-up, not a wait on a condition)
    frames0, t0, c0 = frames(), time.perf_counter(), time.process_time()
    time.sleep(seconds)
    shown, wall, cpu = frames() - frames0, time.perf_counter() - t0, time.process_time() - c0
    watching = bench.sink.viewer_count
    stop.set()
    if child is not None:
        child.join(15)
        if child.is_alive():
            child.terminate()
    _wait_for(lambda: bench.sink.viewer_count == 0, 15)
    return {"fps": shown / wall, "cpu_ms": cpu * 1000.0 / max(1, shown), "viewers": watching}


class Feeder:
    """Hands ``sink`` a pre-rendered pattern picture 30 times a second from a thread: streaming alone, no model."""

    def __init__(self, sink: FrameSink, fps: float = 30.0) -> None:
        pattern = PatternSource(*SIZE, fps)
        self.pictures = [pattern.render(i / fps) for i in range(int(fps))]
        self.sink, self.period = sink, 1.0 / fps
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-feeder", daemon=True)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.sink.show(Frame(self.pictures[self.count % len(self.pictures)]))
            self.count += 1
            due += self.period
            self._stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _cost_rows(kind: str, results: dict[int, dict[str, float]], reference_cpu_ms: float) -> list[list[str]]:
    """Rows: viewers, fps, CPU ms/frame, per viewer (the first: encode + send; later ones: each), share."""
    rows = []
    base, one = results[0], results[1]
    for c, r in results.items():
        per_viewer = (r["cpu_ms"] - one["cpu_ms"]) / (c - 1) if c > 1 else r["cpu_ms"] - base["cpu_ms"]
        rows.append(
            [
                kind,
                str(c),
                f"{r['fps']:.1f}",
                f"{r['cpu_ms']:.2f}",
                f"{per_viewer:+.2f}" if c else "-",
                f"{per_viewer / reference_cpu_ms * 100:+.1f}%" if c else "-",
            ]
        )
    return rows


def streams_table(model: str | Path = "models/lantern.json", seconds: float = 4.0, quick: bool = False) -> str:
    """The streams tables (latency per protocol; fps and CPU with 0, 1, 4, 10 viewers); see the module docstring."""
    from installation.prompts.director import Director, DirectorSettings
    from installation.prompts.moderation import Moderator
    from installation.server.prompt_server import PromptServer, ServerThread
    from installation.server.rtc_settings import WebRtcSettings
    from installation.server.settings import ServerSettings
    from installation.server.stream_routes import StreamService
    from installation.server.stream_settings import StreamsSettings

    manifest = load_manifest(model)
    n = len(manifest.styles)
    options = BackendOptions(threads=1, sessions=2)
    stylizer = Stylizer([lambda: OnnxRuntimeBackend(manifest, options)], SIZE, None)
    source = PatternSource(*SIZE, fps=120.0)
    sink = FanoutSink([OutputSpec("main", *SIZE, max_fps=0.0, jpeg_quality=80)], max_viewers=50)
    shown = ShownAt(sink)
    mix = StyleMix(tuple([1.0 / n] * n), strength=1.0)
    loop = FrameLoop(source, stylizer, [shown], mix, SIZE, display_fps=0.0, workers=2, frame_budget_s=5.0)
    director = Director(lambda event: True, None, None, Moderator(), DirectorSettings())
    service = StreamService(sink, StreamsSettings(enabled=True, max_viewers=50, webrtc=WebRtcSettings(max_viewers=10)))
    server = PromptServer(director, ServerSettings(host="127.0.0.1", port=0), streams=service)
    thread = ServerThread(server)
    counts = (0, 1, 4) if quick else (0, 1, 4, 10)
    seconds = min(seconds, 2.0) if quick else seconds
    source.open()
    sink.open()
    port = thread.start()
    runner = threading.Thread(target=loop.run, name="bench-frame-loop", daemon=True)
    try:
        bench = StreamBench(loop, sink, port, shown, seconds)
        serving: dict[str, dict[int, dict[str, float]]] = {}
        with Feeder(shown) as feeder:  # streaming alone: 30 pictures a second, no model
            for kind in VIEWER_KINDS:
                serving[kind] = {c: measure_viewers(bench, kind, c, seconds, lambda: feeder.count) for c in counts}
        encode_alone = sink.stats()["main"]["encode_ms"]
        runner.start()
        _wait_for(lambda: loop.stats.frames > 20, 60)
        latency_rows = []
        for name, probe in LATENCY_PROBES.items():
            samples = probe(bench)
            if samples:
                q = np.percentile(samples, [50, 99])
                latency_rows.append([name, f"{q[0]:.1f}", f"{q[1]:.1f}", str(len(samples))])
            else:
                latency_rows.append([name, "-", "-", "0"])
        show_rows: list[list[str]] = []
        show_cpu_ms = 0.0
        for kind in VIEWER_KINDS:
            results = {c: measure_viewers(bench, kind, c, seconds, lambda: loop.stats.frames) for c in counts}
            show_rows += _cost_rows(kind, results, results[0]["cpu_ms"])
            show_cpu_ms = show_cpu_ms or results[0]["cpu_ms"]
        serving_rows = [row for kind, results in serving.items() for row in _cost_rows(kind, results, show_cpu_ms)]
        stats = sink.stats()["main"]
    finally:
        loop.post(Stop())
        if runner.is_alive():
            runner.join(30)
        thread.stop()
        sink.close()
        stylizer.close()
        source.close()
    w, h = SIZE
    return "\n".join(
        [
            table(
                f"Stream latency on loopback, {w}x{h}, JPEG q80: the loop shows a frame -> a client on this machine "
                f"has it decoded ({seconds:.0f} s each; p99 of so few frames is rough)",
                ["protocol", "p50 ms", "p99 ms", "frames"],
                latency_rows,
            ),
            "",
            table(
                f"The show with stream viewers: uncapped loop, {w}x{h}, the model at 2 sessions x 1 thread; viewers "
                f"in another process; {seconds:.0f} s each, side by side in one run",
                ["kind", "viewers", "show fps", "show CPU ms/frame", "per viewer", "of the show's CPU/frame"],
                show_rows,
            ),
            "",
            table(
                f"Serving alone (no model): {w}x{h} pictures at 30 fps to the same routes; CPU ms per frame of the "
                "show's process, and per viewer as a share of the show's CPU per frame (the table above, 0 viewers)",
                ["kind", "viewers", "fps", "CPU ms/frame", "per viewer", "of the show's CPU/frame"],
                serving_rows,
            ),
            "",
            f"Shared JPEG encode: {encode_alone:.2f} ms per {w}x{h} frame alone, {stats['encode_ms']:.2f} ms beside "
            "the model (once per frame for all viewers). 'per viewer': for 1 viewer, the first viewer's cost (the "
            "encode and its sends); for 4 and 10, each further viewer's.",
        ]
    )
