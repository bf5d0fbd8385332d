"""Edge blending and projector colour: pure functions and one precomputed ``EdgeBlend``, no window.

Where two projectors overlap, each fades its picture out towards its edge so that the two lights add
up to the brightness of the rest of the wall. The fade ``f(t)`` (t from 0 at the edge to 1 at the inner
end of the zone) is the usual symmetric power curve, ``f(t) + f(1 - t) = 1``, so the two projectors'
light sums to a flat field when the ramp is applied in linear light. A projector shows
``encoded = linear ** (1 / gamma)``, so scaling linear light by ``f`` is scaling the encoded pixel by
``f ** (1 / gamma)``: one multiply of the pixel values, exact for a power-law projector.

Per projector: a colour gain (linear light, per channel) and a black level lift outside the blend
zones (the overlaps are lit by two projectors' black, the rest by one) are one 256-entry lookup table
per channel. Everything is computed once for a size; per frame ``apply`` is one LUT (only when gain
or black level are set) and one multiply on the blend strips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError
from engine.frame import Pixels

Region = tuple[int, int, int, int]  # x, y, width, height in canvas pixels


def ramp(t: npt.ArrayLike, curve: float = 2.0) -> npt.NDArray[np.float64]:
    """The fade in linear light at ``t`` in 0..1 across a zone: 0 at the edge, 1 inside; f(t) + f(1-t) = 1."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    low = 0.5 * (2.0 * t) ** curve
    high = 1.0 - 0.5 * (2.0 * (1.0 - t)) ** curve
    return np.where(t < 0.5, low, high)


@dataclass(frozen=True)
class Zones:
    """Blend zone widths at each edge of one output's part of the canvas, in canvas pixels."""

    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0

    def scaled(self, sx: float, sy: float) -> Zones:
        """The zones in the pixels of a picture ``sx`` x ``sy`` times the region's size."""
        return Zones(round(self.left * sx), round(self.right * sx), round(self.top * sy), round(self.bottom * sy))

    @property
    def any(self) -> bool:
        return bool(self.left or self.right or self.top or self.bottom)


def overlap_zones(regions: Sequence[Region], index: int) -> Zones:
    """The zones of output ``index`` where its region overlaps the others': each edge's zone reaches as
    far as the neighbour that covers that edge."""
    x, y, w, h = regions[index]
    left = right = top = bottom = 0
    for j, (ox, oy, ow, oh) in enumerate(regions):
        if j == index:
            continue
        if oy < y + h and y < oy + oh:  # side by side
            if ox < x < ox + ow:
                left = max(left, min(ox + ow, x + w) - x)
            if ox < x + w < ox + ow:
                right = max(right, x + w - max(ox, x))
        if ox < x + w and x < ox + ow:  # one above the other
            if oy < y < oy + oh:
                top = max(top, min(oy + oh, y + h) - y)
            if oy < y + h < oy + oh:
                bottom = max(bottom, y + h - max(oy, y))
    return Zones(left, right, top, bottom)


def _colour_lut(gamma: float, gain: Sequence[float], lift: float) -> npt.NDArray[np.uint8]:
    """256x1x3 table: linear = (v/255)^gamma * gain * (1 - lift) + lift, encoded back."""
    v = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
    channels = [np.clip(v * g * (1.0 - lift) + lift, 0.0, 1.0) ** (1.0 / gamma) for g in gain]
    return np.rint(np.stack(channels, axis=-1) * 255.0).astype(np.uint8).reshape(256, 1, 3)


class EdgeBlend:
    """The blend, gain and black level of one output at one picture size, precomputed; ``apply`` per frame."""

    def __init__(
        self,
        width: int,
        height: int,
        zones: Zones,
        curve: float = 2.0,
        gamma: float = 2.2,
        gain: Sequence[float] = (1.0, 1.0, 1.0),
        black_level: float = 0.0,
    ) -> None:
        if curve < 1 or not 1 <= gamma <= 3:
            raise ConfigError(f"blend: curve must be >= 1 and gamma from 1 to 3, got {curve}, {gamma}")
        if zones.left + zones.right > width or zones.top + zones.bottom > height:
            raise ConfigError(f"blend: zones {zones} do not fit a {width}x{height} picture")
        if len(gain) != 3 or not 0 <= black_level <= 0.25:
            raise ConfigError(f"blend: gain must be [r, g, b] and black_level 0..0.25, got {gain}, {black_level}")
        self.size = (width, height)
        self.zones = zones
        self.gamma = gamma
        plain = tuple(float(g) for g in gain) == (1.0, 1.0, 1.0)
        self._lut = None if plain else _colour_lut(gamma, gain, 0.0)
        self._lut_lifted = None if black_level == 0 and plain else _colour_lut(gamma, gain, black_level)
        self.black_level = black_level

        def fade(n: int) -> npt.NDArray[np.float32]:  # encoded-space multipliers, edge first
            t = (np.arange(n, dtype=np.float64) + 0.5) / n
            return (ramp(t, curve) ** (1.0 / gamma)).astype(np.float32)

        # (slice of rows, slice of columns, multiplier broadcast to that strip)
        self._strips: list[tuple[slice, slice, npt.NDArray[np.float32]]] = []
        z = zones
        if z.left:
            self._strips.append((slice(0, height), slice(0, z.left), _cols(fade(z.left), height)))
        if z.right:
            self._strips.append((slice(0, height), slice(width - z.right, width), _cols(fade(z.right)[::-1], height)))
        if z.top:
            self._strips.append((slice(0, z.top), slice(0, width), _rows(fade(z.top), width)))
        if z.bottom:
            self._strips.append((slice(height - z.bottom, height), slice(0, width), _rows(fade(z.bottom)[::-1], width)))

    @property
    def is_identity(self) -> bool:
        """True when nothing would change: no zones, unit gain, no black level."""
        return not self._strips and self._lut_lifted is None

    def linear_gain(self) -> npt.NDArray[np.float64]:
        """The blend's attenuation in linear light, HxW (for tests and the calibration pattern)."""
        w, h = self.size
        a = np.ones((h, w), dtype=np.float64)
        for rows, cols, mult in self._strips:
            a[rows, cols] *= mult[:, :, 0].astype(np.float64) ** self.gamma
        return a

    def apply(self, pixels: Pixels, out: Pixels) -> Pixels:
        """``pixels`` blended into ``out`` (same size, uint8 RGB; may not be ``pixels`` itself)."""
        z = self.zones
        h, w = pixels.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"blend built for {self.size}, got a {w}x{h} picture")
        if self._lut_lifted is None:
            np.copyto(out, pixels)
        elif not z.any or self.black_level == 0:
            cv2.LUT(pixels, self._lut_lifted, dst=out)
        else:  # gain everywhere, the black lift only outside the zones: two projectors' black is there already
            cv2.LUT(pixels, self._lut if self._lut is not None else _IDENTITY_LUT, dst=out)
            inner = (slice(z.top, h - z.bottom), slice(z.left, w - z.right))
            out[inner] = cv2.LUT(np.ascontiguousarray(pixels[inner]), self._lut_lifted)
        for rows, cols, mult in self._strips:
            strip = out[rows, cols]
            np.copyto(strip, cv2.multiply(strip, mult, dtype=cv2.CV_8U))
        return out


_IDENTITY_LUT = np.arange(256, dtype=np.uint8).reshape(256, 1, 1).repeat(3, axis=2)


def _cols(fade: npt.NDArray[np.float32], height: int) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.broadcast_to(fade[None, :, None], (height, fade.size, 3)))


def _rows(fade: npt.NDArray[np.float32], width: int) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.broadcast_to(fade[:, None, None], (fade.size, width, 3)))


@dataclass(frozen=True)
class BlendSpec:
    """What a projector window needs to build its ``EdgeBlend`` at whatever size it draws: the zones in
    canvas pixels, the ramp's curve, the projector's gamma, colour gain and black level."""

    zones: Zones = Zones()
    curve: float = 2.0
    gamma: float = 2.2
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    black_level: float = 0.0

    def build(self, width: int, height: int, region_size: tuple[int, int]) -> EdgeBlend:
        """The blend for a ``width`` x ``height`` picture of a region ``region_size`` canvas pixels big."""
        zones = self.zones.scaled(width / region_size[0], height / region_size[1])
        return EdgeBlend(width, height, zones, self.curve, self.gamma, self.gain, self.black_level)
