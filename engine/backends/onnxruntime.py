"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, chosen in order with fallback.

On the CPU several sessions with one thread each can work on alternate frames (two 1-thread
sessions gave 1.5x the throughput of one 2-thread session on a 2-core machine); ``infer`` is
thread-safe and takes whichever session is free. On CUDA, IO binding keeps the output on the device
until it is copied back once.
"""

from __future__ import annotations

import logging
import queue
from typing import Protocol

from engine.backends.base import Backend, BackendOptions, FloatArray
from engine.errors import BackendError
from engine.manifest import Manifest

log = logging.getLogger(__name__)

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


# onnxruntime ships no type hints: these Protocols are the part of its API this backend uses.
class _NodeArg(Protocol):
    @property
    def name(self) -> str: ...


class _IOBinding(Protocol):
    def bind_cpu_input(self, name: str, arr_on_cpu: FloatArray) -> None: ...

    def bind_output(self, name: str, device_type: str) -> None: ...

    def copy_outputs_to_cpu(self) -> list[FloatArray]: ...


class _Session(Protocol):
    """An ``onnxruntime.InferenceSession`` of a model with float32 inputs and outputs."""

    def get_providers(self) -> list[str]: ...

    def get_inputs(self) -> list[_NodeArg]: ...

    def io_binding(self) -> _IOBinding: ...

    def run_with_iobinding(self, iobinding: _IOBinding) -> None: ...

    def run(self, output_names: list[str], input_feed: dict[str, FloatArray]) -> list[FloatArray]: ...


def choose_providers(wanted: tuple[str, ...], available: list[str]) -> list[str]:
    """Map config names to ONNX Runtime providers, keep the available ones in order, CPU last."""
    chosen: list[str] = []
    for name in wanted:
        provider = PROVIDERS.get(name.lower(), name)
        if provider not in PROVIDERS.values():
            raise BackendError(f"unknown execution provider {name!r}; expected one of {sorted(PROVIDERS)}")
        if provider in available and provider not in chosen:
            chosen.append(provider)
        elif provider not in available:
            log.warning("ONNX Runtime provider %s is not available here (have %s); skipping it", provider, available)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, manifest: Manifest, options: BackendOptions = BackendOptions()) -> None:
        super().__init__(manifest, options)
        self._sessions: queue.Queue[_Session] = queue.Queue()
        self.providers: list[str] = []
        self._image_name = manifest.image_input.name
        self._output_name = manifest.outputs[0].name

    def _load(self) -> None:
        import onnxruntime as ort

        self.providers = choose_providers(self.options.providers, ort.get_available_providers())
        n = max(1, self.options.sessions)
        for _ in range(n):
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if self.options.threads:
                so.intra_op_num_threads = self.options.threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            sess: _Session = ort.InferenceSession(str(self.manifest.model_path), so, providers=self.providers)
            self._sessions.put(sess)
        active = self._sessions.queue[0].get_providers()
        if active[0] != self.providers[0]:
            log.warning("ONNX Runtime fell back from %s to %s", self.providers[0], active[0])
        self.providers = active
        names = {i.name for i in self._sessions.queue[0].get_inputs()}
        if self._image_name not in names:
            raise BackendError(
                f"{self.manifest.model_path}: has no input {self._image_name!r} (has {sorted(names)}); "
                "the manifest does not match the model"
            )
        self._use_binding = self.providers[0] != "CPUExecutionProvider"

    def _infer(self, image: FloatArray, style: FloatArray | None) -> FloatArray:
        feed = {self._image_name: image}
        if style is not None:
            feed["style"] = style
        sess = self._sessions.get()
        try:
            if self._use_binding:
                binding = sess.io_binding()
                for k, v in feed.items():
                    binding.bind_cpu_input(k, v)
                binding.bind_output(self._output_name, "cuda")
                sess.run_with_iobinding(binding)
                return binding.copy_outputs_to_cpu()[0]
            return sess.run([self._output_name], feed)[0]
        finally:
            self._sessions.put(sess)

    def _close(self) -> None:
        while not self._sessions.empty():
            self._sessions.get_nowait()

    def describe(self) -> str:
        return f"onnxruntime[{self.providers[0] if self.providers else '?'}]x{max(1, self.options.sessions)}"
