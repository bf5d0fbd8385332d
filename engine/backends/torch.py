"""PyTorch backend: a TorchScript file of the model on the CPU or CUDA, with fp16, channels_last
and CUDA graphs where they apply. The file is the manifest's ``variants.torchscript`` (written by
``laterna export``) or the model file itself when it ends in ``.pt``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.backends.base import Backend
from engine.errors import BackendError

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    name = "torch"

    def script_path(self) -> Path:
        if self.manifest.file.endswith(".pt"):
            return self.manifest.model_path
        variant = self.manifest.extra.get("variants", {}).get("torchscript")
        if not variant:
            raise BackendError(f"{self.manifest.path}: no TorchScript variant listed; run `laterna export` again")
        return self.manifest.model_path.parent / variant["file"]

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
        module = torch.jit.load(str(path), map_location=self.device).eval()
        self.dtype = torch.float16 if (self.options.fp16 and self.device.type == "cuda") else torch.float32
        module = module.to(self.dtype)
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        if self.options.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        self.use_graphs = self.options.cuda_graphs and self.device.type == "cuda"
        self._graph = None
        self._graph_key: tuple | None = None
        if self.threads_set():
            torch.set_num_threads(self.options.threads)

    def threads_set(self) -> bool:
        return self.device.type == "cpu" and self.options.threads > 0

    def _to_device(self, array: np.ndarray):
        t = self._torch.from_numpy(array).to(self.device, non_blocking=True).to(self.dtype)
        return t.contiguous(memory_format=self.memory_format) if t.dim() == 4 else t

    def _infer(self, image: np.ndarray, style: np.ndarray | None) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            if self.use_graphs:
                out = self._graph_run(image, style)
            else:
                args = (self._to_device(image),) + ((self._to_device(style),) if style is not None else ())
                out = self.module(*args)
            return out.float().cpu().numpy()

    def _graph_run(self, image: np.ndarray, style: np.ndarray | None):
        """Replay a CUDA graph captured for this input shape (captured again when the shape changes)."""
        torch = self._torch
        key = (image.shape, None if style is None else style.shape)
        if self._graph_key != key:
            self._static_in = [self._to_device(image)] + ([self._to_device(style)] if style is not None else [])
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up outside the graph, as the CUDA graphs docs require
                    self.module(*self._static_in)
            torch.cuda.current_stream().wait_stream(side)
            self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self._graph):
                self._static_out = self.module(*self._static_in)
            self._graph_key = key
        self._static_in[0].copy_(self._to_device(image))
        if style is not None:
            self._static_in[1].copy_(self._to_device(style))
        self._graph.replay()
        return self._static_out

    def _close(self) -> None:
        self.module = None
        self._graph = None

    def describe(self) -> str:
        dev = getattr(self, "device", None)
        return f"torch[{dev}{',fp16' if self.options.fp16 else ''}]"
