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
- ``"detail"`` (the default): ``q = up(p) + A'_up * (I_full - up(I_low))`` with ``A' = detail * A``:
  the stylised picture as painted, plus the source's detail that the working size could not hold, as
  strongly as the style follows the source there. The gain is fitted at half the working size
  (``coarse=2``: the same window on the picture, a quarter of the work).

``guide="rgb"`` fits each colour channel against the same channel of the source. ``"luma"`` uses the
source's luminance: the filter form fits all three colours against it; the detail form fits one gain
between the stylised picture's brightness and the source's and adds the one-channel brightness detail
to all three colours (a third of the full-resolution work; the same sharpness and style, measured).

Cost: the fit is a dozen box filters and products at the working size (or half of it), whatever the
output size. With the luminance guide the detail form's full-resolution part, in bands of rows that stay
in the CPU's cache and buffers kept per thread, is ``p`` enlarged in 8 bits (OpenCV's fastest resize),
the guide's low copy and the gain enlarged in 16-bit fixed point, one difference, and the one-channel
signed detail added to the three colours in two saturating 8-bit steps: about three quarters of the time of
the per-colour (rgb) form, which, like the filter form, runs as ``A_up * I_full + b_up`` in 16-bit fixed
point (``A`` in Q10, ``b`` in Q2). A frame allocates only its output.
Every call is thread-safe (the scheduler's worker threads call ``upscale`` at once).
``engine.upscale_torch`` holds the same maths in PyTorch for the GPU path.
"""

from __future__ import annotations

import abc
import logging
import threading

import cv2
import numpy as np

from engine.convert import ThreadBuffers
from engine.errors import ConfigError
from engine.frame import Pixels, uint8_pixels

log = logging.getLogger(__name__)

GUIDES = ("rgb", "luma")
FORMS = ("detail", "filter")
A_LIMIT = 31.0  # |A| is clipped here: A in Q10 and A*255 in Q2 then fit int16
A_Q = 1024.0  # fixed-point scale of A at full resolution
B_Q = 4.0  # fixed-point scale of b and of the sum at full resolution (the filter form)
G_Q = 16  # fixed-point scale of the enlarged guide and of its difference to the full-size one (the detail form)


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


def _gain(
    g: np.ndarray, p: np.ndarray, radius: int, eps: float, bufs: ThreadBuffers, tag: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A, mean A, mean I, mean p) of the guided filter for float32 ``g`` and ``p`` (HxWx3 or HxW each; a
    one-channel ``g`` with a three-channel ``p`` serves all three channels)."""
    h, w = p.shape[:2]
    gc = g.shape[2] if g.ndim == 3 else 1
    pc = p.shape[2] if p.ndim == 3 else 1
    k = (2 * radius + 1, 2 * radius + 1)

    def buf(name: str, c: int = pc) -> np.ndarray:
        return bufs.get(tag + name, (h, w, c) if c > 1 else (h, w), np.float32)

    mean_g, var_g = buf("mean_g", gc), buf("var_g", gc)
    sq = buf("sq", gc)
    cv2.boxFilter(g, -1, k, dst=mean_g)
    cv2.multiply(g, g, dst=sq)
    cv2.boxFilter(sq, -1, k, dst=var_g)
    cv2.multiply(mean_g, mean_g, dst=sq)
    cv2.subtract(var_g, sq, dst=var_g)
    np.add(var_g, np.float32(eps), out=var_g)  # (cv2.add would add a scalar to the first channel only)
    if gc < pc:  # one guide for three channels: spread it out once (the products below need equal shapes)
        mean_g = cv2.merge([mean_g] * pc, dst=buf("mean_g3"))
        var_g = cv2.merge([var_g] * pc, dst=buf("var_g3"))
        g = cv2.merge([g] * pc, dst=buf("g3"))
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


def detail_gain(
    guide_low: np.ndarray,
    styled: np.ndarray,
    radius: int,
    eps: float,
    buffers: ThreadBuffers | None = None,
    detail: float = 1.0,
    coarse: int = 1,
) -> np.ndarray:
    """The detail form's gain ``A' = detail * mean A`` at the working size, float32, clipped to +-``A_LIMIT``.

    ``guide_low`` and ``styled`` are uint8 at the working size. A three-channel guide gives one gain per
    colour (each colour of ``styled`` fitted against the same colour of the source, HxWx3); a one-channel
    (luminance) guide gives one gain for all three colours, fitted between the brightness of ``styled`` and
    the guide (HxW). Units are [0, 1], so ``eps`` is a variance in those units; box filters use OpenCV's
    default border (reflect-101), as the torch version does. With ``coarse=2`` A is fitted at half the
    working size (area-averaged, radius halved: the same window on the picture, a quarter of the work) and
    enlarged bilinearly."""
    bufs = buffers or ThreadBuffers()
    h, w = styled.shape[:2]
    inv = np.float32(1.0 / 255.0)
    if guide_low.ndim == 2:
        styled = cv2.cvtColor(styled, cv2.COLOR_RGB2GRAY, dst=bufs.get("p_y", (h, w), np.uint8))
    g = bufs.get("g", guide_low.shape, np.float32)
    np.multiply(guide_low, inv, out=g, casting="unsafe")
    p = bufs.get("p", styled.shape, np.float32)
    np.multiply(styled, inv, out=p, casting="unsafe")
    if coarse > 1:
        size = (max(1, w // coarse), max(1, h // coarse))
        g_c = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        p_c = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
        _, mean_a_c, _, _ = _gain(g_c, p_c, max(1, round(radius / coarse)), eps, bufs, "c_")
        mean_a = cv2.resize(mean_a_c, (w, h), dst=bufs.get("mean_a_w", p.shape, np.float32))
    else:
        _, mean_a, _, _ = _gain(g, p, radius, eps, bufs, "")
    if detail != 1.0:
        np.multiply(mean_a, np.float32(detail), out=mean_a)
    np.clip(mean_a, -A_LIMIT, A_LIMIT, out=mean_a)  # A in Q10 fits int16
    return mean_a


def guided_coefficients(
    guide_low: np.ndarray, styled: np.ndarray, radius: int, eps: float, buffers: ThreadBuffers | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The published filter's coefficients (mean A, mean b) at the working size, float32 HxWx3, such that the
    output is ``A_up * I + b_up``. ``guide_low`` and ``styled`` are uint8 HxWx3 (``guide_low`` may be HxW
    for a luminance guide, which then serves all three channels); units as in ``detail_gain``."""
    bufs = buffers or ThreadBuffers()
    h, w = styled.shape[:2]
    inv = np.float32(1.0 / 255.0)
    g = bufs.get("g", guide_low.shape, np.float32)
    np.multiply(guide_low, inv, out=g, casting="unsafe")
    p = bufs.get("p", (h, w, 3), np.float32)
    np.multiply(styled, inv, out=p, casting="unsafe")
    a, mean_a, mean_g, mean_p = _gain(g, p, radius, eps, bufs, "")
    b = bufs.get("b", (h, w, 3), np.float32)
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
        guide: str = "luma",
        form: str = "detail",
        detail: float = 2.0,
        coarse: int = 2,
        band_rows: int = 96,
    ) -> None:
        super().__init__(radius, eps, guide, form, detail, coarse)
        self.band_rows = band_rows
        self._buffers = ThreadBuffers()

    def describe(self) -> str:
        if self.form == "filter":
            return f"guided filter (r={self.radius}, eps={self.eps:g}, {self.guide})"
        return f"guided detail x{self.detail:g} (r={self.radius}, eps={self.eps:g}, {self.guide})"

    def apply(self, styled: np.ndarray, guide_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        """``styled`` enlarged to ``guide_full``'s size, edges taken from ``guide_full``."""
        bufs = self._buffers
        if self.guide == "luma":
            guide_low = cv2.cvtColor(
                guide_low, cv2.COLOR_RGB2GRAY, dst=bufs.get("y_low", guide_low.shape[:2], np.uint8)
            )
        if self.form == "detail":
            return self._apply_detail(styled, guide_low, guide_full)
        return self._apply_filter(styled, guide_low, guide_full)

    def _apply_detail(self, styled: np.ndarray, g_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        """The detail form. With a luminance guide: ``q = up(p) + A'_up * (Y_full - up(Y_low))`` computed as it
        reads, in bands: ``p`` enlarged in 8 bits (OpenCV's fastest resize), the guide's low copy (Q4) and
        the gain (Q10) enlarged in 16 bits, one difference, and the one-channel signed detail spread to three
        colours and added as two saturating 8-bit steps (its positive part added, its negative part taken
        away), which is exactly ``saturate(up(p) + detail)``. Per colour (an rgb guide) the same formula is
        fewer full-size steps as ``A'_up * I_full + b'_up`` with ``b' = p - A' * I_low`` (equal up to the
        bilinear rounding of a product), in the filter form's fixed point."""
        bufs = self._buffers
        gain = detail_gain(g_low, styled, self.radius, self.eps, bufs, self.detail, self.coarse)
        if g_low.ndim == 3:
            inv = np.float32(1.0 / 255.0)
            g = bufs.get("g_rgb", gain.shape, np.float32)
            np.multiply(g_low, inv, out=g, casting="unsafe")
            b = bufs.get("b_rgb", gain.shape, np.float32)
            np.multiply(styled, inv, out=b, casting="unsafe")
            cv2.subtract(b, cv2.multiply(gain, g, dst=g), dst=b)
            return self._apply_linear(gain, b, guide_full)
        height, width = guide_full.shape[:2]
        h = gain.shape[0]
        a16 = bufs.get("a16", gain.shape, np.int16)
        np.multiply(gain, np.float32(A_Q), out=a16, casting="unsafe")  # truncating: < 1/1024
        g16 = bufs.get("g16", g_low.shape, np.int16)
        np.multiply(g_low, np.int16(G_Q), out=g16, dtype=np.int16)
        scale = 1.0 / (A_Q * G_Q)
        out = np.empty((height, width, 3), np.uint8)  # handed on to other threads: never reused
        for (y0, y1), (r0, r1), skip in bands(h, height, self.band_rows):
            rows = (r1 - r0) * (height // h) if skip >= 0 else height
            s0, n = max(skip, 0), y1 - y0
            p_up = cv2.resize(styled[r0:r1], (width, rows), dst=bufs.get("p_up", (rows, width, 3), np.uint8))
            g_up = cv2.resize(g16[r0:r1], (width, rows), dst=bufs.get("g_up", (rows, width), np.int16))
            a_up = cv2.resize(a16[r0:r1], (width, rows), dst=bufs.get("a_up", (rows, width), np.int16))
            y_full = cv2.cvtColor(guide_full[y0:y1], cv2.COLOR_RGB2GRAY, dst=bufs.get("y_full", (n, width), np.uint8))
            diff = bufs.get("diff", (n, width), np.int16)
            cv2.addWeighted(y_full, G_Q, g_up[s0 : s0 + n], -1.0, 0.0, dst=diff, dtype=cv2.CV_16S)
            a_band = a_up[s0 : s0 + n]
            pos = cv2.multiply(a_band, diff, dst=bufs.get("pos", (n, width), np.uint8), scale=scale, dtype=cv2.CV_8U)
            neg = cv2.multiply(a_band, diff, dst=bufs.get("neg", (n, width), np.uint8), scale=-scale, dtype=cv2.CV_8U)
            pos3 = cv2.cvtColor(pos, cv2.COLOR_GRAY2RGB, dst=bufs.get("pos3", (n, width, 3), np.uint8))
            neg3 = cv2.cvtColor(neg, cv2.COLOR_GRAY2RGB, dst=bufs.get("neg3", (n, width, 3), np.uint8))
            band = out[y0:y1]
            cv2.add(p_up[s0 : s0 + n], pos3, dst=band)
            cv2.subtract(band, neg3, dst=band)
        return uint8_pixels(out)

    def _apply_filter(self, styled: np.ndarray, g_low: np.ndarray, guide_full: np.ndarray) -> Pixels:
        """The published form, ``q = A_up * I_full + b_up`` (a luminance guide spread to three channels)."""
        guide = guide_full
        if g_low.ndim == 2:
            bufs, full = self._buffers, guide_full.shape
            y = cv2.cvtColor(guide_full, cv2.COLOR_RGB2GRAY, dst=bufs.get("y_full", full[:2], np.uint8))
            guide = cv2.cvtColor(y, cv2.COLOR_GRAY2RGB, dst=bufs.get("y3_full", full, np.uint8))
        mean_a, mean_b = guided_coefficients(g_low, styled, self.radius, self.eps, self._buffers)
        return self._apply_linear(mean_a, mean_b, guide)

    def _apply_linear(self, a: np.ndarray, b: np.ndarray, guide: np.ndarray) -> Pixels:
        """``a_up * guide + b_up`` for working-size float32 HxWx3 ``a`` and ``b`` (b in 0..1 units; both clipped
        here, in place) and a full-size RGB ``guide``: in bands, in 16-bit fixed point (A in Q10, b and the
        product in Q2)."""
        bufs = self._buffers
        height, width = guide.shape[:2]
        h, w = a.shape[:2]
        a16, b16 = bufs.get("a16", (h, w, 3), np.int16), bufs.get("b16", (h, w, 3), np.int16)
        np.clip(a, -A_LIMIT, A_LIMIT, out=a)  # A in Q10 and A*255 in Q2 then fit int16
        limit = np.float32(32767.0 / (255.0 * B_Q))
        np.clip(b, -limit, limit, out=b)
        np.multiply(a, np.float32(A_Q), out=a16, casting="unsafe")  # one pass each, truncating: < 1/1024
        np.multiply(b, np.float32(255.0 * B_Q), out=b16, casting="unsafe")
        out = np.empty((height, width, 3), np.uint8)  # handed on to other threads: never reused
        for (y0, y1), (r0, r1), skip in bands(h, height, self.band_rows):
            rows = (r1 - r0) * (height // h) if skip >= 0 else height
            a_up = cv2.resize(a16[r0:r1], (width, rows), dst=bufs.get("fa_up", (rows, width, 3), np.int16))
            b_up = cv2.resize(b16[r0:r1], (width, rows), dst=bufs.get("fb_up", (rows, width, 3), np.int16))
            n = y1 - y0
            s0 = max(skip, 0)
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
