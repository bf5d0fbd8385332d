"""The frame loop: joins a source, the stylizer and the sinks, and keeps time.

The main thread runs ``tick()`` (SDL wants the window on the main thread) and shows the newest
finished picture; the ``InferenceScheduler`` (engine.scheduler) reads the source and runs the
stylizer on its own threads, so capture, inference and display overlap. If inference owes a picture
for longer than ``frame_budget_s`` and than three times its usual time (a hung backend, not merely a
slow one), the source picture is shown unstyled so the show never freezes. Other threads talk to
the loop only through ``post(event)``; events are plain data (engine.events) that the loop applies
at the start of a tick, and the loop publishes what it has decided as one immutable ``LoopState``
(``loop.state``) for readers. Slow file work (snapshots, slides) runs on a ``FileWorker``, never on
the render thread.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import EngineError, SinkError
from engine.events import (
    Blackout,
    Event,
    FollowGlide,
    Freeze,
    ReleaseGenerator,
    SelectSource,
    SetSmoothing,
    SetStrength,
    SetStyleWeight,
    SetTransition,
    SetWarmth,
    SetWarp,
    ShowStill,
    Snapshot,
    SteerGenerator,
    Stop,
    TargetChanged,
)
from engine.files import FileWorker, read_still, write_png
from engine.frame import Frame
from engine.notice import Notice
from engine.pipeline import Stylizer
from engine.scheduler import InferenceScheduler
from engine.sinks.base import FrameSink
from engine.sources.base import FrameSource, Selectable, Steerable, find_all, find_first
from engine.state import LoopState
from engine.stats import LiveStats
from engine.style import StyleMix
from engine.transition import Glide

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _SlideLoaded(Event):
    """Posted by the file worker: the blackout slide ``path`` is ready as ``pixels``."""

    path: Path
    pixels: np.ndarray


class FrameLoop:
    def __init__(
        self,
        source: FrameSource,
        stylizer: Stylizer,
        sinks: list[FrameSink],
        initial: StyleMix,
        output_size: tuple[int, int],
        display_fps: float = 30.0,
        transition_s: float = 3.0,
        ease: str = "smoothstep",
        frame_budget_s: float = 0.5,
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
        max_events: int = 256,
    ) -> None:
        self.source = source
        self.stylizer = stylizer
        self.sinks = list(sinks)
        self._sink_notices: dict[str, Notice] = {}  # render thread only: sinks that are failing now
        self.output_size = output_size
        self.display_fps = display_fps
        self.frame_budget_s = frame_budget_s
        self.clock = clock
        self.stats = LiveStats(clock=clock)
        self.stats.resolution = stylizer.work_size
        self.stats.output_resolution = output_size
        self._state = LoopState(Glide(initial, initial, clock(), 0.0, ease), "", transition_s, ease)
        self.running = False
        self.last_tick = clock()
        self.on_tick: list[Callable[[FrameLoop], None]] = []  # main-thread hooks (watchdog, overlays)
        self._events: queue.Queue[Event] = queue.Queue(maxsize=max_events)
        self.scheduler = InferenceScheduler(
            source, stylizer, self.stats, lambda: self._state, workers, frame_budget_s, clock
        )
        self.files = FileWorker()
        self._on_screen: np.ndarray | None = None
        self._still: np.ndarray | None = None  # blackout picture: black or a slide
        self._slide: Path | None = None
        self._shown_still: np.ndarray | None = None  # ShowStill: shown instead of everything (a test pattern)
        self._stalled = False  # showing the picture unstyled because inference owes one
        self._stats_of: tuple[StyleMix | None, object] = (None, None)  # the mix and backend the stats show

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
    def state(self) -> LoopState:
        """The loop's published state (target, glide, flags): an immutable snapshot, safe from any thread."""
        return self._state

    @property
    def target(self) -> StyleMix:
        return self._state.target

    @property
    def label(self) -> str:
        return self._state.label

    @property
    def blackout(self) -> bool:
        return self._state.blackout

    @property
    def frozen(self) -> bool:
        return self._state.frozen

    @property
    def on_screen(self) -> np.ndarray | None:
        """The picture most recently handed to the sinks (RGB uint8), e.g. for a preview."""
        return self._on_screen

    def current_mix(self, now: float | None = None) -> StyleMix:
        return self._state.mix_at(self.clock() if now is None else now)

    # -- applying events (loop thread only) -----------------------------------------------------------
    def _publish(self, **changes: Any) -> None:
        self._state = dataclasses.replace(self._state, **changes)
        self.scheduler.wake()

    def _glide_to(self, mix: StyleMix, seconds: float | None, ease: str | None, label: str) -> None:
        now, state = self.clock(), self._state
        glide = Glide(
            state.mix_at(now), mix, now, state.transition_s if seconds is None else seconds, ease or state.ease
        )
        self._publish(glide=glide, label=label)

    def _apply(self, event: Event) -> None:
        target = self._state.target
        if isinstance(event, TargetChanged):
            self._glide_to(event.mix, event.seconds, event.ease, event.label)
        elif isinstance(event, FollowGlide):
            self._publish(glide=event.glide, label=event.label)
        elif isinstance(event, SetStrength):
            self._glide_to(
                dataclasses.replace(target, strength=min(max(event.strength, 0.0), 1.0)),
                event.seconds,
                None,
                self._state.label,
            )
        elif isinstance(event, SetWarmth):
            self._glide_to(
                dataclasses.replace(target, warmth=min(max(event.warmth, -1.0), 1.0)),
                event.seconds,
                None,
                self._state.label,
            )
        elif isinstance(event, SetStyleWeight):
            if not 0 <= event.index < target.n_styles:
                log.warning("style %d does not exist (the mix has %d); ignored", event.index, target.n_styles)
                return
            weights = list(target.weights)
            weights[event.index] = min(max(float(event.weight), 0.0), 1.0)
            self._glide_to(
                StyleMix(tuple(weights), target.strength, target.warmth),
                event.seconds,
                None,
                event.label or self._state.label,
            )
        elif isinstance(event, SetTransition):
            self._publish(transition_s=max(0.0, float(event.seconds)), ease=event.ease or self._state.ease)
        elif isinstance(event, SetSmoothing):
            stab = self.stylizer.stabilizer
            if stab is not None:
                stab.amount = min(max(float(event.amount), 0.0), 0.95)
        elif isinstance(event, Blackout):
            self._set_blackout(event.on, event.slide)
        elif isinstance(event, _SlideLoaded):
            if self._state.blackout and event.path == self._slide:
                self._still = event.pixels
        elif isinstance(event, Freeze):
            self._publish(frozen=event.on)
        elif isinstance(event, Snapshot):
            self.snapshot(Path(event.path))
        elif isinstance(event, SetWarp):
            apply_warp(self.sinks, event)
        elif isinstance(event, ShowStill):
            self._shown_still = event.pixels
        elif isinstance(event, (SteerGenerator, ReleaseGenerator, SelectSource)):
            apply_to_sources(self.source, event)
        elif isinstance(event, Stop):
            self.running = False
        else:
            log.warning("unknown event %s ignored", type(event).__name__)

    def _set_blackout(self, on: bool, slide: Path | None) -> None:
        """Black (or a still slide, read off the render thread) instead of the picture; inference rests."""
        self._still = None
        self._slide = Path(slide) if on and slide is not None else None
        if self._slide is not None:
            path, size = self._slide, self.output_size
            self.files.submit(lambda: self.post(_SlideLoaded(path, read_still(path, size))), f"slide {path}")
        self._publish(blackout=on)

    def snapshot(self, path: Path) -> bool:
        """Save the picture on screen as a PNG at ``path`` on the file worker; False if there is none yet."""
        pixels = self._on_screen
        if pixels is None:
            log.warning("snapshot asked before any frame was shown")
            return False

        def save() -> None:
            log.info("snapshot saved to %s", write_png(path, pixels))

        return self.files.submit(save, f"snapshot {path}")

    # -- one tick -----------------------------------------------------------------------------------
    def _present(self, pixels: np.ndarray, t_capture: float, styled: bool) -> None:
        w, h = self.output_size
        if (pixels.shape[1], pixels.shape[0]) != (w, h):
            pixels = cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LINEAR)
        self._on_screen = pixels
        frame = Frame(pixels, t_capture)
        for sink in self.sinks:
            notice = self._sink_notices.get(sink.name)
            try:
                sink.show(frame)
            except SinkError as exc:
                self.stats.error()
                if notice is None:
                    notice = self._sink_notices[sink.name] = Notice(log, clock=self.clock)
                notice.fail(f"sink {sink.name} failed: {exc}")  # said once, then a slow reminder
                continue
            if notice is not None and notice.clear(f"sink {sink.name} shows frames again"):
                del self._sink_notices[sink.name]
        self.stats.shown((self.clock() - t_capture) * 1000.0, styled)

    def _drain_events(self, wait: float = 0.0) -> None:
        """Apply every posted event; with ``wait`` > 0, first wait that long for one to come."""
        try:
            event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def tick(self) -> bool:
        """One step: events, the newest finished picture to the sinks, sink polls. False to stop."""
        now = self.clock()
        self.last_tick = now
        self._drain_events()
        state = self._state
        wait = 1.0 / self.display_fps if self.display_fps > 0 else 0.25
        if self._shown_still is not None:  # a test pattern, over blackout and freeze: projectors are being lined up
            self._present(self._shown_still, self.clock(), False)
            self._drain_events(wait)
        elif state.blackout:
            w, h = self.output_size
            if self._still is None or self._still.shape[:2] != (h, w):
                self._still = np.zeros((h, w, 3), np.uint8)
            self._present(self._still, self.clock(), False)
            self._drain_events(wait)  # rest until the next frame is due, or an event ends the blackout
        elif state.frozen:
            self._drain_events(wait)
        else:
            self._show_newest(wait)
        mix, backend = state.mix_at(now), self.stylizer.backend
        if mix is not self._stats_of[0] or backend is not self._stats_of[1]:  # a glide, or another backend
            self._stats_of = (mix, backend)
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

    def _show_newest(self, wait: float) -> None:
        """The newest stylised picture; the source picture unstyled if inference owes one for too long."""
        result = self.scheduler.take_result(timeout=wait)
        now = self.clock()
        if result is not None:
            if self._stalled and result.styled:
                log.info("stylised pictures are back")
                self._stalled = False
            self._present(result.frame.pixels, result.frame.t_capture, result.styled)
            return
        src = self.scheduler.newest_source_frame
        if src is None or not self.scheduler.overdue(now):
            return
        # inference is stuck or too slow: keep the picture alive, unstyled
        if not self._stalled:
            log.warning(
                "no stylised frame for %.1f s; showing the picture unstyled until one comes", self.frame_budget_s
            )
            self._stalled = True
        self._present(self.stylizer.unstyled(src), src.t_capture, False)
        self.scheduler.excuse(self.clock())

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.scheduler.start()

    def run(self, max_frames: int | None = None, duration: float | None = None) -> dict[str, Any]:
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
        """Stop the scheduler's threads and finish queued file work; the loop can be run again."""
        self.running = False
        self.scheduler.stop()
        self.files.close()


def apply_warp(sinks: list[FrameSink], event: SetWarp) -> None:
    """Give projector window ``event.output`` (counting only the windows that warp) its new corners and mesh."""
    from engine.sinks.capabilities import Warpable

    windows = [s for s in sinks if isinstance(s, Warpable)]
    if not 0 <= event.output < len(windows):
        log.warning("no projector window %d (the show has %d); warp ignored", event.output + 1, len(windows))
        return
    try:
        windows[event.output].set_keystone(event.keystone)
        windows[event.output].set_mesh(event.mesh)
    except EngineError as exc:  # a malformed grid: the window keeps its warp, the operator is told
        log.warning("projector %d: warp refused: %s", event.output + 1, exc)


def apply_to_sources(source: FrameSource, event: SteerGenerator | ReleaseGenerator | SelectSource) -> None:
    """Apply a source event to every source in the chain that can take it (the fallback's and attract
    mode's generators alike); a show without such a source says so at DEBUG."""
    if isinstance(event, SelectSource):
        switch = find_first(source, Selectable)
        if switch is None:
            log.debug("no source switch in this show; %r not selected", event.name)
        else:
            switch.select(event.name, event.seconds)
        return
    generators = find_all(source, Steerable)
    if not generators:
        log.debug("no steerable source in this show; %s ignored", type(event).__name__)
    for generator in generators:
        if isinstance(event, SteerGenerator):
            generator.steer(np.asarray(event.latent, np.float32), event.seconds)
        else:
            generator.release(event.seconds)
