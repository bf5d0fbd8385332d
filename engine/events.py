"""Events other threads post to the frame loop (``FrameLoop.post``); the loop applies them at the
start of a tick, so no other thread ever touches loop state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.style import StyleMix

if TYPE_CHECKING:
    from engine.loop import FrameLoop

log = logging.getLogger(__name__)


class Event:
    def apply(self, loop: "FrameLoop") -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class TargetChanged(Event):
    """Glide to a new mix over ``seconds`` (None: the loop's configured transition time)."""

    mix: StyleMix
    seconds: float | None = None
    ease: str | None = None
    label: str = ""

    def apply(self, loop: "FrameLoop") -> None:
        loop.glide_to(self.mix, self.seconds, self.ease, self.label)


@dataclass(frozen=True)
class SetStrength(Event):
    strength: float
    seconds: float | None = None

    def apply(self, loop: "FrameLoop") -> None:
        target = loop.target
        loop.glide_to(StyleMix(target.weights, min(max(self.strength, 0.0), 1.0), target.warmth), self.seconds, None,
                      loop.label)


@dataclass(frozen=True)
class SetSmoothing(Event):
    """Temporal smoothing amount of the stabiliser (0 = off .. <1)."""

    amount: float

    def apply(self, loop: "FrameLoop") -> None:
        stab = loop.stylizer.stabilizer
        if stab is not None:
            stab.amount = min(max(float(self.amount), 0.0), 0.95)


@dataclass(frozen=True)
class SetTransition(Event):
    """Time (and optionally easing) of the next glides."""

    seconds: float
    ease: str | None = None

    def apply(self, loop: "FrameLoop") -> None:
        loop.transition_s = max(0.0, float(self.seconds))
        if self.ease:
            loop.ease = self.ease


@dataclass(frozen=True)
class Blackout(Event):
    """Stop showing the picture (inference pauses): black, or a still ``slide`` image if given."""

    on: bool
    slide: Path | None = None

    def apply(self, loop: "FrameLoop") -> None:
        loop.set_blackout(self.on, self.slide)


@dataclass(frozen=True)
class Freeze(Event):
    on: bool

    def apply(self, loop: "FrameLoop") -> None:
        loop.frozen = self.on


@dataclass(frozen=True)
class Snapshot(Event):
    """Save the picture on screen as a PNG at ``path``."""

    path: Path

    def apply(self, loop: "FrameLoop") -> None:
        loop.snapshot(Path(self.path))


def _children(source) -> list:
    kids = [getattr(source, a) for a in ("inner", "primary", "fallback") if getattr(source, a, None) is not None]
    inputs = getattr(source, "inputs", None)
    if isinstance(inputs, dict):
        kids += list(inputs.values())
    return kids


def find_sources(source, wanted: str) -> list:
    """Every source in a chain of wrappers (transform, fallback, switch) that has the method ``wanted``."""
    found, seen, stack = [], 0, [source]
    while stack and seen < 32:
        s = stack.pop(0)
        seen += 1
        if hasattr(s, wanted):
            found.append(s)
        else:
            stack += _children(s)
    return found


def find_source(source, wanted: str):
    """The first source in a chain of wrappers that has the method ``wanted``, or None."""
    found = find_sources(source, wanted)
    return found[0] if found else None


@dataclass(frozen=True)
class SteerGenerator(Event):
    """Glide a generator source's latent walk to ``latent`` (if the show has a generator source)."""

    latent: tuple[float, ...]
    seconds: float = 4.0

    def apply(self, loop: "FrameLoop") -> None:
        import numpy as np

        for generator in find_sources(loop.source, "steer"):  # the fallback's and attract mode's alike
            generator.steer(np.asarray(self.latent, np.float32), self.seconds)


@dataclass(frozen=True)
class ReleaseGenerator(Event):
    """Let every generator source's walk glide back to dreaming freely over ``seconds``."""

    seconds: float = 8.0

    def apply(self, loop: "FrameLoop") -> None:
        for generator in find_sources(loop.source, "release"):
            generator.release(self.seconds)


@dataclass(frozen=True)
class SelectSource(Event):
    """Crossfade the picture to the source named ``name`` ("live", "generator") of the show's switch.

    ``seconds`` is this crossfade's length (None: the switch's own). A show without a switch, or without
    a source of that name, keeps its picture and says so at DEBUG (attract mode asks every show)."""

    name: str
    seconds: float | None = None

    def apply(self, loop: "FrameLoop") -> None:
        switch = find_source(loop.source, "select")
        if switch is None:
            log.debug("no source switch in this show; %r not selected", self.name)
            return
        switch.select(self.name, self.seconds)


@dataclass(frozen=True)
class Stop(Event):
    def apply(self, loop: "FrameLoop") -> None:
        loop.running = False
