import numpy as np
import pytest

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.backends.torch import TorchBackend
from engine.errors import BackendError
from tests.conftest import cuda_available


def test_torchscript_backend_matches_onnxruntime(tiny_model):
    """The PyTorch backend (TorchScript file from the exporter) gives the ONNX Runtime result on the CPU."""
    img = np.random.default_rng(2).random((1, 3, 40, 56), dtype=np.float32)
    style = np.array([[0.0, 0.5, 0.5]], np.float32)
    with TorchBackend(tiny_model) as torch_backend, OnnxRuntimeBackend(tiny_model) as ort_backend:
        assert np.abs(torch_backend.infer(img, style) - ort_backend.infer(img, style)).max() < 1e-4


def test_cuda_request_without_cuda_is_a_clear_error(tiny_model):
    """Asking for CUDA on a machine without it raises BackendError (so the next backend is tried)."""
    if cuda_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(BackendError, match="CUDA"):
        TorchBackend(tiny_model, BackendOptions(device="cuda")).load()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("fp16,channels_last,graphs", [(False, False, False), (True, True, False), (True, False, True)])
def test_cuda_paths_match_cpu(tiny_model, fp16, channels_last, graphs):
    """On CUDA (fp32, fp16 + channels_last, fp16 + CUDA graphs) the output matches the CPU result."""
    img = np.random.default_rng(3).random((1, 3, 360, 640), dtype=np.float32)
    style = np.array([[0.3, 0.3, 0.4]], np.float32)
    with TorchBackend(tiny_model) as cpu:
        want = cpu.infer(img, style)
    opts = BackendOptions(device="cuda", fp16=fp16, channels_last=channels_last, cuda_graphs=graphs)
    with TorchBackend(tiny_model, opts) as gpu:
        for _ in range(3):  # graphs: capture, then replays with new data
            got = gpu.infer(img, style)
    assert np.abs(got - want).max() < (2e-2 if fp16 else 1e-3)
