"""Reduced-precision variants of an exported fp32 ONNX model: fp16 and int8 (static, calibrated).

Each variant is compared against the fp32 file on the same inputs (``compare_onnx``) so its PSNR
travels into the manifest. On a 2-core CPU fp32 is usually the fastest; fp16 is for GPUs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.errors import ExportError

log = logging.getLogger(__name__)

# ONNX Runtime's QDQ quantiser looks for the per-channel axis of every normalisation's scale at axis 1
# (right for LayerNormalization's (.., C) scales), but InstanceNormalization's scale is a rank-1 (C,)
# tensor: axis 1 is out of range, ORT logs "Axis 1 is out-of-range for weight ..." once per norm layer
# (11 times for LanternNet) and falls back to one scale per tensor. Its channel axis is 0.
NORM_SCALE_AXIS = {"InstanceNormalization": 0}


def to_fp16(src: str | Path, dst: str | Path) -> Path:
    """fp16 weights and activations, float32 inputs and outputs (so callers need not change)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        onnx.save(model, str(dst))
    except Exception as exc:
        raise ExportError(f"{src}: fp16 conversion failed ({exc})") from exc
    return Path(dst)


class _FrameReader:
    """ONNX Runtime calibration reader over real frames (NCHW float32 [0, 1]) and style mixes."""

    def __init__(self, frames: list[np.ndarray], n_styles: int) -> None:
        rng = np.random.default_rng(0)
        self.items = []
        for i, f in enumerate(frames):
            feed = {"image": f.astype(np.float32)}
            if n_styles:
                style = np.zeros((1, n_styles), np.float32)
                style[0, i % n_styles] = 1.0
                if i >= n_styles:  # mixes too, not only pure styles
                    style = rng.random((1, n_styles)).astype(np.float32)
                    style /= style.sum()
                feed["style"] = style
            self.items.append(feed)
        self._it = iter(self.items)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.items)


def to_int8(src: str | Path, dst: str | Path, calibration_frames: list[np.ndarray], n_styles: int) -> Path:
    """Static int8 quantisation (QDQ, per channel) calibrated on real frames."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration_frames:
        raise ExportError("int8 quantisation needs calibration frames")

    class Reader(_FrameReader, CalibrationDataReader):
        pass

    pre = Path(dst).with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            Reader(calibration_frames, n_styles),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options={"QDQOpTypePerChannelSupportToAxis": NORM_SCALE_AXIS},
        )
    except Exception as exc:
        raise ExportError(f"{src}: int8 quantisation failed ({exc})") from exc
    finally:
        pre.unlink(missing_ok=True)
    return Path(dst)
