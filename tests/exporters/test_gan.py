import pytest
import torch

from engine.errors import ExportError
from exporters.gan import (
    EMA,
    Discriminator,
    GanConfig,
    Generator,
    diff_augment,
    hinge_d_loss,
    hinge_g_loss,
    recalibrate_batchnorm,
)
from exporters.gan_training import GanTrainer
from tests.exporters.tiny_gan import tiny_config

TINY = GanConfig(latent_dim=8, size=16, g_width=16, d_width=8)


def test_networks_have_the_promised_shapes_and_range():
    """G maps (N, Z) to (N, 3, S, S) in [-1, 1]; D maps images to one logit each."""
    torch.manual_seed(0)
    g, d = Generator(TINY), Discriminator(TINY)
    x = g(torch.randn(5, 8) * 10)
    assert x.shape == (5, 3, 16, 16)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


def test_size_must_be_a_power_of_two():
    """A size the upsampling chain cannot reach is refused with an ExportError."""
    with pytest.raises(ExportError, match="power of two"):
        GanConfig(size=48)


def test_discriminator_uses_spectral_norm():
    """Every weight layer of D is spectrally normalised (its largest singular value stays near 1)."""
    d = Discriminator(TINY)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    with torch.no_grad():
        for _ in range(20):  # let the power iteration converge
            d(torch.randn(2, 3, 16, 16))
        w = d.head.weight
        assert float(torch.linalg.matrix_norm(w, ord=2)) == pytest.approx(1.0, abs=0.05)


def test_diff_augment_changes_pixels_keeps_shape_and_passes_gradients():
    """Colour, translation and cutout change the picture, keep its shape, and let gradients through."""
    torch.manual_seed(0)
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    y = diff_augment(x)
    assert y.shape == x.shape and not torch.allclose(x, y)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_cutout_blanks_a_square_of_a_quarter_at_most():
    """Cutout alone zeroes a square of at most half the side in each image, and something in every image."""
    torch.manual_seed(1)
    x = torch.ones(16, 3, 16, 16)
    y = diff_augment(x, ("cutout",))
    zero = (y == 0).all(dim=1).float().mean(dim=(1, 2))
    assert (zero > 0).all() and (zero <= 0.25 + 1e-6).all()


def test_translation_moves_the_picture_without_scaling_it():
    """Translation shifts whole images by whole pixels and fills the uncovered border with zeros."""
    torch.manual_seed(2)
    x = torch.arange(16.0).view(1, 1, 1, 16).expand(8, 3, 16, 16).contiguous() + 1.0
    y = diff_augment(x, ("translation",))
    for img in y:
        row = img[0, 8]
        kept = row[row > 0]
        assert torch.all(kept[1:] - kept[:-1] == 1)  # same ramp, only shifted


def test_unknown_augmentation_is_refused():
    """A policy naming an augmentation that does not exist is an ExportError that lists the known ones."""
    with pytest.raises(ExportError, match="color"):
        diff_augment(torch.zeros(1, 3, 8, 8), ("blur",))


def test_hinge_losses():
    """D's hinge loss is zero only beyond the margins; G's loss is minus the mean fake logit."""
    assert hinge_d_loss(torch.tensor([2.0, 1.0]), torch.tensor([-1.0, -3.0])) == 0
    assert hinge_d_loss(torch.tensor([0.0]), torch.tensor([0.0])) == 2
    assert hinge_g_loss(torch.tensor([1.0, 3.0])) == -2


def test_ema_moves_a_fraction_towards_the_model():
    """One EMA update with decay d puts each averaged weight at d * old + (1 - d) * new."""
    g = Generator(TINY)
    ema = EMA(g, decay=0.9)
    before = [p.clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g)
    for old, avg, new in zip(before, ema.model.parameters(), g.parameters()):
        assert torch.allclose(avg, 0.9 * old + 0.1 * new, atol=1e-6)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_recalibrated_batchnorm_matches_training_mode_statistics():
    """After recalibration, G in eval mode gives nearly what it gives in training mode on a large batch."""
    torch.manual_seed(0)
    g = Generator(TINY)
    recalibrate_batchnorm(g, batches=8, batch_size=256, seed=0)
    z = torch.randn(512, 8)
    with torch.no_grad():
        g.eval()
        evaluated = g(z)
        g.train()
        trained = g(z)
    assert (evaluated - trained).abs().mean() < 0.02


def test_discriminator_loss_drops_on_a_fixed_batch(tmp_path):
    """A few D steps on one fixed real and one fixed generated batch lower D's hinge loss on them."""
    trainer = GanTrainer(tiny_config(tmp_path, lr_d=1e-3, augment=()))
    real = trainer.crops.batch(8, 16)
    with torch.no_grad():
        fake = trainer.g(torch.randn(8, 8))
        before = float(trainer.discriminator_loss(real, fake, augment=False))
    for _ in range(15):
        trainer.d_step(real, fake)
    with torch.no_grad():
        after = float(trainer.discriminator_loss(real, fake, augment=False))
    assert after < before - 0.1


def test_a_training_step_updates_g_d_and_the_ema(tmp_path):
    """train_step changes G, D and the EMA G and reports finite losses."""
    trainer = GanTrainer(tiny_config(tmp_path))
    g0 = [p.clone() for p in trainer.g.parameters()]
    d0 = [p.clone() for p in trainer.d.parameters()]
    e0 = [p.clone() for p in trainer.ema.model.parameters()]
    result = trainer.train_step()
    assert trainer.step == 1
    assert all(map(lambda v: v == v and abs(v) < 1e6, (result.d_loss, result.g_loss)))
    for before, model in ((g0, trainer.g), (d0, trainer.d), (e0, trainer.ema.model)):
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
