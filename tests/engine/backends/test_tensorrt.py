import numpy as np
import pytest

from engine.backends.base import BackendOptions
from engine.backends.tensorrt import TensorRTBackend
from engine.errors import BackendError
from exporters.tensorrt_build import EngineProfile, build_engine, tensorrt_available
from tests.conftest import cuda_available


def test_missing_engine_or_runtime_is_a_clear_error(tiny_model, tmp_path):
    """Without TensorRT, CUDA or an engine file, loading raises BackendError (the next backend is tried)."""
    with pytest.raises(BackendError, match="TensorRT|CUDA|engine"):
        TensorRTBackend(tiny_model, BackendOptions(engine_path=str(tmp_path / "none.engine"))).load()


@pytest.mark.gpu
@pytest.mark.skipif(not (tensorrt_available() and cuda_available()), reason="needs TensorRT and a CUDA GPU")
def test_engine_runs_and_matches_onnx(tiny_model, tmp_path):
    """A built fp16 engine runs through the backend and matches ONNX Runtime closely."""
    from engine.backends.onnxruntime import OnnxRuntimeBackend

    engine = build_engine(
        tiny_model.model_path, tmp_path / "tiny.engine", 3, profile=EngineProfile((32, 32), (360, 640), (1080, 1920))
    )
    img = np.random.default_rng(4).random((1, 3, 360, 640), dtype=np.float32)
    style = np.array([[1, 0, 0]], np.float32)
    with TensorRTBackend(tiny_model, BackendOptions(device="cuda", engine_path=str(engine))) as trt:
        got = trt.infer(img, style)
    with OnnxRuntimeBackend(tiny_model) as ort:
        want = ort.infer(img, style)
    assert np.abs(got - want).max() < 2e-2
