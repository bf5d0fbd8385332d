import json

import torch
from PIL import Image

from exporters.style_training import StyleTrainer, StyleTrainingConfig
from tests.conftest import PHOTOS, SQUEEZENET, STYLES, needs_shared

pytestmark = needs_shared(PHOTOS / "coffee.png", STYLES / "starry_night.jpg", STYLES / "great_wave.jpg", SQUEEZENET)


def _config(tmp_path, steps, **kw):
    return StyleTrainingConfig(
        styles=[str(STYLES / "starry_night.jpg"), str(STYLES / "great_wave.jpg")],
        content=[str(PHOTOS)],
        holdout=[str(PHOTOS / "coffee.png")],
        out_dir=str(tmp_path / "run"),
        loss_network=str(SQUEEZENET),
        steps=steps,
        batch_size=2,
        crop=64,
        content_short_side=96,
        style_long_side=96,
        width=4,
        body_width=8,
        body_blocks=1,
        lr=1e-2,
        checkpoint_every=5,
        preview_every=1000,
        snapshot_every=0,
        **kw,
    )


def test_training_few_steps_lowers_the_loss(tmp_path):
    """A tiny network trained for a few steps scores a lower perceptual loss on a fixed batch."""
    torch.manual_seed(0)
    trainer = StyleTrainer(_config(tmp_path, 40, stability_weight=0.0))
    batch = trainer.crops.batch(2, 64 + 8)
    idx = [0, 1]
    with torch.no_grad():
        before = float(trainer.total(trainer.losses(batch, idx)))
    trainer.run(progress=False)
    with torch.no_grad():
        after = float(trainer.total(trainer.losses(batch, idx)))
    assert after < before * 0.9
    assert trainer.step == 40


def test_training_resumes_from_checkpoint(tmp_path):
    """A run stopped at a checkpoint resumes at that step with the same weights and history."""
    first = StyleTrainer(_config(tmp_path, 10))
    first.run(progress=False)
    weights = {k: v.clone() for k, v in first.net.state_dict().items()}
    second = StyleTrainer(_config(tmp_path, 12))
    assert second.step == 10
    assert all(torch.equal(weights[k], v) for k, v in second.net.state_dict().items())
    second.run(progress=False)
    assert second.step == 12
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["step"] == 10 and "stability" in history[-1]


def test_holdout_photos_are_never_trained_on_and_preview_is_written(tmp_path):
    """Held-out photos are excluded from training and shown in the contact sheet (photo + each style)."""
    trainer = StyleTrainer(_config(tmp_path, 1))
    assert all(p.name != "coffee.png" for p in trainer.content_paths)
    assert [p.name for p in trainer.holdout_paths] == ["coffee.png"]
    sheet = trainer.preview()
    with Image.open(sheet) as im:
        w, h = im.size
    assert w > 3 * 192 and h > 2 * 128  # 3 columns (photo + 2 styles), 2 rows (style images + photo)
