"""``StyleMix``: what the picture should look like — weights over the model's styles and a strength.

Weights are kept normalised (they sum to 1, or are all zero for "no style"); ``strength`` blends the
stylised picture with the unstyled one (0 = camera picture, 1 = fully stylised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError


@dataclass(frozen=True)
class StyleMix:
    weights: tuple[float, ...]
    strength: float = 1.0
    warmth: float = 0.0  # colour temperature shift, -1 (cold) .. 1 (warm)

    def __post_init__(self) -> None:
        if any(not math.isfinite(w) or w < 0 for w in self.weights):
            raise ConfigError(f"style weights must be finite and non-negative, got {list(self.weights)}")
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise ConfigError(f"style strength must be between 0 and 1, got {self.strength}")
        if not (math.isfinite(self.warmth) and -1.0 <= self.warmth <= 1.0):
            raise ConfigError(f"warmth must be between -1 and 1, got {self.warmth}")
        total = sum(self.weights)
        if total > 0 and abs(total - 1.0) > 1e-6:
            object.__setattr__(self, "weights", tuple(w / total for w in self.weights))

    @classmethod
    def single(cls, n_styles: int, index: int, strength: float = 1.0, warmth: float = 0.0) -> StyleMix:
        w = [0.0] * n_styles
        w[index] = 1.0
        return cls(tuple(w), strength, warmth)

    @classmethod
    def from_names(cls, names: list[str], weights: dict[str, float], strength: float = 1.0) -> StyleMix:
        """Weights given by style name; unknown names are a ConfigError naming the known ones."""
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(f"unknown style(s) {unknown}; this model has {names}")
        return cls(tuple(float(weights.get(n, 0.0)) for n in names), strength)

    @property
    def n_styles(self) -> int:
        return len(self.weights)

    @property
    def is_unstyled(self) -> bool:
        return self.strength <= 0.0 or sum(self.weights) <= 0.0

    def lerp(self, other: StyleMix, t: float) -> StyleMix:
        """The mix a fraction t of the way from self to other (t in [0, 1])."""
        if other.n_styles != self.n_styles:
            raise ConfigError(f"cannot glide between mixes of {self.n_styles} and {other.n_styles} styles")
        t = min(max(t, 0.0), 1.0)
        a = self.weights if sum(self.weights) > 0 else other.weights
        b = other.weights if sum(other.weights) > 0 else self.weights
        return StyleMix(
            tuple((1 - t) * x + t * y for x, y in zip(a, b)),
            (1 - t) * self.strength + t * other.strength,
            (1 - t) * self.warmth + t * other.warmth,
        )

    def distance(self, other: StyleMix) -> float:
        return max(
            [abs(a - b) for a, b in zip(self.weights, other.weights)]
            + [abs(self.strength - other.strength), abs(self.warmth - other.warmth)]
        )

    def as_array(self) -> npt.NDArray[np.float32]:
        """The weights as a 1 x n_styles float32 array, the backends' ``style`` input: made once per mix and
        read-only, so a backend can tell the one it checked last by identity."""
        array: npt.NDArray[np.float32] | None = self.__dict__.get("_array")
        if array is None:
            array = np.asarray([self.weights], dtype=np.float32)
            array.flags.writeable = False
            object.__setattr__(self, "_array", array)
        return array

    def named(self, names: list[str]) -> dict[str, float]:
        return {n: round(w, 4) for n, w in zip(names, self.weights)}
