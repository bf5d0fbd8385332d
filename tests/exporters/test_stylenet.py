import pytest
import torch

from exporters.stylenet import LanternConfig, LanternNet
from tests.conftest import tiny_net


@pytest.mark.parametrize("h,w", [(64, 64), (37, 53), (90, 161)])
def test_any_size_in_same_size_out(h, w):
    """The network takes any height and width and returns RGB of the same size in [0, 1]."""
    net = tiny_net()
    with torch.no_grad():
        out = net(torch.rand(1, 3, h, w), torch.tensor([[1.0, 0.0, 0.0]]))
    assert out.shape == (1, 3, h, w)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_style_vector_selects_and_mixes_styles():
    """One-hot style vectors give different pictures, and a 50/50 mix lies between them."""
    net = tiny_net()
    x = torch.rand(1, 3, 48, 48)
    a = net(x, torch.tensor([[1.0, 0.0, 0.0]]))
    b = net(x, torch.tensor([[0.0, 1.0, 0.0]]))
    mix = net(x, torch.tensor([[0.5, 0.5, 0.0]]))
    assert (a - b).abs().mean() > 1e-3
    assert (mix - a).abs().mean() < (b - a).abs().mean()
    assert (mix - b).abs().mean() < (b - a).abs().mean()


def test_batch_with_different_styles_per_sample():
    """Each sample of a batch is stylised with its own style vector, as in one-at-a-time inference."""
    net = tiny_net()
    x = torch.rand(2, 3, 32, 40)
    styles = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    both = net(x, styles)
    one = net(x[1:], styles[1:])
    assert torch.allclose(both[1:], one, atol=1e-5)


def test_config_round_trip_and_default_size():
    """The network config survives a dict round trip; the default model stays small (< 10 MB fp32)."""
    cfg = LanternConfig()
    assert LanternConfig.from_dict(cfg.to_dict()) == cfg
    params = sum(p.numel() for p in LanternNet(cfg).parameters())
    assert params * 4 < 10 * 1024 * 1024
