"""Loss functions on feature maps and images (Gatys et al. 2016; Johnson et al. 2016).

Features are (N, C, H, W) activations of a loss network; images float RGB in [0, 1], NCHW.
Every function computes in float32 with autocast disabled, whatever the input dtype: under
fp16 autocast the relu1_1 Gram of a 256 px batch overflows (inf), and bf16 keeps ~3
significant digits, too few for the small differences the style loss measures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _float32(tensor: torch.Tensor) -> torch.autocast:
    """An autocast-off context for the tensor's device type."""
    return torch.autocast(tensor.device.type, enabled=False)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) float32 Gram matrices normalized by C*H*W."""
    n, c, h, w = features.shape
    with _float32(features):
        flat = features.float().reshape(n, c, h * w)  # (N, C, H*W)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps of the same shape; float32 scalar."""
    with _float32(features):
        return F.mse_loss(features.float(), target.float())


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor,
              reduce: bool = True) -> torch.Tensor:
    """MSE between the Gram of `features` (N, C, H, W) and `target_gram` ((1 or N), C, C),
    broadcast over the batch; float32 scalar, or (N,) per image with reduce=False."""
    gram = gram_matrix(features)
    with _float32(gram):
        squared = (gram - target_gram.float().expand_as(gram)).pow(2)
        return squared.mean() if reduce else squared.mean(dim=(1, 2))


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertical and horizontal neighbours, summed.

    images: (N, C, H, W); returns mean((x[h+1]-x[h])^2) + mean((x[w+1]-x[w])^2) as a float32
    scalar, so the value does not grow with image size. 0 for a constant image.
    """
    with _float32(images):
        x = images.float()
        dy = x[:, :, 1:, :] - x[:, :, :-1, :]
        dx = x[:, :, :, 1:] - x[:, :, :, :-1]
        return dy.pow(2).mean() + dx.pow(2).mean()
