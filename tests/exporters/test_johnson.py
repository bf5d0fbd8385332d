import re

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.errors import ExportError
from engine.manifest import load_manifest
from exporters.johnson import TransformerNet, load_transformer_net
from exporters.ship import export_johnson_model
from tests.conftest import parity_photo


def _examples_checkpoint(path):
    """A state dict as pytorch/examples saves it, with the stale running stats older versions left."""
    torch.manual_seed(0)
    state = TransformerNet().state_dict()
    for k in list(state):
        m = re.match(r"(in\d+)\.weight$", k)
        if m:
            state[f"{m.group(1)}.running_mean"] = torch.zeros_like(state[k])
            state[f"{m.group(1)}.running_var"] = torch.ones_like(state[k])
    torch.save(state, path)
    return path


def test_pytorch_examples_state_dict_loads(tmp_path):
    """A fast_neural_style checkpoint (with legacy running stats) loads into TransformerNet."""
    net = load_transformer_net(_examples_checkpoint(tmp_path / "mosaic.pth"))
    out = net(torch.rand(1, 3, 32, 48) * 255)
    assert out.shape == (1, 3, 32, 48)


def test_wrong_checkpoint_is_a_clear_error(tmp_path):
    """A checkpoint of another network, or a corrupt file, raises ExportError naming the file."""
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ExportError, match="other.pth.*TransformerNet"):
        load_transformer_net(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"\x00junk")
    with pytest.raises(ExportError, match="junk.pth"):
        load_transformer_net(tmp_path / "junk.pth")


def test_johnson_export_records_pixel_range(tmp_path):
    """The classic net exports to ONNX with parity, and its manifest says pixels are 0..255."""
    ckpt = _examples_checkpoint(tmp_path / "candy.pth")
    manifest = export_johnson_model(ckpt, tmp_path, "candy", [parity_photo(tmp_path)])
    assert manifest.extra["parity"]["passed"]
    again = load_manifest(tmp_path / "candy.json")
    assert again.image_input.range == (0.0, 255.0) and again.style_input is None
    sess = ort.InferenceSession(str(again.model_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"image": np.full((1, 3, 40, 40), 128, np.float32)})[0]
    assert out.min() >= 0 and out.max() <= 255
