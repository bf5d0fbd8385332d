"""Perceptual loss networks: ImageNet-trained feature extractors used to train style networks.

Two are supported:
- ``SqueezeNetFeatures``: SqueezeNet v1.0 from the ``.npz`` in ``shared/data/weights/squeezenet1_0``
  (the one pretrained image network available offline here);
- ``VGGFeatures``: a user-supplied torchvision VGG16/VGG19 state-dict file (``features.N.weight``).

Both take RGB float NCHW in [0, 1] and return a dict of named feature maps; they do their own
input normalisation, so the training code never needs to know which network is in use.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ExportError

log = logging.getLogger(__name__)

SQUEEZENET_FIRES = {  # name: (in, squeeze, expand) as in torchvision's squeezenet1_0
    "fire2": (96, 16, 64),
    "fire3": (128, 16, 64),
    "fire4": (128, 32, 128),
    "fire5": (256, 32, 128),
    "fire6": (256, 48, 192),
    "fire7": (384, 48, 192),
    "fire8": (384, 64, 256),
    "fire9": (512, 64, 256),
}
# Feature layers that the style and content losses may use, in network order.
SQUEEZENET_LAYERS = ("conv1", "fire3", "fire5", "fire7", "fire9")


class _Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(x)), F.relu(self.expand3(x))], 1)


class SqueezeNetFeatures(nn.Module):
    """SqueezeNet v1.0 up to fire9, frozen, returning the features in ``SQUEEZENET_LAYERS``."""

    layers = SQUEEZENET_LAYERS
    mean: torch.Tensor  # buffers, registered in __init__

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 7, stride=2)
        self.fires = nn.ModuleDict({n: _Fire(*shape) for n, shape in SQUEEZENET_FIRES.items()})
        self._load(Path(weights))
        self.register_buffer("mean", torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        try:
            data = np.load(path)
        except (OSError, ValueError) as exc:
            raise ExportError(f"{path}: cannot read SqueezeNet weights ({exc})") from exc
        mapping = {"conv1.weight": "conv1.w", "conv1.bias": "conv1.b"}
        for name in SQUEEZENET_FIRES:
            for ours, theirs in (("squeeze", "conv1x1_1"), ("expand1", "conv1x1_2"), ("expand3", "conv3x3_2")):
                mapping[f"fires.{name}.{ours}.weight"] = f"{name}.{theirs}.w"
                mapping[f"fires.{name}.{ours}.bias"] = f"{name}.{theirs}.b"
        missing = [k for k in mapping.values() if k not in data.files]
        if missing:
            raise ExportError(f"{path}: not a SqueezeNet v1.0 weights file (missing {missing[:3]})")
        state = {ours: torch.from_numpy(np.asarray(data[theirs], dtype=np.float32)) for ours, theirs in mapping.items()}
        self.load_state_dict(state)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = rgb[:, [2, 1, 0]] * 255.0 - self.mean
        out: dict[str, torch.Tensor] = {}
        x = F.relu(self.conv1(x))
        out["conv1"] = x
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for name, fire in self.fires.items():
            x = fire(x)
            if name in self.layers:
                out[name] = x
            if name in ("fire4", "fire8"):
                x = F.max_pool2d(x, 3, 2, ceil_mode=True)
            if name == "fire9":
                break
        return out


VGG_CONFIGS: dict[int, list[int | str]] = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# relu1_2, relu2_2, relu3_3/3_4, relu4_3/4_4 as in Johnson et al.: indices into torchvision's `features`.
VGG_LAYERS = {
    16: {3: "relu1_2", 8: "relu2_2", 15: "relu3_3", 22: "relu4_3"},
    19: {3: "relu1_2", 8: "relu2_2", 17: "relu3_4", 26: "relu4_4"},
}


class VGGFeatures(nn.Module):
    """torchvision VGG16/19 ``features`` from a user-supplied state dict, frozen."""

    layers: tuple[str, ...]
    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        path = Path(weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several unrelated types for a bad file
            raise ExportError(f"{path}: cannot read VGG weights ({exc})") from exc
        convs = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
        depth = {13: 16, 16: 19}.get(len(convs))
        if depth is None:
            raise ExportError(
                f"{path}: expected a torchvision VGG16 or VGG19 state dict, found {len(convs)} convolutions"
            )
        modules: list[nn.Module] = []
        cin = 3
        for v in VGG_CONFIGS[depth]:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*modules)
        self.features.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
        self.taps = VGG_LAYERS[depth]
        self.layers = tuple(self.taps.values())
        self.last = max(self.taps)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (rgb - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out[self.taps[i]] = x
            if i >= self.last:
                break
        return out


def load_loss_network(spec: str | Path) -> SqueezeNetFeatures | VGGFeatures:
    """Load the loss network from a SqueezeNet ``.npz`` or a VGG ``.pth``/``.pt`` file."""
    path = Path(spec)
    if not path.is_file():
        raise ExportError(f"{path}: loss-network weights file not found")
    if path.suffix == ".npz":
        return SqueezeNetFeatures(path)
    return VGGFeatures(path)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W, the style statistic of a feature map."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)
