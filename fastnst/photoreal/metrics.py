"""The photorealistic metric: style error, region by region, and edges kept.

For each (content, style, output) triple (fastnst.photoreal.report scores a folder of them):

- style error: fastnst.evaluation.metrics' style error (mean over relu1_1..relu5_1 of
  ||G(out) - G(style)||^2 / ||G(style)||^2, VGG19 caffe weights, style at 512 px);
- masked style error: the same inside matched mask regions (colours present in both the
  content's and the style's colour-coded masks, fastnst.photoreal.masks): per region and
  layer, the Gram of the features weighted by the region's mask (fastnst.losses.masked's
  masked_gram, masks area-resized to each layer), against the style's Gram of the same
  region; averaged over layers, then over regions weighted by their share of the content;
- structure: SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
  K2 = 0.03, data range 1, no padding) between the gradient magnitudes of output and content
  (Sobel / 8 on BT.601 luma: intensity change per pixel). 1 = the content's edges kept,
  lower when edges blur or texture the content lacks appears.

Errors are dimensionless (0 is a perfect match); images float RGB in [0, 1], NCHW, scored at
the content's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from fastnst.core.errors import FastNSTError
from fastnst.evaluation.metrics import (
    METRIC_LOSS_NET,
    METRIC_POOLING,
    METRIC_STYLE_LAYERS,
    METRIC_VGG_WEIGHTS,
    loss_network,
    relative_error,
)
from fastnst.losses.functional import gram_matrix
from fastnst.losses.masked import masked_gram, resize_masks

# SSIM constants of Wang et al. 2004 (and scikit-image's structural_similarity with
# gaussian_weights=True): 11x11 window of sigma 1.5, K1 = 0.01, K2 = 0.03. Data range 1:
# gradient magnitudes of [0, 1] images are intensity changes per pixel, at most ~1.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_RANGE = 1.0
# BT.601 luma weights.
_LUMA = (0.299, 0.587, 0.114)


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) |grad Y| of the BT.601 luma Y, float32.

    Sobel kernels divided by 8 give the intensity change per pixel (a unit ramp gives 1);
    borders are replicated.
    """
    weights = images.new_tensor(_LUMA).view(1, 3, 1, 1)
    luma = (images.float() * weights).sum(1, keepdim=True)  # (N, 1, H, W)
    sobel = images.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    kernels = torch.stack([sobel, sobel.t()])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    gradients = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), kernels)
    return gradients.pow(2).sum(1, keepdim=True).sqrt()


def ssim(first: torch.Tensor, second: torch.Tensor, data_range: float = SSIM_RANGE
         ) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of (N, 1, H, W) maps: (N,) float32, 1 for equal maps.

    Gaussian window SSIM_WINDOW x SSIM_WINDOW (sigma SSIM_SIGMA), only where it fits (no
    padding); C1 = (K1 L)^2, C2 = (K2 L)^2 with L = data_range. Both sides >= SSIM_WINDOW px.
    """
    if min(first.shape[-2:]) < SSIM_WINDOW:
        raise FastNSTError(f"structure needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} "
                           f"pixels, not {first.shape[-1]}x{first.shape[-2]}")
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=first.device)
    gauss = torch.exp(-((coords - SSIM_WINDOW // 2) ** 2) / (2 * SSIM_SIGMA ** 2))
    gauss = gauss / gauss.sum()
    window = (gauss[:, None] * gauss[None, :])[None, None]  # (1, 1, 11, 11)
    x, y = first.float(), second.float()
    maps = F.conv2d(torch.cat([x, y, x * x, y * y, x * y], 1).flatten(0, 1)[:, None], window)
    mu_x, mu_y, xx, yy, xy = maps.unflatten(0, (x.shape[0], 5)).unbind(1)  # each (N, 1, h, w)
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
             / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return index.flatten(1).mean(1)


def structure_similarity(outputs: torch.Tensor, contents: torch.Tensor) -> torch.Tensor:
    """SSIM between gradient magnitudes of outputs and contents, (N, 3, H, W) each -> (N,)."""
    if outputs.shape != contents.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and contents "
                         f"{tuple(contents.shape)} differ in shape")
    return ssim(gradient_magnitude(outputs), gradient_magnitude(contents))


@dataclass(frozen=True)
class StyleTarget:
    """One style image's Grams at METRIC_STYLE_LAYERS: whole (1, C, C) and per region (R, C, C)."""

    grams: dict[str, torch.Tensor]
    region_grams: dict[str, torch.Tensor]


@dataclass(frozen=True)
class PhotorealErrors:
    """The metric for one output (see the module doc); masked_style is None without masks."""

    style: float
    masked_style: float | None
    structure: float
    regions: dict[str, float]  # masked style error per region name

    def to_dict(self) -> dict[str, Any]:
        return {"style_error": self.style, "masked_style_error": self.masked_style,
                "structure": self.structure, "regions": self.regions}


class PhotorealMetric:
    """Scores outputs against their content, a style image and matched region masks."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.vgg = loss_network(METRIC_LOSS_NET, METRIC_VGG_WEIGHTS, METRIC_POOLING, self.device)

    @torch.no_grad()
    def style_target(self, style: torch.Tensor, masks: torch.Tensor | None = None
                     ) -> StyleTarget:
        """style: (1, 3, H, W) in [0, 1]; masks: (R, H, W) soft region masks in [0, 1]."""
        features = self.vgg(style.to(self.device), METRIC_STYLE_LAYERS)
        grams = {layer: gram_matrix(features[layer]) for layer in METRIC_STYLE_LAYERS}
        regions: dict[str, torch.Tensor] = {}
        if masks is not None:
            for layer in METRIC_STYLE_LAYERS:
                feature = features[layer]
                resized = resize_masks(masks.to(self.device), tuple(feature.shape[-2:]))
                regions[layer] = torch.cat([masked_gram(feature, m) for m in resized])
        return StyleTarget(grams, regions)

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor, contents: torch.Tensor, target: StyleTarget,
                 masks: torch.Tensor | None = None, names: Sequence[str] = ()
                 ) -> list[PhotorealErrors]:
        """outputs, contents: (N, 3, H, W) in [0, 1]; masks: (R, H, W) soft masks of the
        content's regions, row r matching row r of the style's (target.region_grams);
        names: R region names for the report."""
        features = self.vgg(outputs.to(self.device), METRIC_STYLE_LAYERS)
        style = torch.stack([relative_error(gram_matrix(features[layer]), target.grams[layer])
                             for layer in METRIC_STYLE_LAYERS]).mean(0)  # (N,)
        structure = structure_similarity(outputs.to(self.device), contents.to(self.device))
        per_region = masked = None
        if masks is not None:
            per_region = self.region_errors(features, masks.to(self.device), target)  # (N, R)
            shares = masks.flatten(1).mean(1).to(self.device)
            masked = (per_region * shares).sum(1) / shares.sum()
        rows = []
        for index in range(outputs.shape[0]):
            regions = ({} if per_region is None else
                       dict(zip(names, per_region[index].tolist(), strict=True)))
            rows.append(PhotorealErrors(
                style=style[index].item(),
                masked_style=None if masked is None else masked[index].item(),
                structure=structure[index].item(), regions=regions))
        return rows

    @staticmethod
    def region_errors(features: dict[str, torch.Tensor], masks: torch.Tensor,
                      target: StyleTarget) -> torch.Tensor:
        """(N, R) style error per region: mean over layers of the relative distance between
        the output's and the style's masked Grams."""
        errors = []
        for layer in METRIC_STYLE_LAYERS:
            feature = features[layer]  # (N, C, h, w)
            resized = resize_masks(masks, tuple(feature.shape[-2:]))
            errors.append(torch.stack(
                [relative_error(masked_gram(feature, mask), region[None])
                 for mask, region in zip(resized, target.region_grams[layer], strict=True)],
                dim=1))  # (N, R)
        return torch.stack(errors).mean(0)
