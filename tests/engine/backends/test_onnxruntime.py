import threading

import numpy as np
import pytest

from engine.backends.base import BackendOptions
from engine.backends.onnxruntime import OnnxRuntimeBackend, choose_providers
from engine.errors import BackendError
from engine.manifest import file_sha256
from tests.conftest import tiny_net


def test_real_session_matches_pytorch(tiny_model):
    """The ONNX Runtime backend reproduces the PyTorch network on a real picture."""
    import torch

    img = np.random.default_rng(0).random((1, 3, 36, 64), dtype=np.float32)
    style = np.array([[0.2, 0.3, 0.5]], np.float32)
    with OnnxRuntimeBackend(tiny_model) as backend:
        out = backend.infer(img, style)
        assert len(backend.timings_ms) == 1
    want = tiny_net()(torch.from_numpy(img), torch.from_numpy(style)).detach().numpy()
    assert np.abs(out - want).max() < 1e-4


@pytest.mark.parametrize(
    "style,match",
    [
        ([[1.0, 0.0]], "must have 3 weights"),
        ([[1.0, -0.5, 0.5]], "must not be negative"),
        ([[np.nan, 0.5, 0.5]], "finite"),
        ([[0.0, 0.0, 0.0]], "not all be zero"),
        (None, "needs a style vector"),
    ],
)
def test_bad_style_vectors_are_clear_errors(tiny_model, style, match):
    """Style vectors of the wrong length, negative or NaN raise BackendError naming the styles."""
    with OnnxRuntimeBackend(tiny_model) as backend:
        with pytest.raises(BackendError, match=match):
            backend.infer(np.zeros((1, 3, 16, 16), np.float32), None if style is None else np.array(style, np.float32))


def test_bad_image_is_a_clear_error(tiny_model):
    """An image of the wrong dtype or layout raises BackendError instead of reaching the runtime."""
    with OnnxRuntimeBackend(tiny_model) as backend:
        with pytest.raises(BackendError, match="float32 Nx3xHxW"):
            backend.infer(np.zeros((16, 16, 3), np.uint8), np.array([[1, 0, 0]], np.float32))


def test_corrupt_model_file_names_the_file(model_copy):
    """A corrupt model file (even with a matching hash in its manifest) raises BackendError naming it."""
    import dataclasses

    model_copy.model_path.write_bytes(b"\x08\x07garbage" * 100)
    corrupt = dataclasses.replace(model_copy, sha256=file_sha256(model_copy.model_path))
    with pytest.raises(BackendError, match="tiny.onnx"):
        OnnxRuntimeBackend(corrupt).load()


def test_sessions_work_in_parallel_threads(tiny_model):
    """With two sessions, concurrent infer() calls from two threads give the same results as one."""
    img = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    style = np.array([[0, 1, 0]], np.float32)
    backend = OnnxRuntimeBackend(tiny_model, BackendOptions(threads=1, sessions=2)).load()
    want = backend.infer(img, style)
    results = []
    threads = [threading.Thread(target=lambda: results.append(backend.infer(img, style))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backend.close()
    assert len(results) == 6 and all(np.array_equal(r, want) for r in results)


def test_provider_order_falls_back_to_cpu():
    """Unavailable providers are skipped in order and the CPU provider is always last."""
    assert choose_providers(("tensorrt", "cuda", "cpu"), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(("cuda",), ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(BackendError, match="unknown execution provider"):
        choose_providers(("quantum",), ["CPUExecutionProvider"])


def test_a_style_vector_is_checked_again_unless_it_cannot_have_changed(tiny_model):
    """A read-only style array (StyleMix.as_array) that passed is not checked again frame after frame; a writable
    one is, every time, so a vector made bad after a good frame is still refused."""
    from engine.style import StyleMix

    image = np.zeros((1, 3, 16, 16), np.float32)
    with OnnxRuntimeBackend(tiny_model) as backend:
        fixed = StyleMix.single(3, 1).as_array()
        assert not fixed.flags.writeable
        assert backend.check_style(fixed) is fixed and backend._checked_style is fixed  # remembered as checked
        assert backend.check_style(fixed) is fixed
        with pytest.raises(ValueError):
            fixed[0, 0] = -1.0  # read-only: it cannot go bad behind the check
        style = np.array([[0.2, 0.3, 0.5]], np.float32)
        backend.infer(image, style)
        assert backend._checked_style is fixed  # a writable vector is never remembered
        style[0, 1] = -1.0
        with pytest.raises(BackendError, match="must not be negative"):
            backend.infer(image, style)
