"""Events other threads post to the frame loop (``FrameLoop.post``): plain, frozen data.

The loop applies them at the start of a tick (``engine.loop``), so no other thread ever touches loop
state and this module imports nothing of the loop's. Events that change only part of the target
(``SetStrength``, ``SetWarmth``, ``SetStyleWeight``) are applied to the loop's own target at that
moment, so a poster never has to guess what the target will be by then; ``FrameLoop.state`` publishes
the target and flags for readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.style import StyleMix
from engine.transition import Glide

if TYPE_CHECKING:
    import numpy as np


class Event:
    """Base of everything ``FrameLoop.post`` accepts."""


@dataclass(frozen=True)
class TargetChanged(Event):
    """Glide to a new mix over ``seconds`` (None: the loop's configured transition time)."""

    mix: StyleMix
    seconds: float | None = None
    ease: str | None = None
    label: str = ""


@dataclass(frozen=True)
class FollowGlide(Event):
    """Take over this glide exactly (its ``t0`` on the loop's clock): a render node follows the hub's
    decision, so every node passes through the same mix at the same moment."""

    glide: Glide
    label: str = ""


@dataclass(frozen=True)
class SetStrength(Event):
    """Glide the target's strength (0 = the unstyled picture .. 1) and keep its styles and warmth."""

    strength: float
    seconds: float | None = None


@dataclass(frozen=True)
class SetWarmth(Event):
    """Glide the target's colour temperature (-1 cold .. 1 warm) and keep its styles and strength."""

    warmth: float
    seconds: float | None = None


@dataclass(frozen=True)
class SetStyleWeight(Event):
    """Set one style's weight in the target (the others keep theirs, then all are renormalised)."""

    index: int
    weight: float
    seconds: float | None = None
    label: str = ""


@dataclass(frozen=True)
class SetSmoothing(Event):
    """Temporal smoothing amount of the stabiliser (0 = off .. <1)."""

    amount: float


@dataclass(frozen=True)
class SetTransition(Event):
    """Time (and optionally easing) of the next glides."""

    seconds: float
    ease: str | None = None


@dataclass(frozen=True)
class Blackout(Event):
    """Stop showing the picture (inference pauses): black, or a still ``slide`` image if given."""

    on: bool
    slide: Path | None = None


@dataclass(frozen=True)
class Freeze(Event):
    """Hold the picture on screen (inference pauses) until ``Freeze(False)``."""

    on: bool


@dataclass(frozen=True)
class Snapshot(Event):
    """Save the picture on screen as a PNG at ``path`` (written off the render thread)."""

    path: Path


@dataclass(frozen=True)
class SetWarp(Event):
    """Projector window ``output`` (0: the first) takes these keystone corners and mesh (None: none)."""

    output: int
    keystone: tuple[tuple[float, float], ...] | None = None
    mesh: tuple[tuple[tuple[float, float], ...], ...] | None = None


@dataclass(frozen=True)
class ShowStill(Event):
    """Every output shows ``pixels`` (RGB uint8, e.g. the projectors' test pattern) instead of the show's
    picture, until a ``ShowStill(None)``; the show's picture goes on being made underneath."""

    pixels: np.ndarray | None = None


@dataclass(frozen=True)
class SteerGenerator(Event):
    """Glide every generator source's latent walk to ``latent`` (if the show has one)."""

    latent: tuple[float, ...]
    seconds: float = 4.0


@dataclass(frozen=True)
class ReleaseGenerator(Event):
    """Let every generator source's walk glide back to dreaming freely over ``seconds``."""

    seconds: float = 8.0


@dataclass(frozen=True)
class SelectSource(Event):
    """Crossfade the picture to the source named ``name`` ("live", "generator") of the show's switch.

    ``seconds`` is this crossfade's length (None: the switch's own). A show without a switch, or without
    a source of that name, keeps its picture and says so at DEBUG (attract mode asks every show)."""

    name: str
    seconds: float | None = None


@dataclass(frozen=True)
class Stop(Event):
    """End the show after this tick."""
