"""A starting point for the optimisation: the style's colours moved onto the content, region
by region, by one affine colour map each (Pitie and Kokaram 2007, "The linear
Monge-Kantorovitch linear colour mapping for example-based colour transfer").

Luan et al.'s code notes its content input as a "pitie transferred input image"; starting from
such a colour transfer instead of the content photo saves most of the steps that would only
move colours. Each region's map sends the content region's colour mean and covariance onto
the style region's (the style's whole image for a region it lacks); the maps are blended with
blurred masks, so the seams between regions are soft and the result stays locally an affine
function of the content's colours. Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Added to each colour covariance (squared [0, 1] units): keeps the map finite for a flat
# region (a constant colour has a zero covariance).
COVARIANCE_FLOOR = 1e-4
# Width of the blend between regions, as a fraction of the content's long side.
BLEND = 0.02


def _statistics(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask-weighted colour mean (3,) and covariance (3, 3) of image (1, 3, H, W), float64."""
    weights = mask.double().flatten()
    weights = weights / weights.sum().clamp_min(1e-12)
    pixels = image[0].double().flatten(1)  # (3, H*W)
    mean = pixels @ weights
    centred = pixels - mean[:, None]
    covariance = (centred * weights) @ centred.T
    return mean, covariance + COVARIANCE_FLOOR * torch.eye(3, dtype=torch.float64,
                                                           device=image.device)


def _sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive definite 3x3 matrix."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def linear_map(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Monge-Kantorovitch linear map T (3, 3) with T source T^T = target for covariances
    (3, 3): T = S^-1/2 (S^1/2 target S^1/2)^1/2 S^-1/2, S = source (Pitie and Kokaram eq. 8)."""
    root = _sqrt(source)
    inverse_root = torch.linalg.inv(root)
    return inverse_root @ _sqrt(root @ target @ root) @ inverse_root


def _blur(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Box-blur masks (R, H, W) twice (a tent of half-width ~2 radius), borders clipped."""
    out = masks[None].double()
    for _ in range(2):
        out = F.avg_pool2d(out, 2 * radius + 1, stride=1, padding=radius,
                           count_include_pad=False)
    return out[0]


def region_colour_transfer(content: torch.Tensor, style: torch.Tensor,
                           content_masks: torch.Tensor, style_masks: torch.Tensor) -> torch.Tensor:
    """The content (1, 3, H, W) with each region's colours mapped onto the style's (1, 3, Hs, Ws).

    masks: (R, H, W) and (R, Hs, Ws) in [0, 1], row r the same region; a region whose style
    mask is empty takes the whole style's colours. Returns (1, 3, H, W) float32 in [0, 1].
    """
    masks = content_masks.to(content.device)
    radius = max(1, round(BLEND * max(content.shape[-2:])))
    weights = _blur(masks, radius)
    weights = weights / weights.sum(0, keepdim=True).clamp_min(1e-12)  # (R, H, W)
    whole = torch.ones(style.shape[-2:], device=style.device)
    pixels = content[0].double().flatten(1)  # (3, H*W)
    result = torch.zeros_like(pixels)
    for mask, style_mask, weight in zip(masks, style_masks.to(style.device), weights,
                                        strict=True):
        if mask.sum() <= 0:
            continue
        source_mean, source_covariance = _statistics(content, mask)
        target_mean, target_covariance = _statistics(
            style, style_mask if style_mask.sum() > 0 else whole)
        mapped = (linear_map(source_covariance, target_covariance)
                  @ (pixels - source_mean[:, None]) + target_mean[:, None])
        result += weight.flatten() * mapped
    return result.view_as(content[0])[None].float().clamp(0, 1)
