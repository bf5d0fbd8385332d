"""The source interface (something that hands out the newest frame it has) and the capabilities a
source may add, named as small checkable protocols.

A wrapper source (transform, fallback, switch) lists the sources it wraps in ``children()``;
``walk(source)`` visits a whole chain, and ``find_all(source, Steerable)`` finds every source in it
that has a capability, so a new wrapper or a new capability is one new file, not a list of attribute
names to keep in sync.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar, cast, runtime_checkable

import numpy as np

from engine.frame import Frame

log = logging.getLogger(__name__)

MAX_CHAIN = 32  # a chain longer than this is a loop in the wiring, not a show


class FrameSource(abc.ABC):
    """A producer of frames. ``read()`` returns the newest frame, or None when none is ready yet.

    ``read()`` never blocks for long: a source with its own capture thread returns the newest frame
    it holds; a synthetic source renders one on demand. A source that has failed raises
    ``SourceError`` from ``read()``; the loop then shows a fallback and keeps asking.
    Sources are context managers; ``close()`` is idempotent.
    """

    name: str = "source"

    def open(self) -> None:
        """Acquire resources (device, file, thread). Called once before the first read."""

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """The newest frame, or None if nothing new is ready; raises SourceError when broken."""

    def children(self) -> Sequence[FrameSource]:
        """The sources this one wraps (none for a source that makes its own pictures)."""
        return ()

    def next_frame_in(self) -> float | None:
        """Seconds until ``read()`` will have a new frame (0: now); None if this source cannot say.

        The loop's feeder sleeps that long instead of asking again and again. A wrapper answers for
        the sources it wraps (the soonest of them) unless it overrides this."""
        waits = [child.next_frame_in() for child in self.children()]
        if not waits or any(w is None for w in waits):
            return None
        return min(w for w in waits if w is not None)

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- capabilities -------------------------------------------------------------------------------------
@runtime_checkable
class Steerable(Protocol):
    """A source whose pictures can be steered towards a latent (a generator's walk); thread-safe."""

    latent_dim: int

    def steer(self, latent: np.ndarray, seconds: float = 4.0) -> None: ...

    def release(self, seconds: float = 8.0) -> None: ...


@runtime_checkable
class Selectable(Protocol):
    """A source that switches between named inputs ("live", "generator"); thread-safe."""

    def select(self, name: str, seconds: float | None = None) -> bool: ...


C = TypeVar("C")


def walk(source: FrameSource) -> Iterator[FrameSource]:
    """``source`` and every source it wraps, breadth first (at most ``MAX_CHAIN``)."""
    queue: list[FrameSource] = [source]
    seen = 0
    while queue and seen < MAX_CHAIN:
        s = queue.pop(0)
        seen += 1
        yield s
        kids = s.children() if isinstance(s, FrameSource) else ()
        queue.extend(kids)


def find_all(source: FrameSource, capability: Callable[..., C]) -> list[C]:
    """Every source in the chain that has ``capability`` (a runtime-checkable protocol class); wrappers
    that have it themselves are not looked into. (Typed as a callable: mypy refuses a protocol as ``type[C]``.)"""
    kind = cast(type, capability)
    found: list[C] = []
    queue: list[FrameSource] = [source]
    seen = 0
    while queue and seen < MAX_CHAIN:
        s = queue.pop(0)
        seen += 1
        if isinstance(s, kind):
            found.append(cast(C, s))
        elif isinstance(s, FrameSource):
            queue.extend(s.children())
    return found


def find_first(source: FrameSource, capability: Callable[..., C]) -> C | None:
    """The first source in the chain that has ``capability``, or None."""
    found = find_all(source, capability)
    return found[0] if found else None
