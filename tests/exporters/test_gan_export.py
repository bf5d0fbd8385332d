import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from engine.errors import ExportError
from engine.manifest import file_sha256, load_manifest
from exporters.gan import GanConfig, Generator
from exporters.gan_export import check_generator_parity, export_generator, load_generator_checkpoint
from tests.exporters.tiny_gan import tiny_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("gan_export")
    ckpt = tiny_checkpoint(d / "run", steps=3)
    return ckpt, export_generator(ckpt, d / "models", "tiny_gen", docs_dir=d / "docs")


def test_export_matches_pytorch_and_describes_itself(exported):
    """The ONNX generator reproduces the PyTorch EMA generator, and its manifest says what it is."""
    ckpt, manifest = exported
    again = load_manifest(manifest.path)
    assert again.kind == "generator"
    assert again.inputs[0].name == "latent" and again.inputs[0].shape == (1, 8)
    assert again.outputs[0].name == "image" and again.outputs[0].shape == (1, 3, 16, 16)
    assert again.outputs[0].range == (-1.0, 1.0)
    assert again.sha256 == file_sha256(again.model_path)
    parity = again.extra["parity"]
    assert parity["passed"] and parity["max_abs_error"] < 2e-3 and len(parity["cases"]) >= 8
    assert again.extra["training"]["steps"] == 3
    assert "starry_night.jpg" in again.extra["training"]["images"]
    # and independently of the report: the same latent through both
    g, _ = load_generator_checkpoint(ckpt)
    z = np.random.default_rng(7).standard_normal((1, 8)).astype(np.float32)
    got = ort.InferenceSession(str(again.model_path), providers=["CPUExecutionProvider"]).run(None, {"latent": z})[0]
    with torch.no_grad():
        want = g(torch.from_numpy(z)).numpy()
    assert np.abs(got - want).max() < 2e-3


def test_export_writes_the_sample_grid_and_kid_plot(exported):
    """With a docs folder, export leaves NAME_samples.png (from the ONNX file) and NAME_kid.png there."""
    _, manifest = exported
    docs = manifest.path.parent.parent / "docs"
    assert Image.open(docs / "tiny_gen_samples.png").size[0] > 8 * 16
    assert Image.open(docs / "tiny_gen_kid.png").size == (720, 420)


def test_parity_fails_for_another_generator(exported):
    """A parity check against a different network fails, and require() raises ExportError."""
    _, manifest = exported
    torch.manual_seed(123)
    other = Generator(GanConfig(latent_dim=8, size=16, g_width=16, d_width=8)).eval()
    report = check_generator_parity(other, manifest.model_path)
    assert not report.passed
    with pytest.raises(ExportError, match="parity"):
        report.require()


def test_a_file_that_is_not_a_generator_checkpoint_is_refused(tmp_path):
    """Exporting from a foreign file is an ExportError naming the file."""
    bad = tmp_path / "style.pt"
    torch.save({"model": {}, "net_config": {}}, bad)
    with pytest.raises(ExportError, match="style.pt"):
        export_generator(bad, tmp_path, "x")
    with pytest.raises(ExportError, match="missing.pt"):
        export_generator(tmp_path / "missing.pt", tmp_path, "x")


def test_the_kid_floor_is_remeasured_identically_when_a_checkpoint_lacks_it(tmp_path):
    """For older checkpoints, export measures the real-vs-real KID floor again and gets the run's own value."""
    from exporters.gan_export import kid_floor
    from exporters.gan_training import GanTrainer
    from tests.exporters.tiny_gan import tiny_config

    trainer = GanTrainer(tiny_config(tmp_path, steps=2, kid_every=2))
    trainer.run(progress=False)
    ckpt = torch.load(trainer.checkpoint_path, weights_only=False)
    recorded = ckpt.pop("kid_floor")
    assert recorded is not None
    assert kid_floor(ckpt) == pytest.approx(recorded, rel=1e-9)
