"""The frame-out layer: the shown picture fanned out to any number of stream outputs, never waiting.

``FanoutSink`` is a ``FrameSink`` like the projector window. The loop hands it each shown frame;
``show()`` only drops a reference into each ``StreamOutput``'s one-slot mailbox (latest frame wins:
a frame the output's worker has not taken yet is replaced and counted as dropped) and returns. Each
output has its own worker thread (``fanout-<name>``) that takes the newest frame, resizes it to the
output's size, paints the overlays if the output has them, and publishes it as a ``StreamFrame``
with the output's own sequence number. An output with no viewers does no work at all.

Consumers (a streaming HTTP response, a websocket, a WebRTC track, an NDI sender) are threads or
asyncio tasks. Each first registers as a viewer (``add_viewer`` -> ``ViewerHandle``, counted against
the sink's viewer cap, listed, closable by the operator), then waits for frames newer than the last
one it took:

- raw pictures: ``latest()``, ``wait_newer(seq, timeout)`` (blocking), ``await next_frame(seq, timeout)``;
- one shared JPEG per frame per output: ``jpeg(seq)`` encodes lazily on the first call and caches it;
  ``wait_newer_jpeg`` / ``await next_jpeg`` wait until the newest frame's JPEG is ready. While a JPEG
  viewer is registered (``add_viewer(..., jpeg=True)``) the worker encodes each frame itself, once,
  off the render thread and off the event loop, before waking the JPEG waiters.

A consumer reports what it delivered with ``handle.sent(seq, nbytes)`` (frames a viewer never got
count as that viewer's drops) and ``handle.skipped()`` (a frame it chose not to send, e.g. because
the client's socket is still full). ``stats()`` gives, per output: viewers, encode and resize ms,
bytes/s, frames published, dropped in the mailbox, skipped by the rate cap, and viewers' drops.

Threads: ``show``/``set_overlay`` come from the render thread (``set_overlay`` from any thread);
everything a consumer calls is thread-safe; ``ViewerHandle.close()`` may be called from any thread
and calls the ``on_close`` callback given at registration exactly once (the registrant makes that
callback safe to call from any thread, e.g. with ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from engine.errors import ConfigError, SinkError
from engine.frame import Frame, Pixels, uint8_pixels
from engine.sinks.base import FrameSink
from engine.sinks.painted_overlays import PaintedOverlays

log = logging.getLogger(__name__)

STATS_WINDOW_S = 5.0  # bytes/s and fps are measured over this many recent seconds
_TIMINGS_KEPT = 64  # encode/resize times averaged over this many recent frames


class ViewerLimit(SinkError):
    """The sink's viewer cap is reached; the message says so in words fit for the client."""


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """One stream output: its name, size (0: the shown frame's), rate cap (0: none), overlays, JPEG quality."""

    name: str
    width: int = 0
    height: int = 0
    max_fps: float = 0.0
    overlays: bool = False
    jpeg_quality: int = 80

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"stream output name must be letters, digits, - or _, got {self.name!r}")
        if (self.width == 0) != (self.height == 0) or self.width < 0 or self.height < 0:
            raise ConfigError(f"stream output {self.name}: width and height must both be > 0 or both 0")
        if self.max_fps < 0:
            raise ConfigError(f"stream output {self.name}: max_fps must be >= 0, got {self.max_fps}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"stream output {self.name}: jpeg_quality must be 1..100, got {self.jpeg_quality}")


@dataclasses.dataclass(frozen=True)
class StreamFrame:
    """One published picture of an output: its sequence number (1, 2, ... per output), the RGB pixels
    at the output's size (never modified after publishing), and when it was captured and shown."""

    seq: int
    pixels: Pixels
    t_capture: float
    t_shown: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


@dataclasses.dataclass(frozen=True)
class ViewerInfo:
    """A viewer as the operator panel lists it."""

    id: str
    kind: str
    peer: str
    output: str
    since: float  # the sink's clock() when it joined
    frames: int
    bytes: int
    dropped: int


class ViewerHandle:
    """One registered viewer of an output. ``close()`` (any thread, idempotent) unregisters it and calls
    the registrant's ``on_close(reason)`` once; consumers stop when ``closed`` is True."""

    def __init__(
        self, output: StreamOutput, kind: str, peer: str, on_close: Callable[[str], None] | None, jpeg: bool
    ) -> None:
        self.id = secrets.token_hex(4)
        self.kind = kind
        self.peer = peer
        self.output = output
        self.jpeg = jpeg
        self.since = output.clock()
        self._on_close = on_close
        self._lock = threading.Lock()
        self._closed = False
        self.reason = ""
        self.frames = 0
        self.bytes = 0
        self.dropped = 0
        self._last_seq = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def sent(self, seq: int, nbytes: int) -> None:
        """The consumer delivered frame ``seq`` (``nbytes`` on the wire); frames it never got count as dropped."""
        with self._lock:
            missed = max(0, seq - self._last_seq - 1) if self._last_seq else 0
            self._last_seq = max(self._last_seq, seq)
            self.frames += 1
            self.bytes += nbytes
            self.dropped += missed
        self.output._count_sent(nbytes, missed)

    def skipped(self, count: int = 1) -> None:
        """The consumer chose not to send ``count`` frame(s) (its client is still busy with an earlier one)."""
        with self._lock:
            self.dropped += count
        self.output._count_sent(0, count)

    def info(self) -> ViewerInfo:
        with self._lock:
            return ViewerInfo(
                self.id, self.kind, self.peer, self.output.name, self.since, self.frames, self.bytes, self.dropped
            )

    def close(self, reason: str = "closed") -> None:
        """Unregister; the first call runs ``on_close(reason)``. Safe from any thread, safe to repeat."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.reason = reason
        self.output._remove(self)
        if self._on_close is not None:
            try:
                self._on_close(reason)
            except Exception:  # the registrant's callback is its own boundary; the sink goes on
                log.exception("stream viewer %s (%s): closing failed", self.id, self.kind)

    def __enter__(self) -> ViewerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close("left")


class _ViewerCap:
    """The viewer count shared by a sink's outputs (0: no cap)."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ConfigError(f"streams: max_viewers must be >= 0, got {limit}")
        self.limit = limit
        self.count = 0
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            if self.limit and self.count >= self.limit:
                raise ViewerLimit(f"This show's streams are full ({self.limit} viewers). Try again later.")
            self.count += 1

    def release(self) -> None:
        with self.lock:
            self.count -= 1


class _AsyncWaiter:
    __slots__ = ("loop", "future", "jpeg")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], jpeg: bool) -> None:
        self.loop, self.future, self.jpeg = loop, future, jpeg


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def encode_jpeg(pixels: Pixels, quality: int) -> bytes:
    """RGB pixels as a baseline JPEG at ``quality`` (1-100)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SinkError(f"JPEG encoding failed for a {pixels.shape[1]}x{pixels.shape[0]} picture")
    return bytes(data)


class StreamOutput:
    """One output: its mailbox, worker, published frames, shared JPEGs, viewers and stats (module docstring)."""

    def __init__(
        self,
        spec: OutputSpec,
        cap: _ViewerCap,
        overlays: PaintedOverlays,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.clock = clock
        self._cap = cap
        self._overlays = overlays
        self._cond = threading.Condition()  # guards everything below but the encode lock's own work
        self._mailbox: Frame | None = None
        self._mailbox_t = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_due = -1e18
        self._seq = 0
        self._latest: StreamFrame | None = None
        self._previous: StreamFrame | None = None
        self._jpegs: dict[int, bytes] = {}  # seq -> JPEG, for the latest two frames
        self._jpeg_seq = 0  # the newest seq whose JPEG is ready
        self._encode_lock = threading.Lock()  # one encode at a time; a second asker waits and shares it
        self._viewers: dict[str, ViewerHandle] = {}
        self._jpeg_viewers = 0
        self._jpeg_waiters = 0  # threads blocked in wait_newer_jpeg
        self._async_waiters: list[_AsyncWaiter] = []
        # stats
        self._published = 0
        self._dropped = 0
        self._skipped = 0
        self._viewer_dropped = 0
        self._bytes_total = 0
        self._encodes = 0
        self._encode_ms: collections.deque[float] = collections.deque(maxlen=_TIMINGS_KEPT)
        self._resize_ms: collections.deque[float] = collections.deque(maxlen=_TIMINGS_KEPT)
        self._sent_log: collections.deque[tuple[float, int]] = collections.deque()
        self._publish_log: collections.deque[float] = collections.deque()

    # -- life ------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=f"fanout-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every viewer, wake every waiter (they get None), and join the worker. Idempotent."""
        for handle in list(self._viewers.values()):
            handle.close("the show is stopping")
        with self._cond:
            self._stopping = True
            self._mailbox = None
            thread, self._thread = self._thread, None
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for waiter in waiters:
            self._wake(waiter, None)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("stream output %s: its worker did not stop within %.0f s", self.name, timeout)

    # -- the render thread ---------------------------------------------------------------------------------
    def offer(self, frame: Frame, now: float) -> None:
        """Hand over a shown frame: into the mailbox if anyone watches and the rate cap allows. Never waits."""
        if not self._viewers and not self._jpeg_waiters and not self._async_waiters:
            return  # nobody watches: no work at all
        max_fps = self.spec.max_fps
        if max_fps > 0:
            period = 1.0 / max_fps
            if now < self._next_due:
                self._skipped += 1
                return
            # on average no faster than max_fps, yet a frame up to a quarter period early still counts, so a
            # jittery loop at exactly max_fps loses none; after a pause, no burst to catch up
            self._next_due = max(self._next_due + period, now + 0.75 * period)
        with self._cond:
            if self._stopping:
                return
            if self._mailbox is not None:
                self._dropped += 1  # the worker had not taken the previous one: newest wins
            self._mailbox, self._mailbox_t = frame, now
            self._cond.notify_all()

    # -- the worker ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._mailbox is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                frame, t_shown = self._mailbox, self._mailbox_t
                self._mailbox = None
            assert frame is not None
            try:
                self._prepare(frame, t_shown)
            except Exception:  # the worker is a task boundary: say it, drop this frame, go on
                log.exception("stream output %s: preparing a frame failed", self.name)

    def _prepare(self, frame: Frame, t_shown: float) -> None:
        t0 = time.perf_counter()
        pixels = frame.pixels
        w, h = self.spec.width, self.spec.height
        if w and (frame.width, frame.height) != (w, h):
            shrink = w * h < frame.width * frame.height
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            pixels = uint8_pixels(cv2.resize(pixels, (w, h), interpolation=interpolation))
        if self.spec.overlays:
            pixels = self._overlays.paint(pixels)
        resize_ms = (time.perf_counter() - t0) * 1000.0
        with self._cond:
            self._seq += 1
            published = StreamFrame(self._seq, pixels, frame.t_capture, t_shown)
            self._previous, self._latest = self._latest, published
            self._jpegs = {s: b for s, b in self._jpegs.items() if s == published.seq - 1}
            self._published += 1
            self._resize_ms.append(resize_ms)
            now = self.clock()
            self._publish_log.append(now)
            self._trim(now)
            want_jpeg = self._jpeg_viewers > 0 or self._jpeg_waiters > 0
            raw_waiters = [w for w in self._async_waiters if not w.jpeg]
            want_jpeg = want_jpeg or len(raw_waiters) < len(self._async_waiters)
            self._async_waiters = [w for w in self._async_waiters if w.jpeg]
            self._cond.notify_all()
        for waiter in raw_waiters:
            self._wake(waiter, published)
        if want_jpeg:
            self.jpeg(published.seq)

    def _publish_jpeg(self, seq: int, data: bytes) -> None:
        """(under the encode lock) ``data`` is frame ``seq``'s JPEG: cache it and wake the JPEG waiters."""
        with self._cond:
            frame = self._frame(seq)
            if frame is None:
                return
            self._jpegs[seq] = data
            if seq <= self._jpeg_seq:
                return
            self._jpeg_seq = seq
            jpeg_waiters = [w for w in self._async_waiters if w.jpeg]
            self._async_waiters = [w for w in self._async_waiters if not w.jpeg]
            self._cond.notify_all()
        for waiter in jpeg_waiters:
            self._wake(waiter, (frame, data))

    @staticmethod
    def _wake(waiter: _AsyncWaiter, value: Any) -> None:
        try:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future, value)
        except RuntimeError:  # that event loop has closed: nobody is waiting there any more
            pass

    # -- consumers -------------------------------------------------------------------------------------------
    def _frame(self, seq: int) -> StreamFrame | None:
        for frame in (self._latest, self._previous):
            if frame is not None and frame.seq == seq:
                return frame
        return None

    def latest(self) -> StreamFrame | None:
        """The newest published frame, or None before the first."""
        with self._cond:
            return self._latest

    def wait_newer(self, seq: int, timeout: float) -> StreamFrame | None:
        """Block until a frame newer than ``seq`` is published (then return the newest); None on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stopping:
                if self._latest is not None and self._latest.seq > seq:
                    return self._latest
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left) and time.monotonic() >= deadline:
                    break
            return None

    async def next_frame(self, seq: int, timeout: float | None = None) -> StreamFrame | None:
        """Await a frame newer than ``seq`` (the newest); None on timeout or when the output stops."""
        result = await self._await(seq, timeout, jpeg=False)
        return result if isinstance(result, StreamFrame) else None

    def jpeg(self, seq: int) -> bytes | None:
        """Frame ``seq``'s JPEG, encoded once for everyone (the first asker encodes; the rest share it); None
        when that frame is no longer held (only the newest two are)."""
        with self._cond:
            data = self._jpegs.get(seq)
            frame = self._frame(seq)
        if data is not None or frame is None:
            return data
        with self._encode_lock:
            with self._cond:
                data = self._jpegs.get(seq)
            if data is not None:
                return data
            t0 = time.perf_counter()
            data = encode_jpeg(frame.pixels, self.spec.jpeg_quality)
            ms = (time.perf_counter() - t0) * 1000.0
            with self._cond:
                self._encodes += 1
                self._encode_ms.append(ms)
            self._publish_jpeg(seq, data)
            return data

    def wait_newer_jpeg(self, seq: int, timeout: float) -> tuple[StreamFrame, bytes] | None:
        """Block until the JPEG of a frame newer than ``seq`` is ready; (frame, JPEG), or None on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._jpeg_waiters += 1
            try:
                while not self._stopping:
                    if self._jpeg_seq > seq:
                        frame = self._frame(self._jpeg_seq)
                        data = self._jpegs.get(self._jpeg_seq)
                        if frame is not None and data is not None:
                            return frame, data
                    if self._latest is not None and self._latest.seq > seq and self._jpeg_seq < self._latest.seq:
                        target = self._latest.seq  # published before anyone asked for its JPEG: encode it
                        self._cond.release()
                        try:
                            self.jpeg(target)
                        finally:
                            self._cond.acquire()
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                return None
            finally:
                self._jpeg_waiters -= 1

    async def next_jpeg(self, seq: int, timeout: float | None = None) -> tuple[StreamFrame, bytes] | None:
        """Await the JPEG of a frame newer than ``seq``: (frame, JPEG), or None on timeout or stop. The event
        loop never encodes: a frame nobody encoded yet is encoded in a worker thread."""
        with self._cond:
            latest = self._latest
            ready = self._jpegs.get(latest.seq) if latest is not None else None
        if latest is not None and latest.seq > seq:
            if ready is not None:
                return latest, ready
            if not self._jpeg_viewers:  # the worker is not encoding for us: do it off the event loop
                data = await asyncio.to_thread(self.jpeg, latest.seq)
                if data is not None:
                    return latest, data
        result = await self._await(seq, timeout, jpeg=True)
        return result if isinstance(result, tuple) else None

    async def _await(self, seq: int, timeout: float | None, jpeg: bool) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        waiter = _AsyncWaiter(loop, future, jpeg)
        with self._cond:
            if self._stopping:
                return None
            latest = self._latest
            if not jpeg and latest is not None and latest.seq > seq:
                return latest
            if jpeg and self._jpeg_seq > seq:
                frame, data = self._frame(self._jpeg_seq), self._jpegs.get(self._jpeg_seq)
                if frame is not None and data is not None:
                    return frame, data
            self._async_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            with self._cond:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    # -- viewers -----------------------------------------------------------------------------------------------
    def add_viewer(
        self, kind: str, peer: str = "", on_close: Callable[[str], None] | None = None, jpeg: bool = False
    ) -> ViewerHandle:
        """Register a viewer (``kind`` e.g. "mjpeg", "jpeg-ws", "webrtc", "ndi"; ``peer`` what the operator
        sees, e.g. an address); ``jpeg`` asks the worker to encode every frame for it. Raises ``ViewerLimit``."""
        self._cap.acquire()
        handle = ViewerHandle(self, kind, peer, on_close, jpeg)
        with self._cond:
            self._viewers[handle.id] = handle
            if jpeg:
                self._jpeg_viewers += 1
        log.info("stream %s: %s viewer %s joined (%d now)", self.name, kind, handle.id, len(self._viewers))
        return handle

    def _remove(self, handle: ViewerHandle) -> None:
        with self._cond:
            if self._viewers.pop(handle.id, None) is None:
                return
            if handle.jpeg:
                self._jpeg_viewers -= 1
            left = len(self._viewers)
            self._cond.notify_all()  # a consumer blocked in wait_newer sees handle.closed sooner
        self._cap.release()
        log.info("stream %s: viewer %s left (%s; %d now)", self.name, handle.id, handle.reason, left)

    def viewers(self) -> list[ViewerInfo]:
        with self._cond:
            handles = list(self._viewers.values())
        return [h.info() for h in handles]

    def viewer(self, viewer_id: str) -> ViewerHandle | None:
        with self._cond:
            return self._viewers.get(viewer_id)

    # -- stats -------------------------------------------------------------------------------------------------
    def _count_sent(self, nbytes: int, missed: int) -> None:
        with self._cond:
            now = self.clock()
            self._bytes_total += nbytes
            self._viewer_dropped += missed
            if nbytes:
                self._sent_log.append((now, nbytes))
            self._trim(now)

    def _trim(self, now: float) -> None:
        horizon = now - STATS_WINDOW_S
        while self._sent_log and self._sent_log[0][0] < horizon:
            self._sent_log.popleft()
        while self._publish_log and self._publish_log[0] < horizon:
            self._publish_log.popleft()

    def stats(self) -> dict[str, Any]:
        """Viewers, fps, encode/resize ms (mean of recent frames), bytes/s, and the drop counters."""
        with self._cond:
            now = self.clock()
            self._trim(now)
            latest = self._latest
            width, height = latest.size if latest is not None else (self.spec.width, self.spec.height)
            return {
                "name": self.name,
                "width": width,
                "height": height,
                "max_fps": self.spec.max_fps,
                "viewers": len(self._viewers),
                "fps": len(self._publish_log) / STATS_WINDOW_S,
                "frames": self._published,
                "dropped": self._dropped,
                "skipped": self._skipped,
                "viewer_dropped": self._viewer_dropped,
                "encodes": self._encodes,
                "encode_ms": float(np.mean(self._encode_ms)) if self._encode_ms else 0.0,
                "resize_ms": float(np.mean(self._resize_ms)) if self._resize_ms else 0.0,
                "bytes_total": self._bytes_total,
                "bytes_per_s": sum(n for _, n in self._sent_log) / STATS_WINDOW_S,
            }


class FanoutSink(FrameSink):
    """The shown picture to every stream output; see the module docstring."""

    name = "streams"

    def __init__(
        self, outputs: Sequence[OutputSpec], max_viewers: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not outputs:
            raise ConfigError("streams: at least one output is needed")
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise ConfigError(f"streams: output names must differ, got {names}")
        self.clock = clock
        self.overlays = PaintedOverlays()
        self._cap = _ViewerCap(max_viewers)
        self.outputs: dict[str, StreamOutput] = {
            o.name: StreamOutput(o, self._cap, self.overlays, clock) for o in outputs
        }
        self._open = False

    @property
    def max_viewers(self) -> int:
        return self._cap.limit

    @property
    def default(self) -> StreamOutput:
        """The first output in the config: what ``/stream.mjpg`` serves when no output is named."""
        return next(iter(self.outputs.values()))

    def output(self, name: str | None = None) -> StreamOutput:
        """The output called ``name`` (None or "": the default); SinkError naming the choices if there is none."""
        if not name:
            return self.default
        try:
            return self.outputs[name]
        except KeyError:
            raise SinkError(f"no stream output {name!r}; there are {sorted(self.outputs)}") from None

    def open(self) -> None:
        for output in self.outputs.values():
            output.start()
        self._open = True

    def show(self, frame: Frame) -> None:
        now = self.clock()
        for output in self.outputs.values():
            output.offer(frame, now)

    def close(self) -> None:
        for output in self.outputs.values():
            output.stop()
        self._open = False

    # -- overlays (the Overlays capability: join hint, stats) ------------------------------------------------
    def set_overlay(
        self,
        name: str,
        lines: Sequence[str] | None,
        position: str = "bottom",
        image: np.ndarray | None = None,
        size_px: int = 0,
    ) -> None:
        """As the projector window's: drawn only on outputs with ``overlays`` on."""
        self.overlays.set(name, lines, position, image, size_px)

    @property
    def overlays_visible(self) -> bool:
        return self.overlays.visible

    @overlays_visible.setter
    def overlays_visible(self, visible: bool) -> None:
        self.overlays.visible = visible

    # -- viewers and stats, across outputs --------------------------------------------------------------------
    @property
    def viewer_count(self) -> int:
        return self._cap.count

    def viewers(self) -> list[ViewerInfo]:
        return [info for output in self.outputs.values() for info in output.viewers()]

    def close_viewer(self, viewer_id: str, reason: str = "closed by the operator") -> bool:
        """Close the viewer with ``viewer_id`` on whichever output it watches; False if there is none."""
        for output in self.outputs.values():
            handle = output.viewer(viewer_id)
            if handle is not None:
                handle.close(reason)
                return True
        return False

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per output name: ``StreamOutput.stats()``."""
        return {name: output.stats() for name, output in self.outputs.items()}
