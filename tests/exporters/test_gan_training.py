import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ExportError
from exporters.gan_training import GanTrainer, KernelDistance, PaintingCrops, kid, plot_kid, polynomial_mmd2, write_grid
from exporters.images import list_images
from tests.conftest import SQUEEZENET, STYLES, needs_shared
from tests.exporters.tiny_gan import tiny_config


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in list(module.parameters()) + list(module.buffers())]


@needs_shared(STYLES)
def test_crops_are_random_squares_in_minus_one_to_one():
    """Painting crops come out at the asked size, in [-1, 1], and differ from crop to crop."""
    crops = PaintingCrops(list_images(STYLES), 64, (0.3, 0.75), np.random.default_rng(0))
    batch = crops.batch(6, 16)
    assert batch.shape == (6, 3, 16, 16)
    assert batch.min() >= -1 and batch.max() <= 1
    assert not torch.allclose(batch[0], batch[1])


def test_checkpoint_round_trip_resumes_exactly(tmp_path):
    """2 steps + checkpoint + resume + 2 steps ends exactly where 4 uninterrupted steps end (G, D, EMA, step)."""
    straight = GanTrainer(tiny_config(tmp_path / "straight"))
    for _ in range(4):
        straight.train_step()
    first = GanTrainer(tiny_config(tmp_path / "split"))
    for _ in range(2):
        first.train_step()
    first.save_checkpoint()
    resumed = GanTrainer(tiny_config(tmp_path / "split"))
    assert resumed.step == 2
    for _ in range(2):
        resumed.train_step()
    assert resumed.step == 4
    for a, b in ((straight.g, resumed.g), (straight.d, resumed.d), (straight.ema.model, resumed.ema.model)):
        for x, y in zip(_params(a), _params(b)):
            assert torch.equal(x, y)


def test_resume_refuses_a_checkpoint_of_another_shape(tmp_path):
    """Resuming with a different network shape is an ExportError that names the checkpoint."""
    trainer = GanTrainer(tiny_config(tmp_path))
    trainer.train_step()
    trainer.save_checkpoint()
    with pytest.raises(ExportError, match="checkpoint.pt"):
        GanTrainer(tiny_config(tmp_path, latent_dim=12))


def test_polynomial_mmd_separates_shifted_sets():
    """MMD^2 is near zero for two samples of one distribution and clearly positive for shifted ones."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 16, generator=g).double(), torch.randn(200, 16, generator=g).double()
    assert abs(polynomial_mmd2(a, b)) < 0.05
    assert polynomial_mmd2(a, b + 1.0) > 1.0


@needs_shared(STYLES, SQUEEZENET)
def test_kid_tells_painting_crops_from_noise():
    """KID in SqueezeNet space is far smaller between two sets of painting crops than between crops and noise."""
    metric = KernelDistance(SQUEEZENET, "fire9", resolution=64)
    paths = list_images(STYLES)
    real = metric.features(PaintingCrops(paths, 64, (0.3, 0.75), np.random.default_rng(0)).batch(40, 16))
    other = metric.features(PaintingCrops(paths, 64, (0.3, 0.75), np.random.default_rng(1)).batch(40, 16))
    noise = metric.features(torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    same, _ = kid(real, other, subset_size=40)
    different, _ = kid(real, noise, subset_size=40)
    assert different > 10 * abs(same) and different > 0


@needs_shared(SQUEEZENET)
def test_kid_layer_must_exist():
    """Asking KID for a layer the loss network does not have is an ExportError listing the layers."""
    with pytest.raises(ExportError, match="fire9"):
        KernelDistance(SQUEEZENET, "fire10")


def test_run_writes_checkpoint_samples_kid_plot_and_history(tmp_path):
    """A short run leaves a checkpoint, a sample grid, a KID plot and a history with one KID per evaluation."""
    trainer = GanTrainer(tiny_config(tmp_path, steps=4, kid_every=2, sample_every=2))
    summary = trainer.run(progress=False)
    assert summary["steps"] == 4 and summary["kid"]["step"] == 4
    assert [p["step"] for p in trainer.kid_history] == [0, 2, 4]  # from the untrained generator on
    assert trainer.kid_floor is not None and trainer.kid_floor < trainer.kid_history[-1]["kid"]
    assert GanTrainer(tiny_config(tmp_path, steps=4)).kid_floor == trainer.kid_floor  # kept in the checkpoint
    for name in ("checkpoint.pt", "samples.png", "kid.png", "history.json"):
        assert (tmp_path / name).is_file()
    assert Image.open(tmp_path / "samples.png").size == (8 * 34 + 2, 8 * 34 + 2)
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["kid"]) == 3


def test_wall_time_budget_stops_early_with_a_checkpoint(tmp_path):
    """With its minutes spent, a run stops, saves, and a later run resumes from there."""
    trainer = GanTrainer(tiny_config(tmp_path, steps=50, max_minutes=1e-9))
    assert trainer.run(progress=False)["steps"] == 1
    assert GanTrainer(tiny_config(tmp_path, steps=50)).step == 1


def test_grid_and_plot_are_real_pictures(tmp_path):
    """The sample grid holds every image and the KID plot draws its line in colour."""
    grid = write_grid(torch.zeros(10, 3, 8, 8), tmp_path / "g.png", columns=5, scale=2, gap=2)
    assert Image.open(grid).size == (5 * 18 + 2, 2 * 18 + 2)
    plot = plot_kid(
        [{"step": s, "kid": 1.0 / (1 + s), "kid_std": 0.01} for s in (0, 100, 200, 300)], tmp_path / "k.png"
    )
    pixels = np.asarray(Image.open(plot).convert("RGB")).reshape(-1, 3).astype(int)
    assert ((pixels[:, 2] - pixels[:, 0]) > 100).sum() > 100  # the blue line and points
