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


def test_int8_quantises_instance_norm_scales_per_channel_without_warnings(tmp_path, caplog):
    """int8 export logs no 'Axis 1 is out-of-range' warnings: each instance-norm scale is quantised per channel."""
    import logging

    import onnx

    fp32 = export_onnx(tiny_net(), tmp_path / "m.onnx", 3)
    frames = [np.random.default_rng(i).random((1, 3, 32, 48), dtype=np.float32) for i in range(3)]
    with caplog.at_level(logging.WARNING):
        int8 = to_int8(fp32, tmp_path / "m.int8.onnx", frames, 3)
    assert not [r for r in caplog.records if "out-of-range" in r.getMessage()]
    graph = onnx.load(str(int8)).graph
    norms = [n for n in graph.node if n.op_type == "InstanceNormalization"]
    producers = {o: n for n in graph.node for o in n.output}
    scale_dq = [producers[n.input[1]] for n in norms]
    assert norms and all(n.op_type == "DequantizeLinear" for n in scale_dq)
    assert all(next(a.i for a in n.attribute if a.name == "axis") == 0 for n in scale_dq)  # per channel
