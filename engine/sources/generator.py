"""A trained generator that dreams when nobody is there: an endless latent walk, rendered live.

``LatentWalk`` is the path: every latent dimension is a sum of a few sines with random, mutually
incommensurate periods, so the walk is smooth, has the prior's spread (unit variance per dimension)
and never repeats. ``steer(target, seconds)`` glides the walk towards a target latent (a visitor's
words, say) and then keeps wandering around it at a fraction of the free amplitude; ``release``
glides back to free wandering. Gliding keeps the latent continuous whenever it is called.

``GeneratorSource`` runs the generator's ONNX file through ONNX Runtime (no torch), paces it at
``fps``, advances the walk by ``speed`` times the elapsed time (optionally faster when the room is
loud, see ``engine.audio``), maps the output from the range its manifest declares ([-1, 1], [0, 1]
or [0, 255]) to uint8 and enlarges it to the working size; the style network then restyles it like
any other source. Any ONNX model with one (1, Z) latent input and an image output works, e.g. one
imported with ``laterna import-model``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.audio import AudioLevel
from engine.errors import ConfigError, ModelError, SourceError
from engine.frame import Frame
from engine.manifest import Manifest, TensorSpec, load_manifest
from engine.sources.base import FrameSource
from engine.sources.pacing import FramePacer, smoothstep
from engine.sources.transform import MODES, crop_box, fit_size

log = logging.getLogger(__name__)

MAX_STEP_S = 0.25  # a stalled loop resumes the walk where it left it, instead of jumping ahead
FIT_MODES = MODES + ("stretch",)


class LatentWalk:
    """A smooth, never-repeating walk through a ``dim``-dimensional latent space that can be steered.

    ``wander(tau)`` is a pure function of the seed and the walk time ``tau``; ``latent(tau, now)``
    blends it with the steering target as of clock time ``now``. Thread-safe: ``steer`` and
    ``release`` may be called from any thread."""

    def __init__(
        self,
        dim: int,
        seed: int = 0,
        sines: int = 4,
        min_period: float = 8.0,
        max_period: float = 60.0,
        orbit: float = 0.35,
    ) -> None:
        if dim < 1:
            raise ConfigError(f"latent walk: dimension must be positive, got {dim}")
        if not 0 < min_period <= max_period:
            raise ConfigError(f"latent walk: need 0 < min_period <= max_period, got {min_period}, {max_period}")
        if not 0.0 <= orbit <= 1.0:
            raise ConfigError(f"latent walk: orbit must be between 0 and 1, got {orbit}")
        self.dim = dim
        self.orbit = orbit
        rng = np.random.default_rng(seed)
        periods = np.exp(rng.uniform(math.log(min_period), math.log(max_period), size=(dim, sines)))
        self._omega = 2.0 * math.pi / periods
        self._phase = rng.uniform(0.0, 2.0 * math.pi, size=(dim, sines))
        self._amp = math.sqrt(2.0 / sines)  # unit variance per dimension, like the N(0, I) prior
        self._lock = threading.Lock()
        self._from: np.ndarray | None = None  # anchor at the start of the current glide
        self._to: np.ndarray | None = None  # anchor at its end (None: releasing, keep _from)
        self._w_from = 0.0
        self._w_to = 0.0
        self._t0 = 0.0
        self._duration = 0.0

    def wander(self, tau: float) -> np.ndarray:
        """The free walk at walk time ``tau``: float32 (dim,), each entry a sum of incommensurate sines."""
        walk: np.ndarray = (self._amp * np.sin(self._omega * tau + self._phase)).sum(axis=1).astype(np.float32)
        return walk

    def _state(self, now: float) -> tuple[float, np.ndarray | None]:
        """(steering weight 0..1, anchor latent) at clock time ``now``; call with the lock held."""
        e = 1.0 if self._duration <= 0 else smoothstep((now - self._t0) / self._duration)
        w = self._w_from + (self._w_to - self._w_from) * e
        if self._to is None or self._from is None:
            return w, self._to if self._to is not None else self._from
        a = (1.0 - e) * self._from + e * self._to
        norm = float(np.linalg.norm(a))
        if norm > 1e-6:  # interpolate the length separately, so the anchor does not shrink mid-glide
            a = a * (((1.0 - e) * np.linalg.norm(self._from) + e * np.linalg.norm(self._to)) / norm)
        return w, a.astype(np.float32)

    def steer(self, target: np.ndarray, seconds: float, now: float) -> None:
        """Glide from wherever the walk is at ``now`` to wandering around ``target`` within ``seconds``."""
        target = np.asarray(target, dtype=np.float32).reshape(-1)
        if target.shape != (self.dim,) or not np.all(np.isfinite(target)):
            raise SourceError(f"steer: target must be {self.dim} finite numbers, got shape {target.shape}")
        with self._lock:
            w, anchor = self._state(now)
            self._from = anchor if anchor is not None else target
            self._to = target.copy()
            self._w_from, self._w_to = w, 1.0
            self._t0, self._duration = now, max(0.0, float(seconds))

    def release(self, seconds: float, now: float) -> None:
        """Glide back to free wandering within ``seconds``."""
        with self._lock:
            w, anchor = self._state(now)
            self._from, self._to = anchor, None
            self._w_from, self._w_to = w, 0.0
            self._t0, self._duration = now, max(0.0, float(seconds))

    @property
    def target(self) -> np.ndarray | None:
        with self._lock:
            return None if self._to is None else self._to.copy()

    def latent(self, tau: float, now: float, amplitude: float = 1.0) -> np.ndarray:
        """The latent at walk time ``tau`` and clock time ``now``; ``amplitude`` scales the wandering part.

        With steering weight w and anchor A: (a * amplitude * wander + w * A) / sqrt(a^2 + w^2), where
        a = 1 - w * (1 - orbit): the free walk at w = 0, A plus a smaller walk around it at w = 1, and
        about the prior's length in between (wander and A are nearly orthogonal in many dimensions)."""
        free = self.wander(tau)
        with self._lock:
            w, anchor = self._state(now)
        if anchor is None or w <= 0.0:
            return (amplitude * free).astype(np.float32)
        a = 1.0 - w * (1.0 - self.orbit)
        return ((a * amplitude * free + w * anchor) / math.sqrt(a * a + w * w)).astype(np.float32)


def check_generator_manifest(manifest: Manifest) -> tuple[TensorSpec, TensorSpec]:
    """The latent input and image output of a generator manifest; a ModelError naming the file otherwise."""
    where = manifest.path or manifest.file
    if manifest.kind != "generator":
        raise ModelError(
            f"{where}: kind is {manifest.kind!r}, not 'generator': the generator source needs a model "
            "with a latent input (a style network takes pictures; use it as the model instead)"
        )
    latents = [t for t in manifest.inputs if len(t.shape) == 2]
    if len(latents) != 1 or len(manifest.inputs) != 1:
        raise ModelError(
            f"{where}: a generator needs exactly one input of shape [1, Z], got "
            f"{[(t.name, list(t.shape)) for t in manifest.inputs]}"
        )
    latent = latents[0]
    if not isinstance(latent.shape[1], int) or latent.shape[1] < 1:
        raise ModelError(f"{where}: latent input {latent.name!r} needs a fixed size, got {list(latent.shape)}")
    out = manifest.outputs[0]
    if len(out.shape) != 4 or 3 not in (out.shape[1], out.shape[3]):
        raise ModelError(f"{where}: output {out.name!r} must be an RGB image (1, 3, H, W), got {list(out.shape)}")
    lo, hi = out.range
    if not hi > lo:
        raise ModelError(f"{where}: output range must be [low, high] with high > low, got {list(out.range)}")
    return latent, out


class GeneratorSource(FrameSource):
    """A generator's endless dream at width x height, a new frame every 1/fps seconds; same seed, same dream."""

    name = "generator"

    def __init__(
        self,
        model: str | Path | Manifest = "models/generator.json",
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
        seed: int = 0,
        speed: float = 1.0,
        amplitude: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        fit: str = "fill",
        threads: int = 1,
        audio: bool = False,
        orbit: float = 0.35,
        sharpen: float = 0.0,
    ) -> None:
        """``sharpen`` > 0 crisps the enlarged dream (see ``sharpen``): on a wall a 64x64 dream enlarged 30 times
        is soft, and a guided upscaler can only carry over the detail its guide has."""
        if width < 16 or height < 16:
            raise ConfigError(f"generator: width and height must be at least 16, got {width}x{height}")
        if fps <= 0:
            raise ConfigError(f"generator: fps must be positive, got {fps}")
        if not (math.isfinite(speed) and speed >= 0):
            raise ConfigError(f"generator: speed must be a non-negative number, got {speed}")
        if not (math.isfinite(amplitude) and amplitude >= 0):
            raise ConfigError(f"generator: amplitude must be a non-negative number, got {amplitude}")
        if fit not in FIT_MODES:
            raise ConfigError(f"generator: fit must be one of {FIT_MODES}, got {fit!r}")
        if not (math.isfinite(sharpen) and 0 <= sharpen <= 8):
            raise ConfigError(f"generator: sharpen must be in 0..8, got {sharpen}")
        self.sharpen = sharpen
        self.manifest = model if isinstance(model, Manifest) else load_manifest(model)
        self.latent_spec, self.output_spec = check_generator_manifest(self.manifest)
        self.manifest.verify_file()
        self.latent_dim = int(self.latent_spec.shape[1])
        self.width, self.height, self.fps = width, height, fps
        self.seed, self.speed, self.amplitude, self.fit, self.threads = seed, speed, amplitude, fit, threads
        self.walk = LatentWalk(self.latent_dim, seed, orbit=orbit)
        self.audio = AudioLevel() if audio else None
        self._clock = clock
        self._session: Any = None  # an onnxruntime.InferenceSession while open (ort has no type hints)
        self._input_name = self.latent_spec.name
        self._output_name = self.output_spec.name
        lo, hi = self.output_spec.range
        self._lo, self._scale = float(lo), 255.0 / float(hi - lo)
        self._pacer = FramePacer(fps, clock)
        self._last_now: float | None = None
        self._tau = 0.0
        self._native_hw: tuple[int, int] = (0, 0)

    # -- FrameSource -------------------------------------------------------------------------------
    def open(self) -> None:
        import onnxruntime as ort

        path = self.manifest.model_path
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, self.threads)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own types for a corrupt file
            raise ModelError(f"{path}: ONNX Runtime cannot load this generator ({exc})") from exc
        inputs = {i.name: i.shape for i in session.get_inputs()}
        if self._input_name not in inputs:
            raise ModelError(
                f"{path}: has no input {self._input_name!r} (has {sorted(inputs)}); "
                f"its manifest {self.manifest.path} does not match the model"
            )
        size = inputs[self._input_name][-1]
        if isinstance(size, int) and size != self.latent_dim:
            raise ModelError(
                f"{path}: takes a latent of size {size}, but its manifest {self.manifest.path} says "
                f"{self.latent_dim}; re-run laterna import-model or fix the manifest"
            )
        outputs = [o.name for o in session.get_outputs()]
        if self._output_name not in outputs:
            raise ModelError(
                f"{path}: has no output {self._output_name!r} (has {outputs}); "
                f"its manifest {self.manifest.path} does not match the model"
            )
        self._session = session
        probe = self.render(self.walk.wander(0.0))  # fail now, not on the first frame
        log.info(
            "generator %s: latent %d, %dx%d output enlarged to %dx%d",
            self.manifest.name,
            self.latent_dim,
            self._native_hw[1],
            self._native_hw[0],
            probe.shape[1],
            probe.shape[0],
        )
        if self.audio is not None:
            self.audio.start()
        self._pacer.reset()
        self._last_now = None

    def read(self) -> Frame | None:
        if self._session is None:
            raise SourceError(f"generator {self.manifest.name} is not open")
        now = self._clock()
        index = self._pacer.due(now)
        if index is None:
            return None
        speed, amplitude = self.speed, self.amplitude
        if self.audio is not None and self.audio.active:
            onset = self.audio.onset(now)
            speed *= 1.0 + 2.0 * self.audio.level() + 3.0 * onset
            amplitude *= 1.0 + 0.25 * onset
        dt = 0.0 if self._last_now is None else min(MAX_STEP_S, max(0.0, now - self._last_now))
        self._last_now = now
        self._tau += dt * speed
        z = self.walk.latent(self._tau, now, amplitude)
        return Frame(self.render(z), t_capture=now, seq=index, source=self.name)

    def next_frame_in(self) -> float | None:
        return self._pacer.next_in()

    def close(self) -> None:
        self._session = None
        if self.audio is not None:
            self.audio.stop()

    # -- steering ----------------------------------------------------------------------------------
    def steer(self, latent: np.ndarray, seconds: float = 4.0) -> None:
        """Glide to ``latent`` (Z numbers) within ``seconds`` and wander around it; thread-safe."""
        self.walk.steer(latent, seconds, self._clock())

    def release(self, seconds: float = 8.0) -> None:
        """Glide back to dreaming freely within ``seconds``; thread-safe."""
        self.walk.release(seconds, self._clock())

    def latent(self) -> np.ndarray:
        """The latent the walk is at now (without advancing it)."""
        return self.walk.latent(self._tau, self._clock(), self.amplitude)

    # -- drawing -----------------------------------------------------------------------------------
    def render(self, latent: np.ndarray) -> np.ndarray:
        """The picture for one latent: RGB uint8 height x width x 3."""
        if self._session is None:
            raise SourceError(f"generator {self.manifest.name} is not open")
        z = np.ascontiguousarray(np.asarray(latent, dtype=np.float32).reshape(1, self.latent_dim))
        try:
            out = self._session.run([self._output_name], {self._input_name: z})[0]
        except Exception as exc:
            raise SourceError(f"generator {self.manifest.model_path}: inference failed ({exc})") from exc
        img = out[0]
        if img.ndim != 3 or 3 not in (img.shape[0], img.shape[2]):
            raise ModelError(
                f"{self.manifest.model_path}: output {self._output_name!r} has shape {list(out.shape)}, "
                "not an RGB image"
            )
        if img.shape[0] == 3 and img.shape[2] != 3:
            img = img.transpose(1, 2, 0)
        pixels = np.clip(img * np.float32(self._scale) - np.float32(self._lo * self._scale), 0.0, 255.0)
        pixels = (pixels + 0.5).astype(np.uint8)
        self._native_hw = pixels.shape[:2]
        return self._enlarge(pixels)

    def _enlarge(self, pixels: np.ndarray) -> np.ndarray:
        """The small picture at width x height, bicubic (and sharpened, with ``sharpen``): cropped ("fill"),
        letterboxed ("fit") or stretched."""
        h, w = pixels.shape[:2]
        if self.fit == "stretch":
            return self._grow(pixels, self.width, self.height)
        x, y, cw, ch = crop_box(w, h, self.width, self.height, self.fit)
        region = np.ascontiguousarray(pixels[y : y + ch, x : x + cw])
        if self.fit == "fill":
            return self._grow(region, self.width, self.height)
        ox, oy, ow, oh = fit_size(cw, ch, self.width, self.height)
        out = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        out[oy : oy + oh, ox : ox + ow] = self._grow(region, ow, oh)
        return out

    def _grow(self, region: np.ndarray, width: int, height: int) -> np.ndarray:
        big = cv2.resize(region, (width, height), interpolation=cv2.INTER_CUBIC)
        if self.sharpen <= 0:
            return big
        return sharpen(big, self.sharpen, width / region.shape[1])


def sharpen(big: np.ndarray, amount: float, scale: float) -> np.ndarray:
    """An unsharp mask for a picture enlarged ``scale`` times: ``big + amount * (big - blurred)``, where the blur
    (an area shrink by about scale/4 and a bilinear enlargement back: a few ms at 1080p, whatever the radius)
    spans a quarter of an original pixel. Measured on the 64x64 dream at 1920x1080: amount 3 to 4 gives the
    edge energy of the camera path's guided output (docs/upscale.md)."""
    factor = max(2, round(scale / 4))
    h, w = big.shape[:2]
    if w // factor < 1 or h // factor < 1:
        return big
    small = cv2.resize(big, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(big, 1.0 + amount, blurred, -amount, 0.0)
