"""The one place a perceptual loss is built from a LossConfig: training, the slow baseline
and eval all call `build_perceptual_loss`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst.core.images import load_tensor
from fastnst.losses.loss_config import LossConfig
from fastnst.losses.perceptual import (
    ContentTerm,
    LossTerm,
    PerceptualLoss,
    StyleTerm,
    TotalVariationTerm,
)
from fastnst.lossnets import build_loss_network


def load_style(config: LossConfig, path: str | Path) -> torch.Tensor:
    """The style image as (1, 3, H, W) float RGB in [0, 1], long side config.style_size."""
    return load_tensor(path, config.max_pixels, config.style_size)


def build_terms(config: LossConfig, network: nn.Module,
                style: torch.Tensor | Sequence[torch.Tensor]) -> list[LossTerm]:
    """The loss terms `config` asks for; style: (1, 3, H, W) on the network's device, or a
    list of them (a multi-style loss: see StyleTerm)."""
    assert config.content_layers is not None and config.style_layers is not None  # resolved
    with torch.no_grad():
        if isinstance(style, torch.Tensor):
            style_features: Any = network(style, config.style_layers)
        else:
            style_features = [network(image, config.style_layers) for image in style]
    return [
        ContentTerm(config.content_layers, config.content_weight),
        StyleTerm(style_features, config.style_layers, config.style_weight,
                  config.style_layer_weights),
        TotalVariationTerm(config.tv_weight),
    ]


def build_perceptual_loss(config: LossConfig,
                          style: str | Path | torch.Tensor | Sequence[str | Path],
                          device: torch.device | str = "cpu",
                          network: nn.Module | None = None) -> PerceptualLoss:
    """The perceptual loss `config` describes against one style image, on `device`.

    style: an image path (loaded at config.style_size) or a (1, 3, H, W) tensor in [0, 1];
    a list of paths gives a multi-style loss (targets[STYLE_INDEX] picks each image's style).
    network: a loss network to reuse (it must be the one config names); default: built from
    config.loss_net, config.vgg_weights and config.pooling. The style's Grams are computed
    here, once.
    """
    if network is None:
        network = build_loss_network(config.loss_net, config.vgg_weights, config.pooling)
    network = network.to(device)
    if isinstance(style, (list, tuple)):
        images: Any = [load_style(config, path).to(device) for path in style]
    else:
        images = (style if isinstance(style, torch.Tensor) else load_style(config, style)
                  ).to(device)
    return PerceptualLoss(network, build_terms(config, network, images))
