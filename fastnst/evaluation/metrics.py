"""The quality metric of fastnst-eval: style and content error of stylized images.

The metric is fixed, whatever loss a model was trained with, so models and recipes compare
on one scale, with VGG19 'caffe' weights and max pooling:

- style error: mean over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of
  ||G(out) - G(style)||^2 / ||G(style)||^2, G = gram_matrix, the style image resized
  to 512 px on its long side;
- content error: ||F(out) - F(content)||^2 / ||F(content)||^2, F the relu4_2 features.

Both are dimensionless, 0 for a perfect match and 1 when the output's features are all zero.
Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fastnst.losses.functional import gram_matrix
from fastnst.losses.loss_config import DEFAULT_STYLE_LAYERS
from fastnst.lossnets import build_loss_network

METRIC_LOSS_NET = "vgg19"
METRIC_VGG_WEIGHTS = "caffe"
METRIC_POOLING = "max"
METRIC_STYLE_LAYERS: tuple[str, ...] = DEFAULT_STYLE_LAYERS
METRIC_CONTENT_LAYER = "relu4_2"
METRIC_STYLE_SIZE = 512  # px, long side of the style image (issue #4)


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-item ||value - target||^2 / ||target||^2, summed over all but the first dim.

    value: (N, ...); target: the same shape or (1, ...), broadcast over N. Returns (N,) float32.
    """
    value = value.float()
    target = target.float().expand_as(value)
    dims = tuple(range(1, value.dim()))
    return (value - target).pow(2).sum(dims) / target.pow(2).sum(dims)


def loss_network(name: str, weights: str, pooling: str, device: torch.device) -> nn.Module:
    """A frozen loss network on `device`; channels-last on CUDA, cuDNN's fast layout."""
    network = build_loss_network(name, weights, pooling).to(device)
    if device.type == "cuda":
        network = network.to(memory_format=torch.channels_last)
    return network


@dataclass(frozen=True)
class ImageErrors:
    """The metric for one stylized image (dimensionless, >= 0; 0 is a perfect match)."""

    style: float  # mean of style_per_layer
    content: float
    style_per_layer: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"style_error": self.style, "content_error": self.content,
                "style_error_per_layer": self.style_per_layer}


class QualityMetric:
    """Scores stylized images against their content photos and one style image (see module doc)."""

    def __init__(self, style: torch.Tensor, device: torch.device | str = "cpu") -> None:
        """style: (1, 3, H, W) in [0, 1]; fastnst-eval resizes it to METRIC_STYLE_SIZE first."""
        self.device = torch.device(device)
        self.vgg = loss_network(METRIC_LOSS_NET, METRIC_VGG_WEIGHTS, METRIC_POOLING, self.device)
        with torch.no_grad():
            features = self.vgg(style.to(self.device), METRIC_STYLE_LAYERS)
        self.style_grams = {layer: gram_matrix(features[layer]) for layer in METRIC_STYLE_LAYERS}

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor, contents: torch.Tensor) -> list[ImageErrors]:
        """outputs, contents: (N, 3, H, W) in [0, 1], the same shape, any device."""
        if outputs.shape != contents.shape:
            raise ValueError(f"outputs {tuple(outputs.shape)} and contents "
                             f"{tuple(contents.shape)} differ in shape")
        features = self.vgg(outputs.to(self.device), METRIC_STYLE_LAYERS + (METRIC_CONTENT_LAYER,))
        target = self.vgg(contents.to(self.device), (METRIC_CONTENT_LAYER,))
        style = torch.stack([relative_error(gram_matrix(features[layer]), self.style_grams[layer])
                             for layer in METRIC_STYLE_LAYERS], dim=1)  # (N, layers)
        content = relative_error(features[METRIC_CONTENT_LAYER], target[METRIC_CONTENT_LAYER])
        return [ImageErrors(style=sum(row) / len(row), content=value,
                            style_per_layer=dict(zip(METRIC_STYLE_LAYERS, row, strict=True)))
                for row, value in zip(style.cpu().tolist(), content.cpu().tolist(),
                                      strict=True)]


def metric_settings() -> dict[str, Any]:
    """The metric's fixed settings, as reports record them."""
    return {"vgg_weights": METRIC_VGG_WEIGHTS, "pooling": METRIC_POOLING,
            "style_layers": list(METRIC_STYLE_LAYERS), "content_layer": METRIC_CONTENT_LAYER,
            "style_size": METRIC_STYLE_SIZE}
