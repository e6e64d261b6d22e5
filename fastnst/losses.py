"""Perceptual losses (Gatys et al. 2016; Johnson et al. 2016): content, Gram style, total variation.

Images are float RGB in [0, 1], NCHW. Features are VGG19 activations (N, C, H, W).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.vgg import VGG19Features


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrices normalized by C*H*W (computed in float32)."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)  # (N, C, H*W)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps of the same shape."""
    return F.mse_loss(features.float(), target.float())


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float]) -> torch.Tensor:
    """Sum over layers of weight * MSE(Gram(features), target Gram).

    target_grams: {layer: (1, C, C) or (N, C, C)}, broadcast over the batch.
    """
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer, weight in layer_weights.items():
        gram = gram_matrix(features[layer])
        total = total + weight * F.mse_loss(gram, target_grams[layer].expand_as(gram))
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertical and horizontal neighbours, summed.

    images: (N, C, H, W); returns mean((x[h+1]-x[h])^2) + mean((x[w+1]-x[w])^2), so the value
    does not grow with image size. 0 for a constant image.
    """
    dy = images[:, :, 1:, :] - images[:, :, :-1, :]
    dx = images[:, :, :, 1:] - images[:, :, :, :-1]
    return dy.float().pow(2).mean() + dx.float().pow(2).mean()


@dataclass(frozen=True)
class LossTerms:
    """The weighted parts of the perceptual loss (scalars) and their sum."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.content + self.style + self.tv


class PerceptualLoss(nn.Module):
    """content_weight * content + style_weight * style + tv_weight * TV against one style image.

    The style image's Gram matrices are computed once, at construction, and kept as buffers.
    Without explicit style_layer_weights, each layer is weighted by 1 / mean(G_style^2), so
    every layer's term is its Gram error relative to the style's own Gram: the layers count
    equally although their Gram magnitudes differ by ~10^4, and the style term does not
    depend on the VGG weight source's input scale.
    """

    def __init__(self, vgg: VGG19Features, style_image: torch.Tensor,
                 content_layers: Sequence[str], style_layers: Sequence[str],
                 style_layer_weights: Sequence[float] | None = None,
                 content_weight: float = 1.0, style_weight: float = 1.0,
                 tv_weight: float = 0.0) -> None:
        """style_image: (1, 3, H, W) RGB in [0, 1]."""
        super().__init__()
        self.vgg = vgg
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        with torch.no_grad():
            features = vgg(style_image, self.style_layers)
        grams = {layer: gram_matrix(features[layer]) for layer in self.style_layers}
        for layer, gram in grams.items():
            self.register_buffer(f"gram_{layer}", gram, persistent=False)
        if style_layer_weights is None:
            weights = [1.0 / gram.pow(2).mean().clamp_min(1e-12).item() for gram in grams.values()]
        else:
            weights = [float(w) for w in style_layer_weights]
        self.style_layer_weights = dict(zip(self.style_layers, weights, strict=True))

    @property
    def target_grams(self) -> dict[str, torch.Tensor]:
        return {layer: getattr(self, f"gram_{layer}") for layer in self.style_layers}

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG features of the content images at the content layers, without autograd."""
        with torch.no_grad():
            return self.vgg(content, self.content_layers)

    def forward(self, output: torch.Tensor, content_targets: Mapping[str, torch.Tensor]
                ) -> LossTerms:
        """output: (N, 3, H, W) stylized images in [0, 1]; targets from content_targets()."""
        features = self.vgg(output, self.layers)
        content = sum(content_loss(features[layer], content_targets[layer])
                      for layer in self.content_layers)
        style = style_loss(features, self.target_grams, self.style_layer_weights)
        return LossTerms(
            content=self.content_weight * torch.as_tensor(content),
            style=self.style_weight * style,
            tv=self.tv_weight * total_variation(output),
        )
