"""The one place a perceptual loss is built from a LossConfig: training, the slow baseline
and eval all call `build_perceptual_loss`."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fastnst.core.images import load_tensor
from fastnst.losses.config import LossConfig
from fastnst.losses.perceptual import (
    ContentTerm,
    LossTerm,
    PerceptualLoss,
    StyleTerm,
    TotalVariationTerm,
)
from fastnst.nets import build_loss_network


def load_style(config: LossConfig, path: str | Path) -> torch.Tensor:
    """The style image as (1, 3, H, W) float RGB in [0, 1], long side config.style_size."""
    return load_tensor(path, config.max_pixels, config.style_size)


def build_terms(config: LossConfig, network: nn.Module, style: torch.Tensor) -> list[LossTerm]:
    """The loss terms `config` asks for; style: (1, 3, H, W) on the network's device."""
    assert config.content_layers is not None and config.style_layers is not None  # resolved
    with torch.no_grad():
        style_features = network(style, config.style_layers)
    return [
        ContentTerm(config.content_layers, config.content_weight),
        StyleTerm(style_features, config.style_layers, config.style_weight,
                  config.style_layer_weights),
        TotalVariationTerm(config.tv_weight),
    ]


def build_perceptual_loss(config: LossConfig, style: str | Path | torch.Tensor,
                          device: torch.device | str = "cpu",
                          network: nn.Module | None = None) -> PerceptualLoss:
    """The perceptual loss `config` describes against one style image, on `device`.

    style: an image path (loaded at config.style_size) or a (1, 3, H, W) tensor in [0, 1].
    network: a loss network to reuse (it must be the one config names); default: built from
    config.loss_net, config.vgg_weights and config.pooling. The style's Grams are computed
    here, once.
    """
    if network is None:
        network = build_loss_network(config.loss_net, config.vgg_weights, config.pooling)
    network = network.to(device)
    image = style if isinstance(style, torch.Tensor) else load_style(config, style)
    return PerceptualLoss(network, build_terms(config, network, image.to(device)))
