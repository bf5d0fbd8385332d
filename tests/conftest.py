"""Shared, tiny, real fixtures: a small LanternNet exported to ONNX inside the test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PHOTOS = SHARED / "content" / "public_domain"
STYLES = SHARED / "styles"
SQUEEZENET = SHARED / "weights" / "squeezenet1_0" / "squeezenet1_0_imagenet.npz"
TINY_STYLES = ["ink", "ember", "moss"]


def _missing(paths: tuple[Path, ...]) -> list[str]:
    return [str(p.relative_to(ROOT.parent)) for p in paths if not p.exists()]


def needs_shared(*paths: Path) -> pytest.MarkDecorator:
    """Skip (saying which) unless these files of ../shared/data (photos, paintings, SqueezeNet weights)
    are beside the checkout: a clean clone without them runs everything else."""
    missing = _missing(paths)
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} beside the checkout")


def require_shared(*paths: Path) -> None:
    """``needs_shared`` for a helper or fixture: skips the test that called it."""
    missing = _missing(paths)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} beside the checkout")


def parity_photo(tmp_dir: Path) -> Path:
    """A photo to check export parity on: the first shared photo, else a drawn one (gradient and shapes)."""
    if PHOTOS.is_dir():
        return sorted(PHOTOS.iterdir())[0]
    import cv2
    import numpy as np

    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    cv2.circle(img, (40, 50), 20, (250, 240, 60), -1)
    cv2.rectangle(img, (80, 20), (118, 70), (30, 60, 200), -1)
    path = tmp_dir / "drawn.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def cuda_available() -> bool:
    return torch.cuda.is_available()


def tiny_net(seed: int = 0):
    from exporters.stylenet import LanternConfig, LanternNet

    torch.manual_seed(seed)
    net = LanternNet(LanternConfig(n_styles=3, width=4, body_width=8, body_blocks=1)).eval()
    with torch.no_grad():  # distinct styles, so mixes make a visible difference
        for name, p in net.named_parameters():
            if name.endswith("scale"):
                p.copy_(1.0 + 0.5 * torch.randn_like(p))
            elif name.endswith("shift"):
                p.copy_(0.5 * torch.randn_like(p))
    return net


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    net = tiny_net(seed)
    torch.save(
        {"model": net.state_dict(), "net_config": net.config.to_dict(), "style_names": TINY_STYLES, "step": 0}, path
    )
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny 3-style LanternNet exported to ONNX + TorchScript with its manifest (no variants)."""
    from exporters.ship import export_style_model

    d = tmp_path_factory.mktemp("tiny_model")
    ckpt = save_tiny_checkpoint(d / "tiny.pt")
    return export_style_model(
        ckpt, d, "tiny", [parity_photo(d)], variants=(), force=True
    )  # replaces tiny.pt with the slim one


@pytest.fixture()
def model_copy(tiny_model, tmp_path):
    """A private copy of the tiny model's files, for tests that damage them."""
    import shutil

    for f in tiny_model.model_path.parent.iterdir():
        if f.name.startswith("tiny"):
            shutil.copy(f, tmp_path / f.name)
    from engine.manifest import load_manifest

    return load_manifest(tmp_path / "tiny.json")
