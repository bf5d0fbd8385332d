"""The frame loop: joins a source, the stylizer and the sinks, and keeps time.

The main thread runs ``tick()`` (SDL wants the window on the main thread) and shows the newest
finished picture. A feeder thread reads the source whenever an inference worker is free and hands
the frame, with the mix of that moment, to a one-slot mailbox (latest wins, nothing queues); worker
threads run the stylizer, so capture, inference and display overlap.
If no finished picture arrives within ``frame_budget_s`` (a hung or very slow backend), the camera
picture is shown unstyled so the show never freezes. Other threads talk to the loop only through
``post(event)``; events are applied at the start of a tick.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import EngineError, SinkError, SourceError
from engine.events import Event
from engine.frame import Frame
from engine.pipeline import StylizeResult, Stylizer
from engine.sinks.base import FrameSink
from engine.sources.base import FrameSource
from engine.stats import LiveStats
from engine.style import StyleMix
from engine.transition import Glide

log = logging.getLogger(__name__)


class _Mailbox:
    """One-slot, latest-wins hand-over between threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self.closed = False

    def put(self, item) -> bool:
        """Store ``item``; True if it replaced one nobody had taken (a dropped frame)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float | None = None):
        with self._cond:
            if self._item is None and not self.closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self._cond.notify_all()  # a feeder waiting for room
            return item

    def wait_empty(self, timeout: float) -> bool:
        """Wait until the slot has been taken; True if it is empty."""
        with self._cond:
            if self._item is not None and not self.closed:
                self._cond.wait(timeout)
            return self._item is None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class FrameLoop:
    def __init__(self, source: FrameSource, stylizer: Stylizer, sinks: list[FrameSink], initial: StyleMix,
                 output_size: tuple[int, int], display_fps: float = 30.0, transition_s: float = 3.0,
                 ease: str = "smoothstep", frame_budget_s: float = 0.5, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic, max_events: int = 256) -> None:
        self.source = source
        self.stylizer = stylizer
        self.sinks = list(sinks)
        self.output_size = output_size
        self.display_fps = display_fps
        self.transition_s = transition_s
        self.ease = ease
        self.frame_budget_s = frame_budget_s
        self.clock = clock
        self.stats = LiveStats(clock=clock)
        self.stats.resolution = output_size
        self.glide = Glide(initial, initial, clock(), 0.0, ease)
        self.label = ""
        self.blackout = False
        self.frozen = False
        self.running = False
        self.last_tick = clock()
        self.on_tick: list[Callable[["FrameLoop"], None]] = []  # main-thread hooks (watchdog, overlays)
        self._events: queue.Queue[Event] = queue.Queue(maxsize=max_events)
        self._jobs = _Mailbox()
        self._results = _Mailbox()
        self._n_workers = max(1, workers)
        self._workers: list[threading.Thread] = []
        self._newest_seq = -1
        self._seq_lock = threading.Lock()
        self._last_result_t = clock()
        self._last_source_frame: Frame | None = None
        self._on_screen: np.ndarray | None = None
        self._black: np.ndarray | None = None
        self._next_seq = 0
        self._last_job_mix: StyleMix | None = None

    # -- thread-safe API -------------------------------------------------------------------------
    def post(self, event: Event) -> bool:
        """Queue an event for the next tick; False (and a warning) if the queue is full."""
        try:
            self._events.put_nowait(event)
            return True
        except queue.Full:
            log.warning("event queue full; dropped %s", type(event).__name__)
            return False

    @property
    def target(self) -> StyleMix:
        return self.glide.target

    @property
    def on_screen(self) -> np.ndarray | None:
        """The picture most recently handed to the sinks (RGB uint8), e.g. for a preview."""
        return self._on_screen

    def current_mix(self, now: float | None = None) -> StyleMix:
        return self.glide.at(self.clock() if now is None else now)

    # -- loop-thread state changes (called by events) -----------------------------------------------
    def glide_to(self, mix: StyleMix, seconds: float | None = None, ease: str | None = None, label: str = "") -> None:
        now = self.clock()
        self.glide = Glide(self.current_mix(now), mix, now, self.transition_s if seconds is None else seconds,
                           ease or self.ease)
        self.label = label

    def set_blackout(self, on: bool, slide: Path | None = None) -> None:
        """Black (or a still slide) instead of the picture; the source and inference pause meanwhile."""
        self.blackout = on
        self._black = None
        if on and slide is not None:
            img = cv2.imread(str(slide), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("slide %s cannot be read; showing black instead", slide)
            else:
                w, h = self.output_size
                self._black = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA)

    def snapshot(self, path: Path) -> Path | None:
        if self._on_screen is None:
            log.warning("snapshot asked before any frame was shown")
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(self._on_screen, cv2.COLOR_RGB2BGR))
        log.info("snapshot saved to %s", path)
        return path

    # -- workers -----------------------------------------------------------------------------------
    def _work(self) -> None:
        while self.running:
            job = self._jobs.take(timeout=0.2)
            if job is None:
                continue
            frame, mix = job
            try:
                result = self.stylizer.process(frame, mix)
            except Exception:  # a bug must not kill the worker; the loop falls back to passthrough
                log.exception("stylizer crashed on frame %d", frame.seq)
                self.stats.error()
                continue
            if result.styled:
                self.stats.model(result.model_ms)
            with self._seq_lock:
                if frame.seq <= self._newest_seq:
                    continue  # another worker already delivered a newer frame
                self._newest_seq = frame.seq
            if self._results.put(result):
                self.stats.drop()

    def _feed(self) -> None:
        """Read the source whenever a worker is free; still pictures are restyled while a glide runs."""
        while self.running:
            if self.blackout or self.frozen:
                time.sleep(0.01)
                continue
            # wait for a free worker; if none frees up within half the frame budget, refresh the
            # pending frame anyway (latest wins), so a passthrough picture stays live while inference is stuck
            self._jobs.wait_empty(timeout=max(0.02, self.frame_budget_s / 2))
            mix = self.current_mix()
            frame = self._read_source()
            if frame is None:
                last = self._last_source_frame
                if last is None or self._last_job_mix is None or mix.distance(self._last_job_mix) <= 1e-3:
                    time.sleep(0.002)
                    continue
                # a still picture (slideshow, paused camera) must keep gliding: restyle it with the new mix
                frame = Frame(last.pixels, last.t_capture, self._next_seq, last.source)
                self._next_seq += 1
            self._last_job_mix = mix
            if self._jobs.put((frame, mix)):
                self.stats.drop()

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self._jobs.closed = False
        for i in range(self._n_workers):
            t = threading.Thread(target=self._work, name=f"laterna-infer-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        feeder = threading.Thread(target=self._feed, name="laterna-feed", daemon=True)
        feeder.start()
        self._workers.append(feeder)

    # -- one tick -----------------------------------------------------------------------------------
    def _read_source(self) -> Frame | None:
        """Feeder thread only: the newest source frame, numbered, or None."""
        try:
            frame = self.source.read()
        except SourceError as exc:
            self.stats.error()
            log.warning("source failed: %s", exc)
            return None
        if frame is not None:
            frame = Frame(frame.pixels, frame.t_capture, self._next_seq, frame.source)
            self._next_seq += 1
            self._last_source_frame = frame
            if frame.source:
                self.stats.source = frame.source  # what is on screen now: camera, fallback, generator
        return frame

    def _present(self, pixels: np.ndarray, t_capture: float, styled: bool) -> None:
        w, h = self.output_size
        if (pixels.shape[1], pixels.shape[0]) != (w, h):
            pixels = cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LINEAR)
        self._on_screen = pixels
        frame = Frame(pixels, t_capture)
        for sink in self.sinks:
            try:
                sink.show(frame)
            except SinkError as exc:
                self.stats.error()
                log.warning("sink %s failed: %s", sink.name, exc)
        self.stats.shown((self.clock() - t_capture) * 1000.0, styled)

    def tick(self) -> bool:
        """One step: events, source, hand-over, newest picture to the sinks. False to stop."""
        now = self.clock()
        self.last_tick = now
        while True:
            try:
                self._events.get_nowait().apply(self)
            except queue.Empty:
                break
        mix = self.current_mix(now)
        wait = 1.0 / self.display_fps if self.display_fps > 0 else 0.25
        result: StylizeResult | None = None if (self.blackout or self.frozen) else self._results.take(timeout=wait)
        if self.blackout:
            if self._black is None or self._black.shape[:2] != (self.output_size[1], self.output_size[0]):
                self._black = np.zeros((self.output_size[1], self.output_size[0], 3), np.uint8)
            self._present(self._black, self.clock(), False)
            time.sleep(wait)
        elif self.frozen:
            time.sleep(wait)
        elif result is not None:
            self._last_result_t = self.clock()
            self._present(result.frame.pixels, result.frame.t_capture, result.styled)
        elif (not self.frozen and self._last_source_frame is not None
              and self.clock() - self._last_result_t > self.frame_budget_s):
            # inference is stuck or too slow: keep the picture alive, unstyled
            src = self._last_source_frame
            self._present(self.stylizer.prepare(src), src.t_capture, False)
            self._last_result_t = self.clock()
            log.warning("no stylised frame for %.1f s; showing the picture unstyled", self.frame_budget_s)
        self.stats.mix = mix.named(self.stylizer.style_names)
        self.stats.strength = mix.strength
        self.stats.backend = self.stylizer.backend_name
        self.stats.backend_errors = self.stylizer.errors
        for hook in self.on_tick:
            hook(self)
        keep_going = True
        for sink in self.sinks:
            try:
                keep_going = sink.poll() and keep_going
            except EngineError as exc:
                log.warning("sink %s poll failed: %s", sink.name, exc)
        return keep_going and self.running

    def run(self, max_frames: int | None = None, duration: float | None = None) -> dict:
        """Run until stopped (window closed, Stop event), ``max_frames`` shown, or ``duration`` seconds."""
        self.start()
        t_end = None if duration is None else self.clock() + duration
        try:
            while self.tick():
                if max_frames is not None and self.stats.frames >= max_frames:
                    break
                if t_end is not None and self.clock() >= t_end:
                    break
        finally:
            self.stop()
        return self.stats.snapshot()

    def stop(self) -> None:
        self.running = False
        self._jobs.close()
        for t in self._workers:
            t.join(timeout=5.0)
        self._workers.clear()
