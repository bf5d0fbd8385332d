"""Native TensorRT backend (TensorRT 10): an engine file from ``laterna export --tensorrt``,
device buffers allocated once per input shape (through PyTorch's CUDA allocator), and asynchronous
execution on a CUDA stream. Imports TensorRT only when loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.backends.base import Backend
from engine.backends.engine_file import read_engine_file
from engine.errors import BackendError

log = logging.getLogger(__name__)


class TensorRTBackend(Backend):
    name = "tensorrt"

    def engine_path(self) -> Path:
        if self.options.engine_path:
            return Path(self.options.engine_path)
        variant = self.manifest.extra.get("variants", {}).get("tensorrt")
        if variant:
            return self.manifest.model_path.parent / variant["file"]
        return self.manifest.model_path.with_suffix(".engine")

    def _load(self) -> None:
        try:
            import tensorrt as trt
            import torch
        except ImportError as exc:
            raise BackendError(f"TensorRT backend needs tensorrt and torch with CUDA ({exc})") from exc
        if not torch.cuda.is_available():
            raise BackendError("TensorRT backend needs a CUDA device; none is available")
        path = self.engine_path()
        if not path.is_file():
            raise BackendError(f"{path}: no TensorRT engine; build one with `laterna export --tensorrt`")
        meta, blob = read_engine_file(path)
        if meta.get("tensorrt_version") and meta["tensorrt_version"] != trt.__version__:
            raise BackendError(f"{path}: built with TensorRT {meta['tensorrt_version']}, this machine has "
                               f"{trt.__version__}; rebuild it with `laterna export --tensorrt`")
        self._torch, self._trt = torch, trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(blob)
        if self._engine is None:
            raise BackendError(f"{path}: TensorRT could not deserialise the engine (corrupt, or built for another GPU)")
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self._names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._inputs = [n for n in self._names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in self._names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._buffers: dict[str, object] = {}
        self._shape_key: tuple | None = None
        self.meta = meta

    def _allocate(self, shapes: dict[str, tuple]) -> None:
        torch, trt = self._torch, self._trt
        for name, shape in shapes.items():
            if not self._context.set_input_shape(name, shape):
                raise BackendError(f"TensorRT engine does not accept {name} of shape {shape} "
                                   f"(profile {self.meta.get('profile')})")
        for name in self._names:
            shape = tuple(self._context.get_tensor_shape(name))
            dtype = torch.float16 if self._engine.get_tensor_dtype(name) == trt.DataType.HALF else torch.float32
            buf = torch.empty(shape, dtype=dtype, device="cuda")
            self._buffers[name] = buf
            self._context.set_tensor_address(name, buf.data_ptr())

    def _infer(self, image: np.ndarray, style: np.ndarray | None) -> np.ndarray:
        torch = self._torch
        feeds = {"image": image} if style is None else {"image": image, "style": style}
        feeds = {n: feeds.get(n, image) for n in self._inputs}
        key = tuple((n, a.shape) for n, a in feeds.items())
        if key != self._shape_key:
            self._allocate({n: a.shape for n, a in feeds.items()})
            self._shape_key = key
        with torch.cuda.stream(self._stream):
            for n, a in feeds.items():
                buf = self._buffers[n]
                buf.copy_(torch.from_numpy(a).to(buf.dtype).pin_memory(), non_blocking=True)
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError("TensorRT execution failed")
            out = self._buffers[self._outputs[0]].float().cpu()
        self._stream.synchronize()
        return out.numpy()

    def _close(self) -> None:
        self._buffers.clear()
        self._context = None
        self._engine = None

    def describe(self) -> str:
        return f"tensorrt[{self.meta.get('precision', '?')}]" if hasattr(self, "meta") else "tensorrt"
