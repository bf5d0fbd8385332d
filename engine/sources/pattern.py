"""A built-in animated landscape that needs no camera and no files: the default source.

A sky that passes slowly through dawn, day, dusk and night, soft drifting colour clouds and a sun,
three ranges of hills moving at different speeds, furrows and trees on the nearest ones and a fixed
paper grain. Style networks need edges and texture to look good; the hills, furrows and trees give
them crisp anti-aliased edges, the grain gives flat areas something to work on.

The smooth parts are computed at 1/8 size (at most 160 wide) and enlarged; only the polygons are drawn at full size,
so a 640x360 frame costs about a millisecond. The sky moves slowly, so it is computed exactly every
``SKY_KEY_S`` seconds and blended between those keys on its small grid (a cloud moves under 1% of the
width between keys; a third of a 640x360 frame's cost saved). ``render(t)`` is a pure function of the
seed and ``t``; ``read()`` paces it at ``fps`` on the monotonic clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import cv2
import numpy as np

from engine.errors import ConfigError
from engine.frame import Frame, uint8_pixels
from engine.sources.base import FrameSource
from engine.sources.pacing import FramePacer, smoothstep

log = logging.getLogger(__name__)

DAY_SECONDS = 120.0  # one dawn -> day -> dusk -> night cycle
SKY_KEY_S = 0.25  # the sky is computed exactly at multiples of this, blended between them

# (sky top, sky horizon, far hills, near hills, sun, cloud tint), RGB 0..255, one row per time of day.
PALETTES = np.array(
    [
        [(58, 64, 130), (250, 170, 120), (150, 110, 140), (70, 60, 90), (255, 215, 150), (255, 160, 170)],  # dawn
        [(60, 130, 210), (190, 225, 240), (120, 160, 170), (50, 110, 70), (255, 250, 220), (255, 255, 255)],  # day
        [(40, 40, 100), (255, 120, 60), (140, 70, 90), (50, 30, 50), (255, 180, 90), (255, 130, 90)],  # dusk
        [(8, 10, 35), (30, 45, 90), (35, 45, 80), (12, 18, 35), (230, 235, 255), (90, 110, 170)],  # night
    ],
    dtype=np.float32,
)

Hill = tuple[float, float, np.ndarray, np.ndarray, np.ndarray]
"""One hill range: base height (fraction of H), speed (widths/s), sine frequencies, amplitudes, phases."""


class PatternSource(FrameSource):
    """A drifting landscape at width x height, a new frame every 1/fps seconds; same seed, same film."""

    name = "pattern"

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if width < 16 or height < 16:
            raise ConfigError(f"pattern: width and height must be at least 16, got {width}x{height}")
        if fps <= 0:
            raise ConfigError(f"pattern: fps must be positive, got {fps}")
        self.width = width
        self.height = height
        self.fps = fps
        self.seed = seed
        self._clock = clock
        self._pacer = FramePacer(fps, clock)

        rng = np.random.default_rng(seed)
        self._day_offset = float(rng.uniform(0.0, 1.0))
        # Low-resolution grid for the smooth sky: 1/8 of the picture, at most 160 wide (it is enlarged
        # smoothly anyway; a 1080p or 4K sky costs no more to compute than a 720p one).
        step = max(8, width // 160)
        self._lw, self._lh = max(8, width // step), max(8, height // step)
        ys = np.linspace(0.0, 1.0, self._lh, dtype=np.float32)[:, None]
        self._sky_ramp = ys**0.8  # 0 at the top, 1 at the horizon and below
        self._gx = np.linspace(0.0, 1.0, self._lw, dtype=np.float32)[None, :] * (width / height)
        self._gy = ys
        # Clouds: centre y, radius, speed (screen widths per second), phase, stretch.
        self._clouds = rng.uniform((0.08, 0.06, 0.004, 0.0, 1.5), (0.45, 0.16, 0.02, 1.0, 3.5), size=(5, 5))
        # Hill ranges, back to front: base height (fraction of H), speed (widths/s), sine terms.
        self._hills: list[Hill] = []
        for depth, (base, speed) in enumerate(((0.55, 0.006), (0.66, 0.014), (0.78, 0.03))):
            freqs = rng.uniform(1.0, 4.0, size=3) * (1.0 + depth * 0.6)
            amps = rng.uniform(0.02, 0.06, size=3) / (1.0 + depth * 0.3)
            phases = rng.uniform(0.0, 2 * math.pi, size=3)
            self._hills.append((base, speed, freqs, amps, phases))
        self._xs = np.linspace(-0.02, 1.02, 72)
        # The same terms stacked (hill, term) so that a frame computes every ridge in one pass; the outlines in
        # pixels (4 fractional bits) are kept and only their heights rewritten each frame.
        self._bases = np.array([h[0] for h in self._hills])
        self._speeds = np.array([h[1] for h in self._hills])
        self._omegas = np.stack([2 * math.pi * h[2] for h in self._hills])
        self._amps = np.stack([h[3] for h in self._hills])
        self._phases = np.stack([h[4] for h in self._hills])
        n = len(self._xs)
        self._polys = np.empty((3, n + 2, 2), np.int32)  # each hill's ridge, then the two bottom corners
        self._polys[:, :n, 0] = self._xs * width * 16
        self._polys[:, n:] = np.array([[1.02 * width, 1.02 * height], [-0.02 * width, 1.02 * height]]) * 16
        self._furrows = np.empty((2, 3, n, 2), np.int32)  # three lines under the ridge of the two nearer hills
        self._furrows[..., 0] = self._xs * width * 16
        self._furrow_drop = np.array([[0.025 * k * (depth + 1) for k in (1, 2, 3)] for depth in (1, 2)])[..., None]
        # Trees on the nearest range: positions along one screen-width period, heights.
        self._trees = np.sort(rng.uniform(0.0, 1.0, size=14)), rng.uniform(0.04, 0.09, size=14)
        # Fixed paper grain, subtracted from the finished picture.
        grain = rng.integers(0, 14, size=(height, width), dtype=np.uint8)
        grain = uint8_pixels(cv2.GaussianBlur(grain, (3, 3), 0))
        self._grain = cv2.merge([grain, grain, grain])
        self._scale = np.array([width, height], dtype=np.float64)
        self._sky_keys: dict[int, np.ndarray] = {}  # key index -> the float sky at that time (the last two)

    # -- FrameSource -------------------------------------------------------------------------------
    def open(self) -> None:
        self._pacer.reset()

    def read(self) -> Frame | None:
        now = self._clock()
        index = self._pacer.due(now)
        if index is None:
            return None
        return Frame(self.render(index / self.fps), t_capture=now, seq=index, source=self.name)

    def next_frame_in(self) -> float | None:
        return self._pacer.next_in()

    # -- drawing -----------------------------------------------------------------------------------
    def _palette(self, t: float) -> np.ndarray:
        phase = (t / DAY_SECONDS + self._day_offset) % 1.0 * len(PALETTES)
        i = int(phase)
        a = smoothstep(phase - i)
        palette: np.ndarray = PALETTES[i] * (1.0 - a) + PALETTES[(i + 1) % len(PALETTES)] * a
        return palette

    @staticmethod
    def _ground(hill: Hill, x: np.ndarray, t: float) -> np.ndarray:
        """The height (fraction of H, down) of a hill range at screen positions ``x`` at time ``t``."""
        base, speed, freqs, amps, phases = hill
        world = (x + speed * t)[None, :]
        waves = amps[:, None] * np.sin(2 * math.pi * freqs[:, None] * world + phases[:, None])
        height: np.ndarray = base - waves.sum(0)
        return height

    def render(self, t: float) -> np.ndarray:
        """The picture at time ``t`` seconds: RGB uint8 height x width x 3, the same for the same seed and t."""
        pal = self._palette(t)
        _, horizon, far, near, _, _ = pal  # (sky top, horizon, far hills, near hills, sun, clouds)

        # Every ridge at once (hill x point): heights as fractions of H, down.
        world = self._xs + (self._speeds * t)[:, None, None]
        ridges = self._bases[:, None] - (
            self._amps[..., None] * np.sin(self._omegas[..., None] * world + self._phases[..., None])
        ).sum(1)
        # The smooth sky at low resolution, enlarged down to the lowest point of the far hills' ridge (below it
        # they cover everything); a 1080p or 4K sky costs no more to compute than a 720p one.
        img = self._enlarged_sky(t, float(ridges[0].max()) * self.height + 2.0)

        # Hills at full resolution with anti-aliased edges, hazier further away; furrows on the nearer two.
        n = len(self._xs)
        np.multiply(ridges, self.height * 16, out=self._polys[:, :n, 1], casting="unsafe")
        np.multiply(ridges[1:, None] + self._furrow_drop, self.height * 16, out=self._furrows[..., 1], casting="unsafe")
        shades = [(far * 0.75 + horizon * 0.25).tolist(), (far * 0.45 + near * 0.55).tolist(), near.tolist()]
        thickness = max(1, self.height // 240)
        for depth, shade in enumerate(shades):
            cv2.fillPoly(img, [self._polys[depth]], shade, cv2.LINE_AA, shift=4)
            if depth >= 1:
                lines = list(self._furrows[depth - 1])
                cv2.polylines(img, lines, False, [c * 0.8 for c in shade], thickness, cv2.LINE_AA, shift=4)
        self._draw_trees(img, self._hills[2], near, t)
        return uint8_pixels(cv2.subtract(img, self._grain, dst=img))  # in place: one full-size picture a frame

    def _enlarged_sky(self, t: float, rows: float) -> np.ndarray:
        """A new full-size picture whose rows above ``rows`` are the sky at ``t`` as a whole-picture bilinear
        resize gives them (the rest is left for the far hills to cover). With a whole-number enlargement the
        resize stops one grid row past ``rows`` (its last rows, clamped at the cut, are not used)."""
        sky = self.keyed_sky(t)
        img = np.empty((self.height, self.width, 3), np.uint8)
        factor = self.height // self._lh
        if self.height % self._lh or self.width % self._lw:
            return uint8_pixels(cv2.resize(sky, (self.width, self.height), dst=img, interpolation=cv2.INTER_LINEAR))
        k = min(self._lh, math.ceil(max(rows, 0.0) / factor) + 1)
        cv2.resize(sky[:k], (self.width, k * factor), dst=img[: k * factor], interpolation=cv2.INTER_LINEAR)
        return img

    def keyed_sky(self, t: float) -> np.ndarray:
        """The sky at ``t`` as ``render`` draws it (uint8 lh x lw x 3): the exact skies at the keys either side
        of ``t`` (multiples of ``SKY_KEY_S``), blended by where ``t`` lies between them."""
        pos = t / SKY_KEY_S
        k = math.floor(pos)
        before, after = self._sky_key(k), self._sky_key(k + 1)
        return uint8_pixels(cv2.addWeighted(before, 1.0 - (pos - k), after, pos - k, 0.0, dtype=cv2.CV_8U))

    def _sky_key(self, k: int) -> np.ndarray:
        sky = self._sky_keys.get(k)
        if sky is None:
            sky = self._sky_keys[k] = self._sky(k * SKY_KEY_S)
            for old in [key for key in self._sky_keys if key not in (k - 1, k, k + 1)]:
                del self._sky_keys[old]
        return sky

    def sky(self, t: float, palette: np.ndarray | None = None) -> np.ndarray:
        """The exact smooth sky at time ``t`` on the low-resolution grid (uint8 lh x lw x 3)."""
        sky8 = np.empty((self._lh, self._lw, 3), dtype=np.uint8)
        np.copyto(sky8, self._sky(t, palette), casting="unsafe")
        return sky8

    def _sky(self, t: float, palette: np.ndarray | None = None) -> np.ndarray:
        """The smooth sky at time ``t`` on the low-resolution grid (float32 in 0..255): gradient, sun, clouds.
        Every glow is a Gaussian, so each is the outer product of a row and a column of exponentials (a few
        hundred of them, not a grid's worth)."""
        sky_top, horizon, _, _, sun_rgb, cloud_rgb = self._palette(t) if palette is None else palette
        sky = np.empty((self._lh, self._lw, 3), dtype=np.float32)
        sky[:] = sky_top + (horizon - sky_top) * self._sky_ramp[:, :, None]
        aspect = self.width / self.height
        day = (t / DAY_SECONDS + self._day_offset) % 1.0
        sun_x = (0.2 + 0.6 * day) * aspect
        sun_y = 0.42 - 0.25 * math.sin(math.pi * day)
        dx2, dy2 = (self._gx - sun_x) ** 2, (self._gy - sun_y) ** 2
        glow = np.exp(dy2 / -0.004) * np.exp(dx2 / -0.004) + np.exp(dy2 / -0.04) * (0.35 * np.exp(dx2 / -0.04))
        self._blend(sky, sun_rgb, np.minimum(glow, np.float32(1.0)))
        for cy, radius, speed, phase, stretch in self._clouds:
            cx = ((phase + speed * t) % 1.4 - 0.2) * aspect
            r2 = float(radius * radius)
            across = np.exp(((self._gx - float(cx)) / float(stretch)) ** 2 / -r2)
            self._blend(sky, cloud_rgb, np.exp((self._gy - float(cy)) ** 2 / -r2) * (0.55 * across))
        return np.clip(sky, 0, 255, out=sky)

    @staticmethod
    def _blend(sky: np.ndarray, colour: np.ndarray, weight: np.ndarray) -> None:
        """``sky`` moved towards ``colour`` by ``weight`` (HxW in 0..1) at every point, in place."""
        diff = colour.astype(np.float32) - sky
        diff *= weight[:, :, None]
        sky += diff

    def _draw_trees(self, img: np.ndarray, hill: Hill, near: np.ndarray, t: float) -> None:
        positions, heights = self._trees
        xs = (positions - hill[1] * t) % 1.1 - 0.05  # trees scroll with their hill
        ground = self._ground(hill, xs, t)
        half = heights * 0.22 * self.height / self.width
        colour = tuple(float(c) * 0.55 for c in near)
        base = ground + 0.01
        tris = np.stack(
            [np.stack([xs - half, base], 1), np.stack([xs + half, base], 1), np.stack([xs, ground - heights], 1)], 1
        )
        for tri in (tris * self._scale * 16).astype(np.int32):
            # One call per tree: fillPoly with several overlapping polygons would hollow out the overlap.
            cv2.fillConvexPoly(img, tri, colour, cv2.LINE_AA, shift=4)
