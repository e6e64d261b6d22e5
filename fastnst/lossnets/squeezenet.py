"""Frozen SqueezeNet 1.1 trunk returning named activations (conv1, relu1, ..., fire9).

The layers are torchvision's `squeezenet1_1().features` (Iandola et al. 2016, with the v1.1
changes of the SqueezeNet repository: 3x3/64 first conv, earlier pooling), named after the
paper's modules: index 0..12 = conv1, relu1, pool1, fire2, fire3, pool3, fire4, fire5, pool5,
fire6, fire7, fire8, fire9. A fire module's output is its two expand convs' ReLU'd outputs,
concatenated. The CS231n style-transfer assignment uses fire2 for content and relu1, fire3,
fire4, fire5 for style (fastnst.losses.loss_config.DEFAULT_LAYERS).

Weights are torchvision's (RGB, ImageNet mean/std). Pooling is the trained network's 3x3 max
pooling; 'avg' is refused rather than silently ignored, because the avg swap of Gatys et al.
was studied on VGG's 2x2 pools only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.lossnets.base import (
    NamedFeatures,
    download_torchvision,
    from_torchvision_layout,
    load_checked,
    read_state_file,
)

TITLE = "SqueezeNet 1.1"
LAYER_NAMES: tuple[str, ...] = (
    "conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
    "fire6", "fire7", "fire8", "fire9",
)
# (input channels, squeeze channels, expand channels per branch) of fire2..fire9.
_FIRES = {
    "fire2": (64, 16, 64), "fire3": (128, 16, 64), "fire4": (128, 32, 128),
    "fire5": (256, 32, 128), "fire6": (256, 48, 192), "fire7": (384, 48, 192),
    "fire8": (384, 64, 256), "fire9": (512, 64, 256),
}


class Fire(nn.Module):
    """Squeeze (1x1 conv + ReLU), then 1x1 and 3x3 expand convs + ReLU, concatenated.

    (N, inplanes, H, W) -> (N, 2 * expand, H, W). Attribute names match torchvision's Fire,
    so its state dicts load unchanged.
    """

    def __init__(self, inplanes: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place ReLUs are safe here: they act on fresh conv outputs nobody else holds.
        x = self.squeeze(x).relu_()
        return torch.cat([self.expand1x1(x).relu_(), self.expand3x3(x).relu_()], 1)


def load_squeezenet_state(source: str) -> dict[str, Any]:
    """State dict keyed by our layer names (conv1.weight, fire2.squeeze.weight, ...).

    source: 'torchvision' (IMAGENET1K_V1, downloaded by torchvision on first use) or a path
    to a torchvision-layout state dict (the whole model's or its `.features`').
    """
    if source == "caffe":
        raise FastNSTError("'caffe' weights exist for VGG19 only; for --loss-net squeezenet "
                           "use --vgg-weights torchvision or a state-dict path")
    if source == "torchvision":
        from torchvision.models import SqueezeNet1_1_Weights

        weights = SqueezeNet1_1_Weights.IMAGENET1K_V1
        raw = download_torchvision(
            TITLE, lambda: weights.get_state_dict(progress=False, check_hash=True))
    else:
        raw = read_state_file(Path(source))
    return from_torchvision_layout(raw, LAYER_NAMES)


class SqueezeNetFeatures(NamedFeatures):
    """Frozen SqueezeNet 1.1 `.features`; forward returns the requested named activations.

    weights: 'torchvision' or a state-dict path (see load_squeezenet_state). pooling must be
    'max' (see the module docstring). Input: RGB in [0, 1], NCHW; layers from pool3 on need
    H, W >= 9 px and those from pool5 on >= 17 px (a stride-2 conv and three stride-2 pools).
    """

    def __init__(self, weights: str = "torchvision", pooling: str = "max") -> None:
        if pooling != "max":
            raise ParameterError("pooling", f"{pooling} is for VGG only; SqueezeNet 1.1 keeps "
                                 "its trained max pooling")
        state = load_squeezenet_state(weights)
        layers = nn.ModuleDict()
        for name in LAYER_NAMES:
            if name == "conv1":
                layers[name] = nn.Conv2d(3, 64, kernel_size=3, stride=2)
            elif name == "relu1":
                layers[name] = nn.ReLU()  # not in-place: conv1 may be requested too
            elif name.startswith("pool"):
                layers[name] = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
            else:
                layers[name] = Fire(*_FIRES[name])
        load_checked(layers, state, TITLE, weights)
        super().__init__(TITLE, layers, "torch")
