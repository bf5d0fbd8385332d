import numpy as np
import onnxruntime as ort

from exporters.onnx_export import compare_onnx, export_onnx
from exporters.variants import to_fp16, to_int8
from tests.conftest import tiny_net


def test_fp16_and_int8_variants_run_and_are_compared(tmp_path):
    """fp16 and calibrated int8 variants load in ONNX Runtime, keep float32 I/O, and get a PSNR vs fp32."""
    fp32 = export_onnx(tiny_net(), tmp_path / "m.onnx", 3)
    rng = np.random.default_rng(0)
    frames = [rng.random((1, 3, 48, 64), dtype=np.float32) for _ in range(4)]
    fp16 = to_fp16(fp32, tmp_path / "m.fp16.onnx")
    int8 = to_int8(fp32, tmp_path / "m.int8.onnx", frames, 3)
    for path in (fp16, int8):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.type for i in sess.get_inputs()] == ["tensor(float)", "tensor(float)"]
    r16 = compare_onnx(fp32, fp16, 3, max_abs=1.0, min_psnr=0.0)
    r8 = compare_onnx(fp32, int8, 3, max_abs=1.0, min_psnr=0.0)
    assert r16.min_psnr_db > 40.0  # half precision is nearly lossless on this range
    assert 15.0 < r8.min_psnr_db < r16.min_psnr_db  # int8 loses more, but the picture survives
