"""What the frame loop publishes for other threads: one immutable snapshot, swapped as a whole.

The loop is the only writer; it builds a new ``LoopState`` after applying events and replaces the
reference in one assignment, so a reader (the feeder thread, the operator page, OSC) always sees a
consistent state without a lock and can never change the loop's.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.style import StyleMix
from engine.transition import Glide


@dataclass(frozen=True)
class LoopState:
    """The glide in progress (its ``target`` is where the picture is heading) and the show's flags."""

    glide: Glide
    label: str = ""
    transition_s: float = 3.0
    ease: str = "smoothstep"
    blackout: bool = False
    frozen: bool = False

    @property
    def target(self) -> StyleMix:
        return self.glide.target

    @property
    def paused(self) -> bool:
        """True while no new pictures are wanted (blackout or freeze): the source and inference rest."""
        return self.blackout or self.frozen

    def mix_at(self, now: float) -> StyleMix:
        """The mix the picture has at clock time ``now``."""
        return self.glide.at(now)
