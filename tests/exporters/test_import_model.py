import numpy as np
import torch

from engine.backends.onnxruntime import OnnxRuntimeBackend
from engine.manifest import load_manifest
from exporters.import_model import import_model


class ZooLike(torch.nn.Module):
    """Stands in for an ONNX-zoo fast-neural-style model: fixed 224x224, pixels 0..255 in and out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            for c in range(3):
                self.conv.weight[c, c, 1, 1] = 0.8
            self.conv.bias.fill_(20.0)

    def forward(self, x):
        return self.conv(x).clamp(0, 255)


class Generator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 8, 8)


def test_import_probes_fixed_size_and_0_255_range(tmp_path):
    """import-model finds a fixed 224x224 input and the 0..255 range, and the engine then runs it."""
    path = tmp_path / "mosaic-9.onnx"
    torch.onnx.export(
        ZooLike(),
        (torch.rand(1, 3, 224, 224) * 255,),
        str(path),
        input_names=["input1"],
        output_names=["output1"],
        opset_version=17,
        dynamo=False,
    )
    manifest = import_model(path)
    again = load_manifest(tmp_path / "mosaic-9.json")
    assert again.kind == "style"
    assert again.image_input.name == "input1"
    assert again.image_input.fixed_hw() == (224, 224)
    assert again.image_input.range == (0.0, 255.0)
    assert again.sha256 == manifest.sha256 and again.styles[0].name == "mosaic-9"
    with OnnxRuntimeBackend(again) as backend:
        out = backend.infer(np.full((1, 3, 224, 224), 0.5, np.float32))
    assert np.allclose(out, (0.5 * 255 * 0.8 + 20) / 255, atol=1e-3)  # converted back to 0..1


def test_import_recognises_a_generator(tmp_path):
    """A model with a latent input is recorded as a generator with its latent size and output range."""
    path = tmp_path / "gan.onnx"
    torch.onnx.export(
        Generator(),
        (torch.randn(1, 16),),
        str(path),
        input_names=["z"],
        output_names=["img"],
        opset_version=17,
        dynamo=False,
    )
    manifest = import_model(path)
    assert manifest.kind == "generator"
    assert manifest.inputs[0].shape == (1, 16)
    assert manifest.outputs[0].range == (-1.0, 1.0)


def test_import_probes_a_model_with_a_style_input(tiny_model, tmp_path):
    """A multi-style network (inputs image and style) imports: the style count, 0..1 range, and every style runs."""
    import shutil

    path = tmp_path / "lantern.onnx"
    shutil.copy(tiny_model.model_path, path)
    manifest = import_model(path)
    assert manifest.style_input is not None and manifest.style_input.shape == (1, 3)
    assert manifest.image_input.range == (0.0, 1.0) and len(manifest.styles) == 3
    assert manifest.extra["provenance"]["probed"]["one_hot_styles_run"] == 3
    with OnnxRuntimeBackend(load_manifest(tmp_path / "lantern.json")) as backend:
        out = backend.infer(np.full((1, 3, 32, 32), 0.5, np.float32), np.eye(3, dtype=np.float32)[1:2])
    assert out.shape == (1, 3, 32, 32)


def test_an_existing_manifest_is_kept_unless_forced(tiny_model, tmp_path):
    """import-model never replaces an existing manifest without force; the error names the file and --force."""
    import shutil

    import pytest

    from exporters.staging import OverwriteError

    path = tmp_path / "lantern.onnx"
    shutil.copy(tiny_model.model_path, path)
    shipped = tmp_path / "lantern.json"
    shutil.copy(tiny_model.path, shipped)
    before = shipped.read_bytes()
    with pytest.raises(OverwriteError, match="--force") as err:
        import_model(path)
    assert str(shipped) in str(err.value)
    assert shipped.read_bytes() == before
    import_model(path, force=True)
    assert shipped.read_bytes() != before and load_manifest(shipped).extra["provenance"]["imported_from"]


def test_out_writes_the_manifest_elsewhere_pointing_back_at_the_model(tiny_model, tmp_path):
    """--out writes the manifest to another folder; its file entry still leads to the model, sha256 intact."""
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    path = models / "lantern.onnx"
    shutil.copy(tiny_model.model_path, path)
    manifest = import_model(path, out=tmp_path / "probed" / "lantern.probe.json")
    again = load_manifest(tmp_path / "probed" / "lantern.probe.json")
    assert again.model_path.resolve() == path.resolve() and manifest.path == again.path
    again.verify_file()
    assert not (models / "lantern.json").exists()


class TwoInputs(torch.nn.Module):
    """A style network with a second input Laterna cannot feed (a mask)."""

    def forward(self, x, mask):
        return x * mask


def test_an_input_laterna_cannot_feed_is_a_clear_error(tmp_path):
    """A model needing an unknown input fails with ModelError naming that input, not an ONNX Runtime traceback."""
    import pytest

    from engine.errors import ModelError

    path = tmp_path / "masked.onnx"
    torch.onnx.export(
        TwoInputs(),
        (torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8)),
        str(path),
        input_names=["image", "mask"],
        output_names=["out"],
        opset_version=17,
        dynamo=False,
    )
    with pytest.raises(ModelError, match="'mask'"):
        import_model(path)
    assert not (tmp_path / "masked.json").exists()
