"""Style loss with Gram matrices per mask region (Luan et al. 2017, eq. 4).

Each region r (sky, buildings, ...) has a soft mask in the content and in the style, resized
to every layer's size by area averaging (so a region's mass is kept; Luan et al. downsample
theirs the same way, by 2x2 and 3x3 averages). A region's Gram is that of the features
multiplied by its mask, normalised by C times the mask's area, and the output's Gram in each
region is compared with the style's Gram of the same region:

    L_s = sum_l w_l sum_r a_r || G_l,r[O] - G_l,r[S] ||^2 / C_l^2,
    G_l,r[X] = (F_l[X] M_l,r) (F_l[X] M_l,r)^T / (C_l sum M_l,r),

with a_r the region's share of the content at that layer (Luan et al.'s StyleLossWithSeg:
"weighted by region size"). A content region with no pixels in the style mask is compared with
the Gram of the whole style image (Luan et al.'s code would push it to a zero Gram instead).
With one region covering both images it equals `StyleTerm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from fastnst.losses.functional import gram_matrix
from fastnst.losses.perceptual import Features, LossTerm


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Soft masks (R, H, W) in [0, 1] -> (R, h, w) by area averaging (each output pixel is
    the mean of the input pixels it covers), float32."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks.float()
    return F.interpolate(masks[None].float(), size=size, mode="area")[0]


def _region_gram(features: torch.Tensor, support: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    c = features.shape[1]
    flat = features.float().flatten(2).index_select(2, support) * weights  # (N, C, P)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * weights.sum().clamp_min(1e-8))


def region_support(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A mask (h, w) in [0, 1] as (indices (P,) int64 of its non-zero pixels in the flattened
    map, their weights (P,) float32): what region_gram takes."""
    weights = mask.float().flatten()
    support = weights.nonzero().squeeze(1)
    return support, weights.index_select(0, support)


def region_gram(features: torch.Tensor, support: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
    """masked_gram for a mask given as region_support(mask): (N, C, C) float32."""
    with torch.autocast(features.device.type, enabled=False):
        if features.requires_grad and torch.is_grad_enabled():
            return checkpoint(_region_gram, features, support, weights, use_reentrant=False)
        return _region_gram(features, support, weights)


def masked_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram of features (N, C, h, w) weighted by one mask (h, w) in [0, 1]: (N, C, C) float32,
    (F M)(F M)^T / (C sum(M)). Equals gram_matrix(features) for a mask of ones.

    Only the pixels where the mask is not 0 enter the product (region_support): with R regions
    that partition the image, the R Grams of a layer cost about one whole-image Gram instead
    of R (the products were a third of a 512 px step with three regions).

    When a gradient will flow to the features, the masked copy is recomputed in the backward
    pass instead of kept (torch.utils.checkpoint): autograd would otherwise keep one copy of
    every style layer per region, about 1 GB with three regions at 1024 px, for the cost of
    one multiplication more.
    """
    return region_gram(features, *region_support(mask))


class MaskedStyleTerm(LossTerm):
    """Style term with one Gram per mask region and layer.

    style_features: the style image's features at `layers` ({layer: (1, C, h, w)}).
    style_masks: (R, Hs, Ws) soft masks of the style image in [0, 1], one per region;
    content_masks: (R, H, W) of the content (and output) image, region r in the same row of
    both. A region whose style mask is empty uses the whole style's Gram; one whose content
    mask is empty contributes nothing. layer_weights: as in StyleTerm (default
    1 / mean(G_style^2) of the whole style's Gram, so layers count equally).
    """

    name = "style"

    def __init__(self, style_features: Features, style_masks: torch.Tensor,
                 content_masks: torch.Tensor, layers: Sequence[str], weight: float,
                 layer_weights: Sequence[float] | None = None) -> None:
        super().__init__(weight)
        if style_masks.dim() != 3 or content_masks.dim() != 3:
            raise ValueError("masks must be (R, H, W)")
        if style_masks.shape[0] != content_masks.shape[0]:
            raise ValueError(f"{style_masks.shape[0]} style masks but "
                             f"{content_masks.shape[0]} content masks")
        self.layers = tuple(layers)
        self.register_buffer("content_masks", content_masks.float(), persistent=False)
        present = style_masks.flatten(1).sum(1) > 0  # (R,): regions the style has
        whole = {layer: gram_matrix(style_features[layer]) for layer in self.layers}
        for index, layer in enumerate(self.layers):
            features = style_features[layer]
            masks = resize_masks(style_masks.to(features.device), tuple(features.shape[-2:]))
            grams = [masked_gram(features, mask)[0] if has else whole[layer][0]
                     for mask, has in zip(masks, present.tolist(), strict=True)]
            self.register_buffer(f"grams_{index}", torch.stack(grams), persistent=False)
        if layer_weights is None:
            layer_weights = [1.0 / gram.pow(2).mean().clamp_min(1e-12).item()
                             for gram in whole.values()]
        self.layer_weights = dict(zip(self.layers, map(float, layer_weights), strict=True))
        # Per feature size and device: the content regions at that size. The masks are fixed,
        # so they are resized once per layer size, not at every evaluation.
        self._regions: dict[tuple[int, int, torch.device],
                            list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]] = {}

    def content_regions(self, size: tuple[int, int]
                        ) -> list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(row r of the masks, share a_r (0-dim float32), support, weights) of every content
        region with pixels at a layer's size (h, w); the last two from region_support."""
        key = (*size, self.content_masks.device)
        if key not in self._regions:
            masks = resize_masks(self.content_masks, size)
            shares = masks.flatten(1).mean(1)  # (R,) region sizes a_r at this layer
            self._regions[key] = [(row, share, *region_support(mask))
                                  for row, (share, mask) in enumerate(zip(shares, masks,
                                                                          strict=True))
                                  if share > 0]
        return self._regions[key]

    def target_grams(self, layer: str) -> torch.Tensor:
        """(R, C, C) float32 style Grams of every region at `layer`."""
        return getattr(self, f"grams_{self.layers.index(layer)}")

    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        losses = []
        for layer, weight in self.layer_weights.items():
            feature = features[layer]  # (N, C, h, w)
            style_grams = self.target_grams(layer)  # (R, C, C)
            for row, share, support, weights in self.content_regions(
                    (feature.shape[-2], feature.shape[-1])):
                gram = region_gram(feature, support, weights)
                target = style_grams[row]
                losses.append(weight * share * F.mse_loss(gram, target.expand_as(gram)))
        return torch.stack(losses).sum()
