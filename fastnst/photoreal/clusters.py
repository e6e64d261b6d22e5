"""Matching regions of a content and a style photo found offline (`--auto-masks K`).

No segmentation network is downloaded: the loss network's own features describe what each
place shows. Every pixel of both feature maps becomes one vector (VGG features and position),
and one k-means over the pixels of both photos together puts alike places of the two photos in
the same cluster: cluster k is region k in both label maps. The clusters, found on a grid 1/8
of the described photo's size, are then carried to full size along the photo's own edges (a
guided filter of each region's indicator, the photo as guide), so a region ends where the sky
meets a rock, not on the feature grid. Images are float RGB in [0, 1], NCHW; label maps (H, W)
int64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.core.filters import guided_filter

# The pixel description, chosen on the six pairs of Luan et al.'s examples we have (agreement
# of the found regions with their hand-drawn masks: adjusted Rand index over the pixels of both
# photos at 256 px, K = 3, mean of the six): relu4_1 features at unit length per pixel (0.42)
# beat relu3_1 (0.24) and relu3_1 + relu4_1 (0.36); adding the position (y, x / 2) in [0, 1]
# times POSITION_WEIGHT helps most (skies are up, ground is down: 0.59 at 1.0; 0.51 at 0.5,
# 0.47 at 1.5, 0.41 at 2.0); colour, even standardised per photo, lowered it (0.54 at weight
# 0.2, 0.51 at 0.6), so it is left out.
FEATURE_LAYER = "relu4_1"
# Long side (px) the photos are described at (as when the weights below were chosen).
FEATURE_SIZE = 256
POSITION_WEIGHT = 1.0
KMEANS_ITERATIONS = 30
# The edge-following refinement: guided-filter window radius as a share of the described
# photo's long side, and its ridge regulariser (squared [0, 1] colour units). Measured as
# above (K = 3): the old labels (each pixel the nearest centre of its bilinearly upsampled
# features) 0.625; radius 1/64, 1/16, 1/8, 3/16, 1/4 (at eps 1e-2) 0.626, 0.649, 0.677, 0.699,
# 0.697; 3/8 0.633, when a window spans whole regions. eps 1e-3 and 1e-2 were alike, 1e-1
# worse (0.645 at 1/8). One of the six pairs moves most: the rock against the sky of pair 14,
# 0.743 to 0.877.
REFINE_RADIUS = 3 / 16
REFINE_EPSILON = 1e-2
# A cluster needs this share of both photos' pixels to be a region: one that is (nearly) in one
# photo only would match, say, the content's statues with a sliver of the style's ground (seen
# on Luan et al.'s pair 8), so its pixels go to the nearest remaining cluster instead.
MIN_SHARE = 0.02


def kmeans(points: torch.Tensor, k: int, generator: torch.Generator,
           iterations: int = KMEANS_ITERATIONS) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding (Arthur and Vassilvitskii 2007).

    points: (P, D) float; returns centres (k, D). A cluster left empty keeps its centre.
    """
    first = torch.randint(len(points), (1,), generator=generator, device=points.device)
    centres = points[first]
    for _ in range(k - 1):
        distance = torch.cdist(points, centres).min(1).values.pow(2)  # (P,)
        if distance.sum() <= 0:  # fewer distinct points than k
            pick = torch.randint(len(points), (1,), generator=generator, device=points.device)
        else:
            pick = torch.multinomial(distance / distance.sum(), 1, generator=generator)
        centres = torch.cat([centres, points[pick]])
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(1)  # (P,)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=k).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    return centres


def keep_shared(centres: torch.Tensor, content: torch.Tensor, style: torch.Tensor,
                min_share: float = MIN_SHARE) -> torch.Tensor:
    """The centres (k', D) left after dropping, one at a time, the cluster with the smallest
    share of either photo's points while that share is under min_share (its points then go to
    the nearest remaining centre). content, style: (P, D) and (Q, D) points."""
    while len(centres) > 1:
        shares = torch.stack([
            torch.bincount(torch.cdist(points, centres).argmin(1),
                           minlength=len(centres)).double() / len(points)
            for points in (content, style)]).amin(0)  # (k,) the smaller of the two shares
        worst = int(shares.argmin())
        if shares[worst] >= min_share:
            break
        centres = torch.cat([centres[:worst], centres[worst + 1:]])
    return centres


def pixel_vectors(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One row per pixel of a (h, w) grid from features (1, C, h', w') resized to it: (h * w,
    C + 2), the features at unit length, then (y, x / 2) in [0, 1] times POSITION_WEIGHT."""
    height, width = size
    feats = F.interpolate(features.float(), size=size, mode="bilinear", align_corners=False)
    feats = F.normalize(feats[0].flatten(1).T, dim=1)  # (h*w, C)
    ys = torch.linspace(0, 1, height, device=features.device)
    xs = torch.linspace(0, 1, width, device=features.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    position = torch.stack([grid_y.flatten(), 0.5 * grid_x.flatten()], 1)  # (h*w, 2)
    return torch.cat([feats, POSITION_WEIGHT * position], 1)


def shrink(image: torch.Tensor, size: int = FEATURE_SIZE) -> torch.Tensor:
    """(1, 3, H, W) -> long side at most `size` px (antialiased bilinear)."""
    scale = size / max(image.shape[-2:])
    if scale >= 1:
        return image
    target = (max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale)))
    return F.interpolate(image, size=target, mode="bilinear", antialias=True,
                         align_corners=False)


def follow_edges(labels: torch.Tensor, regions: int, image: torch.Tensor) -> torch.Tensor:
    """Label map (h, w) int64 of a coarse grid over `image` (1, 3, H, W) in [0, 1] -> (H, W)
    int64 on the CPU, region boundaries moved onto the image's edges.

    Each region's indicator is enlarged bilinearly to the photo at FEATURE_SIZE, smoothed by a
    guided filter with that photo as guide (window radius REFINE_RADIUS of its long side,
    REFINE_EPSILON), its local colour fits applied to the full-size image (the fast guided
    filter), and each pixel takes the region with the highest value.
    """
    small = shrink(image)
    indicators = F.one_hot(labels, regions).permute(2, 0, 1)[None].to(image.dtype)
    indicators = F.interpolate(indicators, size=small.shape[-2:], mode="bilinear",
                               align_corners=False)
    radius = max(1, round(REFINE_RADIUS * max(small.shape[-2:])))
    scores = guided_filter(indicators, small, radius, REFINE_EPSILON, fine_guide=image)
    return scores.argmax(1)[0].cpu()


def auto_masks(content: torch.Tensor, style: torch.Tensor, network: nn.Module, k: int,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """K matching regions of content (1, 3, H, W) and style (1, 3, Hs, Ws), both in [0, 1].

    network: a loss network with FEATURE_LAYER (VGG). k-means runs on the pixels of both
    feature maps (photos at FEATURE_SIZE px, features at 1/8 of that), seeded with `seed`;
    clusters under MIN_SHARE of either photo are merged away (keep_shared); each feature pixel
    takes its nearest centre, and follow_edges brings the labels to the photo's size. Returns
    label maps (H, W) and (Hs, Ws) int64 with values in 0..k'-1, k' <= k (k = 1: all zeros).
    """
    if k == 1:
        return (torch.zeros(content.shape[-2:], dtype=torch.long),
                torch.zeros(style.shape[-2:], dtype=torch.long))
    with torch.no_grad():
        features = [network(shrink(image), [FEATURE_LAYER])[FEATURE_LAYER]
                    for image in (content, style)]
        points = [pixel_vectors(feats, (feats.shape[-2], feats.shape[-1]))
                  for feats in features]
        generator = torch.Generator(device=points[0].device).manual_seed(seed)
        centres = keep_shared(kmeans(torch.cat(points), k, generator), *points)
        labels = [follow_edges(torch.cdist(rows, centres).argmin(1).view(feats.shape[-2:]),
                               len(centres), image)
                  for rows, feats, image in zip(points, features, (content, style), strict=True)]
    return labels[0], labels[1]
