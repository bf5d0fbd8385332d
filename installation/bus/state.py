"""The show's full state on the hub's clock: what every render node should be showing, as one value.

``ShowState`` is what the hub broadcasts several times a second (full state, not deltas, so a lost
message costs nothing): the glide in progress (from, to, start on the hub's clock, duration, easing),
the label, the glide time for the next changes, blackout, freeze, smoothing and the selected source.
``StateKeeper`` applies frame-loop events to it exactly as the loop does (``engine.loop``), so the
Director and the operator controls run unchanged above the bus. Pure code: no sockets, no threads.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from engine.events import (
    Blackout,
    Event,
    Freeze,
    SelectSource,
    SetSmoothing,
    SetStrength,
    SetStyleWeight,
    SetTransition,
    SetWarmth,
    TargetChanged,
)
from engine.style import StyleMix
from engine.transition import Glide
from installation.bus.codec import BusMessageError, mix_from_dict, mix_to_dict

STATE_EVENTS = (
    TargetChanged,
    SetStrength,
    SetWarmth,
    SetStyleWeight,
    SetTransition,
    SetSmoothing,
    Blackout,
    Freeze,
    SelectSource,
)  # what changes the state; other events (snapshot, generator steering) travel as themselves


@dataclasses.dataclass(frozen=True)
class ShowState:
    """See the module docstring. ``glide.t0`` is on the hub's clock; ``seq`` grows with every change."""

    glide: Glide
    seq: int = 0
    label: str = ""
    transition_s: float = 3.0
    ease: str = "smoothstep"
    blackout: bool = False
    frozen: bool = False
    smoothing: float | None = None
    source: str | None = None
    mode: str = ""

    @property
    def target(self) -> StyleMix:
        return self.glide.target

    def to_dict(self) -> dict[str, Any]:
        g = self.glide
        return {
            "seq": self.seq,
            "glide": {
                "start": mix_to_dict(g.start),
                "target": mix_to_dict(g.target),
                "t0": g.t0,
                "duration": g.duration,
                "ease": g.ease,
            },
            "label": self.label,
            "transition_s": self.transition_s,
            "ease": self.ease,
            "blackout": self.blackout,
            "frozen": self.frozen,
            "smoothing": self.smoothing,
            "source": self.source,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ShowState:
        try:
            g = data["glide"]
            glide = Glide(
                mix_from_dict(g["start"]),
                mix_from_dict(g["target"]),
                float(g["t0"]),
                float(g["duration"]),
                str(g["ease"]),
            )
            smoothing = data.get("smoothing")
            return cls(
                glide,
                int(data["seq"]),
                str(data.get("label", "")),
                float(data.get("transition_s", 3.0)),
                str(data.get("ease", "smoothstep")),
                bool(data.get("blackout", False)),
                bool(data.get("frozen", False)),
                None if smoothing is None else float(smoothing),
                data.get("source"),
                str(data.get("mode", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BusMessageError(f"not a show state: {exc}") from None


class StateKeeper:
    """Applies events to a ``ShowState`` at the time ``clock()`` says (the hub's clock). One owner thread."""

    def __init__(
        self,
        initial: StyleMix,
        transition_s: float = 3.0,
        ease: str = "smoothstep",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        now = clock()
        self.state = ShowState(Glide(initial, initial, now, 0.0, ease), _next_seq(0), "", transition_s, ease)

    def apply(self, event: Event) -> bool:
        """Apply one event; True if it is a state event (the state and its ``seq`` changed)."""
        s = self.state
        target = s.target
        changes: dict[str, Any]
        if isinstance(event, TargetChanged):
            changes = self._glide(event.mix, event.seconds, event.ease, event.label)
        elif isinstance(event, SetStrength):
            mix = dataclasses.replace(target, strength=min(max(event.strength, 0.0), 1.0))
            changes = self._glide(mix, event.seconds, None, s.label)
        elif isinstance(event, SetWarmth):
            changes = self._glide(dataclasses.replace(target, warmth=min(max(event.warmth, -1.0), 1.0)), event.seconds)
        elif isinstance(event, SetStyleWeight):
            if not 0 <= event.index < target.n_styles:
                return False
            weights = list(target.weights)
            weights[event.index] = min(max(float(event.weight), 0.0), 1.0)
            mix = StyleMix(tuple(weights), target.strength, target.warmth)
            changes = self._glide(mix, event.seconds, None, event.label or s.label)
        elif isinstance(event, SetTransition):
            changes = {"transition_s": max(0.0, float(event.seconds)), "ease": event.ease or s.ease}
        elif isinstance(event, SetSmoothing):
            changes = {"smoothing": float(event.amount)}
        elif isinstance(event, Blackout):
            changes = {"blackout": event.on}
        elif isinstance(event, Freeze):
            changes = {"frozen": event.on}
        elif isinstance(event, SelectSource):
            changes = {"source": event.name}
        else:
            return False
        self.state = dataclasses.replace(s, seq=_next_seq(s.seq), **changes)
        return True

    def _glide(
        self, mix: StyleMix, seconds: float | None, ease: str | None = None, label: str | None = None
    ) -> dict[str, Any]:
        s, now = self.state, self.clock()
        glide = Glide(s.glide.at(now), mix, now, s.transition_s if seconds is None else seconds, ease or s.ease)
        return {"glide": glide, "label": s.label if label is None else label}


def _next_seq(last: int) -> int:
    """Microseconds of wall time, never less than one more than ``last``: a restarted hub's states are newer."""
    return max(last + 1, time.time_ns() // 1000)
