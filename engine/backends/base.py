"""The backend interface: the base class checks, the subclass works.

``Backend.infer`` takes RGB float32 NCHW in [0, 1] and a style-weight vector, validates both once
against the model's manifest, converts to the model's declared input range, calls the subclass's
``_infer``, converts the output back to [0, 1] and records the time. Subclasses write ``_load`` and
``_infer`` only. Sessions and buffers are created in ``_load``, never per frame.
"""

from __future__ import annotations

import abc
import collections
import logging
import time
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt

from engine.errors import BackendError
from engine.manifest import Manifest

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
"""What backends take and give: float32 arrays (NCHW images, N x n_styles style weights)."""


@dataclass(frozen=True)
class TritonTarget:
    """Where the ``triton`` backend sends frames: a Triton Inference Server's gRPC address and model."""

    url: str = ""  # host:port of the server's gRPC endpoint, e.g. "gpu-server:8001"
    model: str = ""  # the model's name in the server's repository ("" = the manifest's name)
    version: int = 0  # 0 = whichever version the server's version policy picks
    timeout_s: float = 1.0  # one frame's round trip; longer counts as a failure
    connect_timeout_s: float = 5.0  # checking the server and the model when the backend loads


@dataclass(frozen=True)
class BackendOptions:
    """Settings every backend understands; each backend ignores what does not apply to it."""

    device: str = "cpu"  # "cpu" or "cuda" / "cuda:N"
    threads: int = 0  # intra-op threads per session; 0 = the runtime's default
    sessions: int = 1  # parallel sessions (ONNX Runtime CPU: two 1-thread sessions beat one 2-thread)
    providers: tuple[str, ...] = ("cpu",)  # ONNX Runtime execution providers, in order of preference
    fp16: bool = False
    engine_path: str = ""  # TensorRT: a prebuilt engine file; else built beside the model
    cuda_graphs: bool = False
    channels_last: bool = False
    triton: TritonTarget = TritonTarget()  # the triton backend's server and model


class Backend(abc.ABC):
    """Runs one model. Use as a context manager; ``close()`` is idempotent."""

    name = "backend"
    retry_after_failure = False  # may come back by itself (a remote server): worth trying again after a fallback

    def __init__(self, manifest: Manifest, options: BackendOptions = BackendOptions()) -> None:
        self.manifest = manifest
        self.options = options
        self.loaded = False
        self.timings_ms: collections.deque[float] = collections.deque(maxlen=512)
        spec = manifest.image_input
        self._in_lo, self._in_hi = spec.range
        out = manifest.outputs[0]
        self._out_lo, self._out_hi = out.range
        self.fixed_hw = spec.fixed_hw()
        style = manifest.style_input
        self.n_styles = len(manifest.styles) if style is not None else 0
        self._checked_style: FloatArray | None = None  # a read-only style array that passed check_style

    # -- public, checked -----------------------------------------------------------------------
    def load(self) -> Self:
        if self.loaded:
            return self
        self.manifest.verify_file()
        try:
            self._load()
        except BackendError:
            raise
        except Exception as exc:  # runtimes raise their own types for a corrupt file
            raise BackendError(f"{self.manifest.model_path}: {self.name} could not load the model ({exc})") from exc
        self.loaded = True
        log.info("%s loaded %s", self.name, self.manifest.model_path)
        return self

    def check_style(self, style: npt.ArrayLike | None, batch: int = 1) -> FloatArray | None:
        """Validate a style-weight vector: the right length, finite, non-negative, not all zero."""
        if self.n_styles == 0:
            return None
        if style is not None and style is self._checked_style and batch == 1:
            return self._checked_style  # the same read-only array as last time (StyleMix.as_array): checked
        if style is None:
            raise BackendError(f"{self.manifest.name}: needs a style vector of {self.n_styles} weights")
        s = np.asarray(style, dtype=np.float32)
        if s.ndim == 1:
            s = s[None]
        if s.ndim != 2 or s.shape[1] != self.n_styles:
            raise BackendError(
                f"{self.manifest.name}: style vector must have {self.n_styles} weights "
                f"({', '.join(self.manifest.style_names)}), got shape {tuple(np.shape(style))}"
            )
        if not np.all(np.isfinite(s)):
            raise BackendError(f"{self.manifest.name}: style weights must be finite numbers, got {s.tolist()}")
        if np.any(s < 0):
            raise BackendError(f"{self.manifest.name}: style weights must not be negative, got {s.tolist()}")
        if np.any(s.sum(axis=1) <= 0):
            raise BackendError(
                f"{self.manifest.name}: style weights must not all be zero (use strength 0 for the unstyled picture)"
            )
        if s.shape[0] == 1 and batch > 1:
            s = np.repeat(s, batch, axis=0)
        s = np.ascontiguousarray(s)
        if s is style and not s.flags.writeable:
            self._checked_style = s
        return s

    def check_image(self, image: FloatArray) -> FloatArray:
        """``image`` itself if it is float32 Nx3xHxW of a size the model takes; BackendError otherwise."""
        if not isinstance(image, np.ndarray) or image.dtype != np.float32 or image.ndim != 4 or image.shape[1] != 3:
            got = (getattr(image, "dtype", type(image)), getattr(image, "shape", None))
            raise BackendError(f"{self.manifest.name}: image must be float32 Nx3xHxW, got {got}")
        if self.fixed_hw and tuple(image.shape[2:]) != self.fixed_hw:
            raise BackendError(
                f"{self.manifest.name}: model takes {self.fixed_hw[0]}x{self.fixed_hw[1]} images, "
                f"got {image.shape[2]}x{image.shape[3]}"
            )
        return image

    def infer(self, image: FloatArray, style: npt.ArrayLike | None = None) -> FloatArray:
        """Stylise a [0, 1] NCHW float32 image with the given style weights; returns [0, 1] NCHW."""
        if not self.loaded:
            self.load()
        image = self.check_image(image)
        style_arr = self.check_style(style, image.shape[0])
        if (self._in_lo, self._in_hi) != (0.0, 1.0):
            image = image * np.float32(self._in_hi - self._in_lo) + np.float32(self._in_lo)
        t0 = time.perf_counter()
        try:
            out = self._infer(np.ascontiguousarray(image), style_arr)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"{self.name} inference failed on {self.manifest.name}: {exc}") from exc
        elapsed = (time.perf_counter() - t0) * 1000.0
        self.timings_ms.append(elapsed)
        if (self._out_lo, self._out_hi) != (0.0, 1.0):
            out = (out - np.float32(self._out_lo)) / np.float32(self._out_hi - self._out_lo)
        return out

    def close(self) -> None:
        if self.loaded:
            self._close()
            self.loaded = False

    def __enter__(self) -> Self:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """Short human name of what runs, e.g. 'onnxruntime[CPUExecutionProvider]'."""
        return self.name

    # -- subclass work ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _load(self) -> None:
        """Create sessions, engines and buffers."""

    @abc.abstractmethod
    def _infer(self, image: FloatArray, style: FloatArray | None) -> FloatArray:
        """Run the model on an already-validated, range-converted input; return float32 NCHW."""

    def _close(self) -> None:
        """Release sessions and buffers."""
