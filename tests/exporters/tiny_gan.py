"""Tiny real GAN fixtures: a 16x16 GAN on the shared paintings, trained and exported inside the tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SQUEEZENET, STYLES, require_shared


def tiny_config(out_dir: Path, **overrides):
    """A GanTrainingConfig small enough that a step takes milliseconds (skips without the shared paintings)."""
    require_shared(STYLES, SQUEEZENET)
    from exporters.gan_training import GanTrainingConfig

    settings = dict(
        images=[str(STYLES)],
        out_dir=str(out_dir),
        loss_network=str(SQUEEZENET),
        steps=4,
        size=16,
        batch_size=4,
        latent_dim=8,
        g_width=16,
        d_width=8,
        short_side=48,
        kid_samples=8,
        kid_every=0,
        kid_resolution=64,
        sample_every=1000,
        checkpoint_every=1000,
        threads=1,
    )
    settings.update(overrides)
    return GanTrainingConfig(**settings)


def tiny_checkpoint(out_dir: Path, steps: int = 2) -> Path:
    """A real training checkpoint of a tiny GAN after ``steps`` steps."""
    from exporters.gan_training import GanTrainer

    trainer = GanTrainer(tiny_config(out_dir, steps=steps))
    for _ in range(steps):
        trainer.train_step()
    return trainer.save_checkpoint()


def tiny_generator(out_dir: Path, name: str = "tiny_gen"):
    """A tiny trained generator exported to ONNX with its manifest (kind generator, latent 8, 16x16 output)."""
    from exporters.gan_export import export_generator

    return export_generator(tiny_checkpoint(Path(out_dir) / "run"), out_dir, name)
