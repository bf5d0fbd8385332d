"""Gliding from one ``StyleMix`` to another over a set time with easing: the picture never jumps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.sources.pacing import smoothstep
from engine.style import StyleMix

EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "smoothstep": smoothstep,
    "ease-in-out": lambda t: 4 * t * t * t if t < 0.5 else 1 - (-2 * t + 2) ** 3 / 2,
}


def easing(name: str) -> Callable[[float], float]:
    try:
        return EASINGS[name]
    except KeyError:
        raise ConfigError(f"unknown easing {name!r}; expected one of {sorted(EASINGS)}") from None


@dataclass(frozen=True)
class Glide:
    """A transition that starts at ``t0`` from ``start`` and reaches ``target`` at ``t0 + duration``."""

    start: StyleMix
    target: StyleMix
    t0: float
    duration: float
    ease: str = "smoothstep"

    def progress(self, now: float) -> float:
        if self.duration <= 0:
            return 1.0
        return min(max((now - self.t0) / self.duration, 0.0), 1.0)

    def at(self, now: float) -> StyleMix:
        progress = self.progress(now)
        if progress >= 1.0 and sum(self.target.weights) > 0:
            return self.target  # what lerp gives at the end, without a new mix every frame (and its checks)
        return self.start.lerp(self.target, easing(self.ease)(progress))

    def done(self, now: float) -> bool:
        return self.progress(now) >= 1.0
