"""Bringing the stylised picture from the working size to the output size.

The model runs at the working size the CPU can hold (640x360); the projector wants 1920x1080 or more.
``ResizeUpscaler`` enlarges with a bilinear resize (soft on a big wall). ``GuidedUpscaler`` takes the
edges from the source, which the camera captured at the output size, using the fast guided filter
(He et al., "Guided Image Filtering", 2013; Wu et al., "Fast End-to-End Trainable Guided Filter", CVPR
2018): at the working size it fits, in every (2r+1)^2 window, the stylised picture ``p`` as a linear
function of the source ``I`` (``p ~ A*I + b``, ridge ``eps``) and box-smooths the gain ``A``; only the
smooth maps are enlarged and applied to the full-resolution source as ``q = A_up * I_full + b_up``.

Two forms:
- ``"filter"``, as published: ``b`` is box-smoothed too. It keeps the source's edges, but also smooths
  away the style's own strokes, which the source cannot explain (measured: docs/upscale.md).
- ``"detail"`` (the default): ``A' = detail * A`` and ``b' = p - A' * I``, i.e.
  ``q ~ up(p) + A'_up * (I_full - up(I))``: the stylised picture as painted, plus the source's detail
  that the working size could not hold, as strongly as the style follows the source there. The gain is
  fitted at half the working size (``coarse=2``: the same window on the picture, a quarter of the work).

``guide="rgb"`` fits each colour channel against the same channel of the source; ``"luma"`` fits all
three against the source's luminance.

Cost: the fit is a dozen box filters and products at the working size (or half of it), whatever the
output size; the full-resolution part is two enlargements, one product and one sum, in 16-bit fixed
point (``A`` in Q10, ``b`` and the product in Q2), in bands of rows that stay in the CPU's cache, into
buffers kept per thread: a 1920x1080 frame costs about 16 ms on one core and allocates only its output.
Every call is thread-safe (the scheduler's worker threads call ``upscale`` at once).
``engine.upscale_torch`` holds the same maths in PyTorch for the GPU path.
"""

from __future__ import annotations

import abc
import logging
import threading
from typing import Any

import cv2
import numpy as np

from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels

log = logging.getLogger(__name__)

GUIDES = ("rgb", "luma")
FORMS = ("detail", "filter")
A_LIMIT = 31.0  # |A| is clipped here: A in Q10 and A*255 in Q2 then fit int16
A_Q = 1024.0  # fixed-point scale of A at full resolution
B_Q = 4.0  # fixed-point scale of b and of the sum at full resolution


class Upscaler(abc.ABC):
    """Enlarges a stylised working-size picture to the output size, optionally guided by the source."""

    name = "upscaler"
    needs_guide = False  # True: the source must be delivered at the output size

    @abc.abstractmethod
    def upscale(
        self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray | None, size: tuple[int, int]
    ) -> Pixels:
        """``styled`` (the working size, as ``guide_low``) at ``size`` = (width, height). ``guide_full`` is the
        source at ``size`` (None or another size: the upscaler falls back to a plain resize)."""

    def describe(self) -> str:
        return self.name


class ResizeUpscaler(Upscaler):
    """A bilinear resize: cheap, soft."""

    name = "resize"

    def upscale(
        self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray | None, size: tuple[int, int]
    ) -> Pixels:
        if (styled.shape[1], styled.shape[0]) == size:
            return styled
        return uint8_pixels(cv2.resize(styled, size, interpolation=cv2.INTER_LINEAR))


def check_guided(radius: int, eps: float, guide: str, form: str = "detail", detail: float = 1.0) -> None:
    """Raise ``ConfigError`` unless the guided filter's parameters make sense."""
    if form not in FORMS:
        raise ConfigError(f"guided upscaler: form must be one of {FORMS}, got {form!r}")
    if not 0 <= detail <= A_LIMIT:
        raise ConfigError(f"guided upscaler: detail must be in 0..{A_LIMIT:g}, got {detail}")
    if radius < 1:
        raise ConfigError(f"guided upscaler: radius must be >= 1, got {radius}")
    if not eps > 0:
        raise ConfigError(f"guided upscaler: eps must be > 0, got {eps}")
    if guide not in GUIDES:
        raise ConfigError(f"guided upscaler: guide must be one of {GUIDES}, got {guide!r}")


class _Buffers(threading.local):
    """One thread's scratch arrays, by name and shape: a frame allocates nothing once warm."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, tuple[int, ...], str], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        array = self.arrays.get(key)
        if array is None:
            array = self.arrays[key] = np.empty(shape, dtype)
        return array


def _gain(
    g: np.ndarray, p: np.ndarray, radius: int, eps: float, bufs: _Buffers, tag: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A, mean A, mean I, mean p) of the guided filter for float32 ``g`` (HxWx3 or HxW) and ``p`` (HxWx3)."""
    h, w = p.shape[:2]
    gc = g.shape[2] if g.ndim == 3 else 1
    k = (2 * radius + 1, 2 * radius + 1)

    def buf(name: str, c: int = 3) -> np.ndarray:
        return bufs.get(tag + name, (h, w, c) if c > 1 else (h, w), np.float32)

    mean_g, var_g = buf("mean_g", gc), buf("var_g", gc)
    sq = buf("sq", gc)
    cv2.boxFilter(g, -1, k, dst=mean_g)
    cv2.multiply(g, g, dst=sq)
    cv2.boxFilter(sq, -1, k, dst=var_g)
    cv2.multiply(mean_g, mean_g, dst=sq)
    cv2.subtract(var_g, sq, dst=var_g)
    np.add(var_g, np.float32(eps), out=var_g)  # (cv2.add would add a scalar to the first channel only)
    if gc == 1:  # one guide for three channels: spread it out once (the products below need equal shapes)
        mean_g = cv2.merge([mean_g] * 3, dst=buf("mean_g3"))
        var_g = cv2.merge([var_g] * 3, dst=buf("var_g3"))
        g = cv2.merge([g] * 3, dst=buf("g3"))
    mean_p, cov = buf("mean_p"), buf("cov")
    cv2.boxFilter(p, -1, k, dst=mean_p)
    prod = buf("prod")
    cv2.multiply(g, p, dst=prod)
    cv2.boxFilter(prod, -1, k, dst=cov)
    cv2.multiply(mean_g, mean_p, dst=prod)
    cv2.subtract(cov, prod, dst=cov)
    a, mean_a = buf("a"), buf("mean_a")
    cv2.divide(cov, var_g, dst=a)
    cv2.boxFilter(a, -1, k, dst=mean_a)
    return a, mean_a, mean_g, mean_p


def guided_coefficients(
    guide_low: np.ndarray,
    styled: np.ndarray,
    radius: int,
    eps: float,
    buffers: _Buffers | None = None,
    form: str = "filter",
    detail: float = 1.0,
    coarse: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients (A, b) at the working size, float32 HxWx3, such that the output is ``A_up * I + b_up``.

    ``guide_low`` and ``styled`` are uint8 HxWx3 (``guide_low`` may be HxW for a luminance guide, which
    then serves all three channels); units are [0, 1], so ``eps`` is a variance in those units. Box
    filters use OpenCV's default border (reflect-101), as the torch version does.

    ``form="filter"``: He's coefficients, mean A and mean b. ``form="detail"``: ``A' = detail * mean A`` and
    ``b' = p - A' * I``, so that ``A'_up * I_full + b'_up`` is, up to the bilinear rounding of a product,
    ``up(p) + A'_up * (I_full - up(I))``: the stylised picture as it is, plus the source's detail that
    the working size lost, scaled by how strongly the style follows the source there. With ``coarse=2``
    the detail form fits A at half the working size (area-averaged, radius halved: the same window on
    the picture, a quarter of the work) and enlarges it bilinearly; b' still keeps every pixel of p."""
    bufs = buffers or _Buffers()
    h, w = styled.shape[:2]
    gc = guide_low.shape[2] if guide_low.ndim == 3 else 1
    inv = np.float32(1.0 / 255.0)
    g = bufs.get("g", (h, w, gc) if gc > 1 else (h, w), np.float32)
    np.multiply(guide_low.reshape(g.shape), inv, out=g, casting="unsafe")
    p = bufs.get("p", (h, w, 3), np.float32)
    np.multiply(styled, inv, out=p, casting="unsafe")
    b = bufs.get("b", (h, w, 3), np.float32)
    if form == "detail":
        if coarse > 1:
            size = (max(1, w // coarse), max(1, h // coarse))
            g_c = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
            p_c = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
            _, mean_a_c, _, _ = _gain(g_c, p_c, max(1, round(radius / coarse)), eps, bufs, "c_")
            mean_a = cv2.resize(mean_a_c, (w, h), dst=bufs.get("mean_a_w", (h, w, 3), np.float32))
        else:
            _, mean_a, _, _ = _gain(g, p, radius, eps, bufs, "")
        if detail != 1.0:
            np.multiply(mean_a, np.float32(detail), out=mean_a)
        np.clip(mean_a, -A_LIMIT, A_LIMIT, out=mean_a)  # so |b'| <= 1 + A_LIMIT: Q2 fits int16
        g3 = g if gc > 1 else cv2.merge([g] * 3, dst=bufs.get("g3w", (h, w, 3), np.float32))
        prod = cv2.multiply(mean_a, g3, dst=bufs.get("prod_w", (h, w, 3), np.float32))
        cv2.subtract(p, prod, dst=b)
        return mean_a, b
    a, mean_a, mean_g, mean_p = _gain(g, p, radius, eps, bufs, "")
    prod = cv2.multiply(a, mean_g, dst=bufs.get("prod_w", (h, w, 3), np.float32))  # mean_g: three channels
    cv2.subtract(mean_p, prod, dst=b)
    mean_b = bufs.get("mean_b", (h, w, 3), np.float32)
    cv2.boxFilter(b, -1, (2 * radius + 1, 2 * radius + 1), dst=mean_b)
    return mean_a, mean_b


class GuidedBase(Upscaler):
    """What the CPU and GPU guided upscalers share: their parameters (checked once), and the fall-back to a
    plain resize, said once, when the source does not arrive at the output size. Subclasses ``apply``."""

    needs_guide = True

    def __init__(self, radius: int, eps: float, guide: str, form: str, detail: float, coarse: int) -> None:
        check_guided(radius, eps, guide, form, detail)
        if coarse not in (1, 2):
            raise ConfigError(f"guided upscaler: coarse must be 1 or 2, got {coarse}")
        self.radius, self.eps, self.guide = radius, eps, guide
        self.form, self.detail, self.coarse = form, detail, coarse
        self._fallback = ResizeUpscaler()
        self._warned = False
        self._warn_lock = threading.Lock()

    def upscale(
        self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray | None, size: tuple[int, int]
    ) -> Pixels:
        if (styled.shape[1], styled.shape[0]) == size:
            return styled
        if guide_full is None or (guide_full.shape[1], guide_full.shape[0]) != size:
            self._warn_once(guide_full, size)
            return self._fallback.upscale(styled, guide_low, None, size)
        return self.apply(styled, guide_low, guide_full)

    def _warn_once(self, guide_full: np.ndarray | None, size: tuple[int, int]) -> None:
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        got = "none" if guide_full is None else f"{guide_full.shape[1]}x{guide_full.shape[0]}"
        log.warning(
            "guided upscaling needs the source at the output size %dx%d (got %s); using a plain resize",
            size[0],
            size[1],
            got,
        )

    @abc.abstractmethod
    def apply(self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        """``styled`` enlarged to ``guide_full``'s size, edges taken from ``guide_full``."""


class GuidedUpscaler(GuidedBase):
    """The guided upscaler on the CPU (numpy/OpenCV); see the module's docstring. ``band_rows``: output rows
    per band of the full-resolution pass (0: the whole picture at once; the result is the same)."""

    name = "guided"

    def __init__(
        self,
        radius: int = 4,
        eps: float = 1e-3,
        guide: str = "rgb",
        form: str = "detail",
        detail: float = 2.0,
        coarse: int = 2,
        band_rows: int = 48,
    ) -> None:
        super().__init__(radius, eps, guide, form, detail, coarse)
        self.band_rows = band_rows
        self._buffers = _Buffers()

    def describe(self) -> str:
        if self.form == "filter":
            return f"guided filter (r={self.radius}, eps={self.eps:g}, {self.guide})"
        return f"guided detail x{self.detail:g} (r={self.radius}, eps={self.eps:g}, {self.guide})"

    def apply(self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        """``styled`` enlarged to ``guide_full``'s size, edges taken from ``guide_full``."""
        bufs = self._buffers
        height, width = guide_full.shape[:2]
        full = (height, width, 3)
        if self.guide == "luma":
            g_low = cv2.cvtColor(guide_low, cv2.COLOR_RGB2GRAY, dst=bufs.get("y_low", guide_low.shape[:2], np.uint8))
            y = cv2.cvtColor(guide_full, cv2.COLOR_RGB2GRAY, dst=bufs.get("y_full", (height, width), np.uint8))
            guide = cv2.cvtColor(y, cv2.COLOR_GRAY2RGB, dst=bufs.get("y3_full", full, np.uint8))
        else:
            g_low, guide = guide_low, guide_full
        mean_a, mean_b = guided_coefficients(
            g_low, styled, self.radius, self.eps, bufs, self.form, self.detail, self.coarse
        )
        # fixed point for the full-resolution pass: A in Q10, b (in 0..255 units) in Q2
        h, w = mean_a.shape[:2]
        a16, b16 = bufs.get("a16", (h, w, 3), np.int16), bufs.get("b16", (h, w, 3), np.int16)
        if self.form == "filter":  # (the detail form's coefficients are bounded already)
            np.clip(mean_a, -A_LIMIT, A_LIMIT, out=mean_a)
            limit = np.float32(32767.0 / (255.0 * B_Q))
            np.clip(mean_b, -limit, limit, out=mean_b)
        np.multiply(mean_a, np.float32(A_Q), out=a16, casting="unsafe")  # one pass each, truncating: < 1/1024
        np.multiply(mean_b, np.float32(255.0 * B_Q), out=b16, casting="unsafe")
        out = np.empty(full, np.uint8)  # handed on to other threads: never reused
        for (y0, y1), (r0, r1), skip in bands(h, height, self.band_rows):
            rows = (r1 - r0) * (height // h) if skip >= 0 else height
            a_up = cv2.resize(a16[r0:r1], (width, rows), dst=bufs.get("a_up", (rows, width, 3), np.int16))
            b_up = cv2.resize(b16[r0:r1], (width, rows), dst=bufs.get("b_up", (rows, width, 3), np.int16))
            n = y1 - y0
            s0 = skip if skip >= 0 else y0
            guide16 = bufs.get("guide16", (n, width, 3), np.int16)
            np.copyto(guide16, guide[y0:y1], casting="unsafe")
            prod = cv2.multiply(
                a_up[s0 : s0 + n], guide16, dst=bufs.get("prod16", (n, width, 3), np.int16), scale=B_Q / A_Q
            )
            cv2.addWeighted(prod, 1.0 / B_Q, b_up[s0 : s0 + n], 1.0 / B_Q, 0.0, dst=out[y0:y1], dtype=cv2.CV_8U)
        return uint8_pixels(out)


def bands(low: int, high: int, band_rows: int) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """How to enlarge ``low`` rows to ``high`` in horizontal bands that stay in the CPU's cache.

    Each band is ((y0, y1) output rows, (r0, r1) input rows to enlarge, skip): enlarging input rows
    r0..r1 by the integer factor gives output rows from (r0 * factor), so output row y0 is row ``skip`` of
    that piece; one input row of margin on each side keeps the bilinear weights those of the whole
    picture. A factor that is not a whole number gives one band, the whole picture (skip -1)."""
    if high % low or band_rows <= 0:
        return [((0, high), (0, low), -1)]
    factor = high // low
    step = max(1, band_rows // factor)
    out = []
    for r in range(0, low, step):
        r_end = min(low, r + step)
        r0, r1 = max(0, r - 1), min(low, r_end + 1)
        out.append(((r * factor, r_end * factor), (r0, r1), (r - r0) * factor))
    return out


UPSCALERS = {
    "resize": "engine.upscale:ResizeUpscaler",
    "guided": "engine.upscale:GuidedUpscaler",
    "guided-torch": "engine.upscale_torch:TorchGuidedUpscaler",
}
