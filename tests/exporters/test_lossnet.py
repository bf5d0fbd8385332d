import numpy as np
import pytest
import torch

from engine.errors import ExportError
from exporters.images import load_rgb
from exporters.lossnet import SQUEEZENET_LAYERS, VGGFeatures, gram, load_loss_network
from tests.conftest import PHOTOS, SQUEEZENET, needs_shared


@needs_shared(SQUEEZENET, PHOTOS / "chelsea.png")
def test_squeezenet_features_from_shared_weights():
    """The shared SqueezeNet loads and returns its five feature layers at the expected depths."""
    net = load_loss_network(SQUEEZENET)
    feats = net(load_rgb(PHOTOS / "chelsea.png", long_side=128)[None])
    assert list(feats) == list(SQUEEZENET_LAYERS)
    assert [f.shape[1] for f in feats.values()] == [96, 128, 256, 384, 512]
    assert all(torch.isfinite(f).all() for f in feats.values())


@needs_shared(SQUEEZENET, PHOTOS / "chelsea.png", PHOTOS / "coffee.png")
def test_squeezenet_features_tell_photos_apart():
    """Features are real: the same photo gives the same Gram, a different photo a different one."""
    net = load_loss_network(SQUEEZENET)
    cat = load_rgb(PHOTOS / "chelsea.png", long_side=128)[None]
    coffee = load_rgb(PHOTOS / "coffee.png", long_side=128)[None]
    g_cat, g_cat2, g_coffee = (gram(net(x)["fire5"]) for x in (cat, cat.clone(), coffee))
    assert torch.allclose(g_cat, g_cat2)
    assert (g_cat - g_coffee).abs().sum() > 0.1 * g_cat.abs().sum()


def test_bad_weights_file_is_a_clear_error(tmp_path):
    """A corrupt or wrong weights file raises ExportError naming the file."""
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="broken.npz"):
        load_loss_network(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros(3))
    with pytest.raises(ExportError, match="not a SqueezeNet"):
        load_loss_network(wrong)
    with pytest.raises(ExportError, match="not found"):
        load_loss_network(tmp_path / "missing.npz")


def test_user_supplied_vgg16_state_dict_loads(tmp_path):
    """A torchvision-format VGG16 state dict loads as a loss network with Johnson's four layers."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    state, cin, idx = {}, 3, 0
    for v in cfg:
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3) * 0.01
        state[f"features.{idx}.bias"] = torch.zeros(v)
        cin, idx = v, idx + 2
    state["classifier.0.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "vgg16.pth")
    net = load_loss_network(tmp_path / "vgg16.pth")
    assert isinstance(net, VGGFeatures)
    feats = net(torch.rand(1, 3, 64, 64))
    assert list(feats) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert feats["relu4_3"].shape == (1, 512, 8, 8)
