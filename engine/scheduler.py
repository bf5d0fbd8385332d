"""The inference scheduler: a feeder thread, worker threads and two one-slot mailboxes.

The feeder reads the source whenever a worker is free and hands the frame, with the mix of that
moment, to the jobs mailbox (latest wins, nothing queues); workers run the stylizer and put the
newest finished picture in the results mailbox, which the render thread takes. Nothing polls: the
feeder waits on the mailbox's condition for a free worker and, when the source has nothing new, for
as long as the source says its next frame is away (``FrameSource.next_frame_in``), or until the loop
publishes a new state (``wake()``). Only a source that cannot say when (a camera) is asked again
every ``poll_s``. A still picture is restyled while a glide runs, so a slide glides like a film.

The scheduler owns the source's reads and the sequence numbers; the loop reads only the published
``newest_source_frame`` and ``overdue()`` (inference has owed a picture for too long), to show the
picture unstyled when a backend hangs.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.errors import SourceError
from engine.frame import Frame
from engine.pipeline import Stylizer, StylizeResult
from engine.sources.base import FrameSource
from engine.state import LoopState
from engine.stats import LiveStats
from engine.style import StyleMix

log = logging.getLogger(__name__)

T = TypeVar("T")

MIX_EPSILON = 1e-3  # a still picture is restyled once the mix has moved more than this
MAX_IDLE_WAIT_S = 1.0  # the feeder looks again at least this often (a hint can be wrong)
SLOW_NOT_HUNG = 3.0  # a backend is hung only when it owes a picture this many times its usual time
FIRST_PICTURE_PATIENCE_S = 2.0  # a fresh backend's first run warms up (allocations, autotuning): wait longer


class Mailbox(Generic[T]):
    """One-slot, latest-wins hand-over between threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.closed = False

    def put(self, item: T) -> T | None:
        """Store ``item``; the item it replaced if nobody had taken that one (a dropped frame), else None."""
        with self._cond:
            replaced, self._item = self._item, item
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The item, waiting up to ``timeout`` seconds (None: until one comes or the box is closed)."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._item is None and not self.closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            item, self._item = self._item, None
            if item is not None:
                self._cond.notify_all()  # a feeder waiting for room
            return item

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the slot has been taken; True if it is empty."""
        with self._cond:
            deadline = time.monotonic() + timeout
            while self._item is not None and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._item is None

    def open(self) -> None:
        with self._cond:
            self.closed = False
            self._item = None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class InOrderResults:
    """Finished pictures for the render thread in frame order; none thrown away for finishing late.

    Workers on consecutive frames finish in either order. A picture that finishes while an older frame
    is still in work waits for it (at most ``hold_s``, so one hung worker cannot hold the others back),
    then both are handed over, oldest first: each is shown and the picture never steps back in time.
    (Dropping the early finisher instead threw away about a sixth of all inference with two workers.)
    ``take()`` hands out the oldest waiting picture; more than ``capacity`` waiting drops the oldest."""

    def __init__(
        self, capacity: int, hold_s: float, on_drop: Callable[[], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = max(1, capacity)
        self.hold_s = hold_s
        self._on_drop = on_drop
        self._clock = clock
        self._cond = threading.Condition()
        self._in_work: set[int] = set()
        self._held: dict[int, tuple[float, StylizeResult]] = {}  # seq -> (finished at, result)
        self._ready: collections.deque[StylizeResult] = collections.deque()
        self.released_seq = -1  # the newest frame handed over
        self.closed = False

    def started(self, seq: int) -> None:
        """Frame ``seq`` was handed to the workers."""
        with self._cond:
            self._in_work.add(seq)

    def abandoned(self, seq: int) -> None:
        """Frame ``seq`` will never finish (replaced before a worker took it, or its worker crashed)."""
        with self._cond:
            self._in_work.discard(seq)
            self._release()

    def finished(self, seq: int, result: StylizeResult) -> None:
        """Frame ``seq`` is stylised: hand it over now, or once the older frames in work are."""
        with self._cond:
            self._in_work.discard(seq)
            if seq <= self.released_seq:  # held back too long: a newer picture was shown meanwhile
                self._on_drop()
                return
            self._held[seq] = (self._clock(), result)
            self._release()

    def _release(self) -> None:
        """Move every held picture that no older frame in work is waiting for to the ready queue."""
        now = self._clock()
        released = False
        while self._held:
            seq = min(self._held)
            t_done, result = self._held[seq]
            if any(s < seq for s in self._in_work) and now - t_done < self.hold_s:
                break
            del self._held[seq]
            self.released_seq = seq
            self._ready.append(result)
            released = True
            if len(self._ready) > self.capacity:
                self._ready.popleft()
                self._on_drop()
        if released:
            self._cond.notify_all()

    def take(self, timeout: float) -> StylizeResult | None:
        """The oldest picture handed over, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            deadline = self._clock() + timeout
            while True:
                self._release()
                if self._ready:
                    return self._ready.popleft()
                now = self._clock()
                if self.closed or now >= deadline:
                    return None
                wait = deadline - now
                if self._held:
                    wait = min(wait, max(0.001, min(t for t, _ in self._held.values()) + self.hold_s - now))
                self._cond.wait(wait)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Job:
    """One frame to stylise with the mix it was read with; ``run`` numbers the scheduler's start."""

    frame: Frame
    mix: StyleMix
    run: int = 0


class InferenceScheduler:
    """Feeds ``source`` frames through ``stylizer`` on ``workers`` threads; the newest result wins."""

    def __init__(
        self,
        source: FrameSource,
        stylizer: Stylizer,
        stats: LiveStats,
        state: Callable[[], LoopState],
        workers: int = 1,
        frame_budget_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 0.005,
    ) -> None:
        self.source = source
        self.stylizer = stylizer
        self.stats = stats
        self._state = state
        self._n_workers = max(1, workers)
        self.frame_budget_s = frame_budget_s
        self._clock = clock
        self.poll_s = poll_s
        self._jobs: Mailbox[Job] = Mailbox()
        self._results = self._new_results()
        self._run = 0  # which start() this is: a worker back from a hung backend drops an old run's frame
        self._threads: list[threading.Thread] = []
        self._running = False
        self._wake = threading.Condition()
        self._woken = False
        self._seq_lock = threading.Lock()
        self._next_seq = 0  # feeder only
        self._submitted_seq = -1  # under _seq_lock
        self._owed_since: float | None = None  # under _seq_lock: when inference began to owe a picture
        self._usual_s: float | None = None  # under _seq_lock: running mean of one job's time
        self._last_job_mix: StyleMix | None = None  # feeder only
        self.newest_source_frame: Frame | None = None  # written by the feeder, read by anyone
        self._source_failing = False  # feeder only: a failure streak is logged once

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._run += 1
        self._jobs.open()
        self._results = self._new_results()
        for i in range(self._n_workers):
            self._spawn(self._work, f"laterna-infer-{i}")
        self._spawn(self._feed, "laterna-feed")

    def _new_results(self) -> InOrderResults:
        return InOrderResults(self._n_workers, max(0.05, self.frame_budget_s / 2), self.stats.drop, self._clock)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop the feeder and the workers (a worker inside a hung backend is left behind after 5 s)."""
        self._running = False
        self._jobs.close()
        self._results.close()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads.clear()

    def wake(self) -> None:
        """The loop published a new state (a new target, a pause ended): look at it now."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    # -- render thread --------------------------------------------------------------------------------
    def take_result(self, timeout: float) -> StylizeResult | None:
        """The newest finished picture, waiting up to ``timeout`` seconds; None if none came."""
        return self._results.take(timeout)

    def overdue(self, now: float) -> bool:
        """True when inference owes a picture for longer than the frame budget and than ``SLOW_NOT_HUNG``
        times its usual time: hung, not merely slow (a GPU preset on a CPU must not flicker unstyled). Before
        the first picture the usual time is taken as ``FIRST_PICTURE_PATIENCE_S`` / ``SLOW_NOT_HUNG``."""
        with self._seq_lock:
            if self._owed_since is None:
                return False
            usual = FIRST_PICTURE_PATIENCE_S / SLOW_NOT_HUNG if self._usual_s is None else self._usual_s
            patience = max(self.frame_budget_s, SLOW_NOT_HUNG * usual)
            return now - self._owed_since > patience

    def excuse(self, now: float) -> None:
        """The loop showed something else meanwhile: count the debt from ``now`` again."""
        with self._seq_lock:
            if self._owed_since is not None:
                self._owed_since = now

    # -- workers ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            job = self._jobs.take()
            if job is None:
                continue
            results = self._results
            t0 = self._clock()
            try:
                result = self.stylizer.process(job.frame, job.mix)
            except Exception:  # a bug must not kill the worker; the loop falls back to passthrough
                log.exception("stylizer crashed on frame %d", job.frame.seq)
                self.stats.error()
                results.abandoned(job.frame.seq)
                continue
            if job.run != self._run:
                continue  # finished after the loop stopped and started again
            took = self._clock() - t0
            if result.styled:
                self.stats.model(result.model_ms)
            results.finished(job.frame.seq, result)
            with self._seq_lock:
                self._usual_s = took if self._usual_s is None else 0.9 * self._usual_s + 0.1 * took
                self._owed_since = None if results.released_seq >= self._submitted_seq else self._clock()

    # -- feeder ---------------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until ``wake()``."""
        with self._wake:
            if not self._woken and self._running:
                self._wake.wait(min(max(seconds, 0.0), MAX_IDLE_WAIT_S))
            self._woken = False

    def _feed(self) -> None:
        """Read the source whenever a worker is free; still pictures are restyled while a glide runs."""
        while self._running:
            state = self._state()
            if state.paused:
                self._sleep(MAX_IDLE_WAIT_S)  # the loop wakes us when the pause ends
                continue
            # wait for a free worker; if none frees up within half the frame budget, refresh the
            # pending frame anyway (latest wins), so a passthrough picture stays live while inference is stuck
            self._jobs.wait_empty(timeout=max(0.02, self.frame_budget_s / 2))
            if not self._running:
                return
            state = self._state()
            mix = state.mix_at(self._clock())
            frame = self._read_source()
            if frame is None:
                last = self.newest_source_frame
                if last is None or self._last_job_mix is None or mix.distance(self._last_job_mix) <= MIX_EPSILON:
                    self._sleep(self._until_next_frame(state))
                    continue
                # a still picture (slideshow, paused camera) must keep gliding: restyle it with the new mix
                frame = Frame(last.pixels, last.t_capture, self._number(), last.source)
            self._last_job_mix = mix
            with self._seq_lock:
                if self._owed_since is None:
                    self._owed_since = self._clock()
                self._submitted_seq = frame.seq
            self._results.started(frame.seq)
            replaced = self._jobs.put(Job(frame, mix, self._run))
            if replaced is not None:
                self.stats.drop()
                self._results.abandoned(replaced.frame.seq)

    def _until_next_frame(self, state: LoopState) -> float:
        try:
            wait = self.source.next_frame_in()
        except Exception:  # a hint must never stop the feeder
            log.exception("%s.next_frame_in failed", type(self.source).__name__)
            wait = None
        if wait is None:
            return self.poll_s
        if not state.glide.done(self._clock()):
            wait = min(wait, 0.05)  # a slow glide on a still picture: look again soon
        return wait

    def _number(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _read_source(self) -> Frame | None:
        """Feeder thread only: the newest source frame, numbered, or None."""
        try:
            frame = self.source.read()
        except SourceError as exc:
            self.stats.error()
            if not self._source_failing:
                log.warning("source failed: %s (said once until it recovers)", exc)
            self._source_failing = True
            return None
        if self._source_failing:
            log.info("source %s works again", self.source.name)
            self._source_failing = False
        if frame is None:
            return None
        frame = Frame(frame.pixels, frame.t_capture, self._number(), frame.source)
        self.newest_source_frame = frame
        if frame.source:
            self.stats.source = frame.source  # what is on screen now: camera, fallback, generator
        return frame
