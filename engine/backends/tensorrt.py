"""Native TensorRT backend (TensorRT 10): an engine file from ``laterna export --tensorrt``,
device buffers allocated once per input shape (through PyTorch's CUDA allocator), and asynchronous
execution on a CUDA stream. Imports TensorRT only when loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.backends.base import Backend, FloatArray
from engine.backends.engine_file import read_engine_file
from engine.errors import BackendError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


# tensorrt ships no type hints: these Protocols are the part of its API this backend uses.
class _ExecutionContext(Protocol):
    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool: ...

    def get_tensor_shape(self, name: str) -> Iterable[int]: ...  # a trt.Dims

    def set_tensor_address(self, name: str, memory: int) -> bool: ...

    def execute_async_v3(self, stream_handle: int) -> bool: ...


class _CudaEngine(Protocol):
    @property
    def num_io_tensors(self) -> int: ...

    def get_tensor_name(self, index: int) -> str: ...

    def get_tensor_mode(self, name: str) -> object: ...  # a trt.TensorIOMode

    def get_tensor_dtype(self, name: str) -> object: ...  # a trt.DataType

    def create_execution_context(self) -> _ExecutionContext | None: ...


class TensorRTBackend(Backend):
    name = "tensorrt"

    def engine_path(self) -> Path:
        if self.options.engine_path:
            return Path(self.options.engine_path)
        return self.manifest.variant_file("tensorrt") or self.manifest.model_path.with_suffix(".engine")

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
            raise BackendError(
                f"{path}: built with TensorRT {meta['tensorrt_version']}, this machine has "
                f"{trt.__version__}; rebuild it with `laterna export --tensorrt`"
            )
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine: _CudaEngine | None = self._runtime.deserialize_cuda_engine(blob)
        if engine is None:
            raise BackendError(f"{path}: TensorRT could not deserialise the engine (corrupt, or built for another GPU)")
        context = engine.create_execution_context()
        if context is None:
            raise BackendError(f"{path}: TensorRT could not create an execution context (out of GPU memory?)")
        self._engine: _CudaEngine | None = engine
        self._context: _ExecutionContext | None = context
        self._stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # torch leaves Stream() unannotated
        self._names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._inputs = [n for n in self._names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in self._names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._buffers: dict[str, torch.Tensor] = {}
        self._shape_key: tuple[tuple[str, tuple[int, ...]], ...] | None = None
        self.meta = meta

    def _allocate(self, context: _ExecutionContext, engine: _CudaEngine, shapes: dict[str, tuple[int, ...]]) -> None:
        import torch  # imported by _load already; a local name keeps torch's type hints

        trt = self._trt
        for name, shape in shapes.items():
            if not context.set_input_shape(name, shape):
                raise BackendError(
                    f"TensorRT engine does not accept {name} of shape {shape} (profile {self.meta.get('profile')})"
                )
        for name in self._names:
            shape = tuple(context.get_tensor_shape(name))
            dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.DataType.HALF else torch.float32
            buf = torch.empty(shape, dtype=dtype, device="cuda")
            self._buffers[name] = buf
            context.set_tensor_address(name, buf.data_ptr())

    def _infer(self, image: FloatArray, style: FloatArray | None) -> FloatArray:
        import torch  # imported by _load already; a local name keeps torch's type hints

        context, engine = self._context, self._engine
        if context is None or engine is None:
            raise BackendError("TensorRT backend is closed")
        feeds = {"image": image} if style is None else {"image": image, "style": style}
        feeds = {n: feeds.get(n, image) for n in self._inputs}
        key = tuple((n, a.shape) for n, a in feeds.items())
        if key != self._shape_key:
            self._allocate(context, engine, {n: a.shape for n, a in feeds.items()})
            self._shape_key = key
        with torch.cuda.stream(self._stream):
            for n, a in feeds.items():
                buf = self._buffers[n]
                buf.copy_(torch.from_numpy(a).to(buf.dtype).pin_memory(), non_blocking=True)
            if not context.execute_async_v3(self._stream.cuda_stream):
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
