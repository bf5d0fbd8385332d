"""PyTorch backend: a TorchScript file of the model on the CPU or CUDA, with fp16, channels_last
and CUDA graphs where they apply. The file is the manifest's ``variants.torchscript`` (written by
``laterna export``) or the model file itself when it ends in ``.pt``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engine.backends.base import Backend, FloatArray
from engine.errors import BackendError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    name = "torch"

    def script_path(self) -> Path:
        if self.manifest.file.endswith(".pt"):
            return self.manifest.model_path
        path = self.manifest.variant_file("torchscript")
        if path is None:
            raise BackendError(f"{self.manifest.path}: no TorchScript variant listed; run `laterna export` again")
        return path

    def _load(self) -> None:
        import torch

        self._torch = torch
        device = self.options.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError("PyTorch backend asked for CUDA but no CUDA device is available")
        path = self.script_path()
        if not path.is_file():
            raise BackendError(f"{path}: TorchScript model file not found")
        self.device = torch.device(device)
        # torch.jit.load is unannotated in torch's own hints; it returns a ScriptModule
        module: torch.jit.ScriptModule = torch.jit.load(  # type: ignore[no-untyped-call]
            str(path), map_location=self.device
        ).eval()
        self.dtype = torch.float16 if (self.options.fp16 and self.device.type == "cuda") else torch.float32
        module = module.to(self.dtype)
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        if self.options.channels_last:
            # Module.to takes memory_format at run time; torch's hints leave it out
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.module: torch.jit.ScriptModule | None = module
        self.use_graphs = self.options.cuda_graphs and self.device.type == "cuda"
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_key: tuple[tuple[int, ...], tuple[int, ...] | None] | None = None
        if self.threads_set():
            torch.set_num_threads(self.options.threads)

    def threads_set(self) -> bool:
        return self.device.type == "cpu" and self.options.threads > 0

    def _to_device(self, array: FloatArray) -> torch.Tensor:
        t = self._torch.from_numpy(array).to(self.device, non_blocking=True).to(self.dtype)
        return t.contiguous(memory_format=self.memory_format) if t.dim() == 4 else t

    def _loaded_module(self) -> torch.jit.ScriptModule:
        if self.module is None:
            raise BackendError("PyTorch backend is closed")
        return self.module

    def _infer(self, image: FloatArray, style: FloatArray | None) -> FloatArray:
        module = self._loaded_module()
        with self._torch.inference_mode():
            out: torch.Tensor
            if self.use_graphs:
                out = self._graph_run(module, image, style)
            else:
                args = (self._to_device(image),) + ((self._to_device(style),) if style is not None else ())
                out = module(*args)
            return out.float().cpu().numpy()

    def _graph_run(self, module: torch.jit.ScriptModule, image: FloatArray, style: FloatArray | None) -> torch.Tensor:
        """Replay a CUDA graph captured for this input shape (captured again when the shape changes)."""
        import torch  # imported by _load already; the local name keeps torch's type hints

        key = (image.shape, None if style is None else style.shape)
        graph = self._graph
        if self._graph_key != key or graph is None:
            self._static_in = [self._to_device(image)] + ([self._to_device(style)] if style is not None else [])
            side = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # torch leaves Stream() unannotated
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up outside the graph, as the CUDA graphs docs require
                    module(*self._static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._static_out: torch.Tensor = module(*self._static_in)
            self._graph_key = key
        self._static_in[0].copy_(self._to_device(image))
        if style is not None:
            self._static_in[1].copy_(self._to_device(style))
        graph.replay()
        return self._static_out

    def _close(self) -> None:
        self.module = None
        self._graph = None

    def describe(self) -> str:
        dev = getattr(self, "device", None)
        return f"torch[{dev}{',fp16' if self.options.fp16 else ''}]"
