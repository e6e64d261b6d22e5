"""Luan et al. (2017) photorealistic style transfer: optimise pixels, coarse to fine.

Deep Photo Style Transfer minimises, over the output image O,

    content_weight * L_c (conv4_2) + style_weight * L_s+ (Grams per mask region, conv1_1..5_1)
    + affine_weight * L_m (matting Laplacian of the content, eq. 2) + tv_weight * TV,

with L-BFGS: 1000 iterations of a masked Gatys stage from noise, then 1000 with the affine term
from that result, at ~700 px on a GPU, plus a Matlab step for the Laplacian. Here one stage
starts from the content with each region's colours moved onto the style's
(fastnst.photoreal.start; or from the content itself), the affine term keeping it a photo
from the first step, and runs coarse to fine: `iterations` gives the steps at each level, every
level twice the size of the one before, the last at the working size; each level starts from
the one below upsampled along the content's edges (fastnst.photoreal.upsample). A level with 0
steps is that upsampling alone: the result is locally an affine function of the content, so
its colours and edges survive, but the style's look at the scale of objects is only what the
coarser level had (the default's few steps at the working size give it). The loss network
runs in bf16 where the device computes it natively (params.precision). Images are float RGB
in [0, 1], NCHW.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.core.errors import ParameterError
from fastnst.losses import affine
from fastnst.losses.affine import AffineTerm
from fastnst.losses.masked import MaskedStyleTerm
from fastnst.losses.perceptual import ContentTerm, PerceptualLoss, TotalVariationTerm
from fastnst.lossnets import build_loss_network
from fastnst.lossnets.precision import with_precision
from fastnst.photoreal.clusters import auto_masks
from fastnst.photoreal.masks import match_regions, one_hot
from fastnst.photoreal.photo_config import PhotoParams
from fastnst.photoreal.start import region_colour_transfer
from fastnst.photoreal.upsample import affine_upsample
from fastnst.slow.gatys import StepCallback, stylize_slow

# The smallest short side (px) of a level: conv5_1, at 1/16 of the image, still has a pixel.
MIN_LEVEL_SIDE = 16
# The default schedule (level_steps). At 512 px, 50 L-BFGS steps at 128 px and 30 at 256 px
# set the colours and the layout, and 10 at 512 px the look at the scale of objects; a 1024 px
# photo needs 5 more at 1024 px (pair 8 of Luan et al.'s examples falls short without them,
# and ten cost pair 39 its edges: README).
DEFAULT_STEPS = (50, 30, 10)
ABOVE_512_STEPS = 5


@dataclass(frozen=True)
class PhotoResult:
    """What `transfer_photo` made.

    image: (1, 3, H, W) in [0, 1] on the CPU, H x W the content's working size.
    terms: the final weighted loss terms and "total" of the last optimised level.
    content_labels (H, W), style_labels (Hs, Ws): the regions used, int64 indices of
    fastnst.photoreal.masks.COLOURS, on the CPU. seconds: wall time of the loss network's
    loading, the masks and the optimisation.
    """

    image: torch.Tensor
    terms: dict[str, float]
    content_labels: torch.Tensor
    style_labels: torch.Tensor
    seconds: float


def level_sizes(size: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """(H, W) of each level, coarsest first: the last is `size`, each other half the next.

    levels is the length of the steps per level (level_steps), so the error names
    PhotoParams.iterations: a
    ParameterError when the coarsest would be under MIN_LEVEL_SIDE px on its short side.
    """
    height, width = size
    sizes = [(max(1, round(height / 2 ** k)), max(1, round(width / 2 ** k)))
             for k in range(levels - 1, -1, -1)]
    if min(sizes[0]) < MIN_LEVEL_SIDE:
        raise ParameterError(
            "iterations", f"gives {levels} levels, so the coarsest is {sizes[0][1]}x"
            f"{sizes[0][0]} px: under {MIN_LEVEL_SIDE} px; use fewer levels or a larger image")
    return sizes


def level_steps(size: tuple[int, int], iterations: Sequence[int] | None) -> tuple[int, ...]:
    """Optimiser steps per level, coarsest first, for a working size (H, W): `iterations` as
    given, or for None the default schedule. That is DEFAULT_STEPS for a long side of about
    512 px (362 to 724), then per doubling above one more level: ABOVE_512_STEPS at about
    1024 px, 0 above that (enlarged along the content's edges: a 2048 px level costs 4x a
    1024 px one in time and memory). Per halving below 512 px the levels keep their steps and
    get smaller; levels whose short side would be under MIN_LEVEL_SIDE are left out, coarsest
    first."""
    if iterations is not None:
        return tuple(iterations)
    doublings = max(0, round(math.log2(max(size) / 512)))
    steps = DEFAULT_STEPS + (ABOVE_512_STEPS,) * min(doublings, 1) + (0,) * (doublings - 1)
    while len(steps) > 1 and round(min(size) / 2 ** (len(steps) - 1)) < MIN_LEVEL_SIDE:
        steps = steps[1:]
    return steps


def check_levels(size: tuple[int, int], params: PhotoParams
                 ) -> tuple[list[tuple[int, int]], tuple[int, ...]]:
    """(H, W) and steps of each level for a working size (H, W) and params.iterations
    (level_steps), after checking that the largest optimised level fits
    params.affine_max_pixels (FastNSTError otherwise)."""
    steps = level_steps(size, params.iterations)
    sizes = level_sizes(size, len(steps))
    largest = max(size for size, count in zip(sizes, steps, strict=True) if count)
    affine.check_size(*largest, params.affine_max_pixels)
    return sizes, steps


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w), antialiased bilinear (area-like when shrinking)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def photo_loss(network: nn.Module, params: PhotoParams, style: torch.Tensor,
               content_masks: torch.Tensor, style_masks: torch.Tensor) -> PerceptualLoss:
    """Luan et al.'s objective for one level: content, masked style, affine, TV terms, with
    the layers and weights of params.

    style: (1, 3, Hs, Ws) at the level's scale; masks (R, ., .) float, rows matched, at any
    resolution (the style term resizes them to each layer), all on the network's device.
    """
    assert params.content_layers is not None and params.style_layers is not None  # resolved
    with torch.no_grad():
        style_features = network(style, params.style_layers)
    return PerceptualLoss(network, [
        ContentTerm(params.content_layers, params.content_weight),
        MaskedStyleTerm(style_features, style_masks, content_masks, params.style_layers,
                        params.style_weight, params.style_layer_weights),
        AffineTerm(params.affine_weight, max_pixels=params.affine_max_pixels),
        TotalVariationTerm(params.tv_weight),
    ])


def stylize_photo(content: torch.Tensor, style: torch.Tensor, content_masks: torch.Tensor,
                  style_masks: torch.Tensor, network: nn.Module, params: PhotoParams,
                  progress: bool = True,
                  on_step: StepCallback | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Optimise a photorealistic stylisation of content (1, 3, H, W) after style (1, 3, Hs, Ws).

    masks: (R, H, W) and (R, Hs, Ws) float in [0, 1], row r the same region in both (one row
    of ones each: no regions). Levels, steps, start, weights and the network's arithmetic come
    from params (iterations, init, optimizer, lr, *_weight, precision). on_step(steps_done,
    image): as stylize_slow's, counting the steps of all levels so far (their total is
    sum(level_steps((H, W), params.iterations))).
    Returns (image (1, 3, H, W) in [0, 1], final loss terms).
    """
    sizes, iterations = check_levels(tuple(content.shape[-2:]), params)
    network = with_precision(network, params.precision, content.device)
    start = content
    if params.init == "transfer":
        start = region_colour_transfer(content, style, content_masks, style_masks)
    image: torch.Tensor | None = None
    previous: torch.Tensor | None = None  # the content at the previous level's size
    terms: dict[str, float] = {}
    for level, (size, steps) in enumerate(zip(sizes, iterations, strict=True)):
        level_content = resize(content, size)
        if image is not None and previous is not None:
            image = affine_upsample(image, previous, level_content)
        previous = level_content
        if not steps:
            continue
        scale = size[0] / content.shape[-2]
        style_size = (max(1, round(style.shape[-2] * scale)),
                      max(1, round(style.shape[-1] * scale)))
        loss_fn = photo_loss(network, params, resize(style, style_size), content_masks,
                             style_masks)
        desc = f"level {level + 1}/{len(sizes)} {size[1]}x{size[0]}"
        done = sum(iterations[:level])
        level_step = (None if on_step is None else
                      lambda step, current, done=done: on_step(done + step, current))
        image, final = stylize_slow(level_content, loss_fn, params.optimizer,
                                    resize(start, size) if image is None else image, steps,
                                    params.lr, progress, desc, level_step, params.first_step)
        terms = final.floats()
    assert image is not None  # the first level always has steps (PhotoParams checks)
    return image, terms


def transfer_photo(content: torch.Tensor, style: torch.Tensor, params: PhotoParams,
                   labels: tuple[torch.Tensor, torch.Tensor] | None = None,
                   progress: bool = True, on_step: StepCallback | None = None, *,
                   network: nn.Module | None = None,
                   mask_names: tuple[str, str] = ("content mask", "style mask")) -> PhotoResult:
    """Photorealistic transfer between images already loaded, as `params` sets it.

    content (1, 3, H, W) and style (1, 3, Hs, Ws): float in [0, 1] on one device, at their
    working sizes (params.image_size and params.style_size say which sizes fastnst-photo
    uses; nothing is resized here). labels: (content (H, W), style (Hs, Ws)) int64 label maps
    of fastnst.photoreal.masks (read_labels reads them from mask files), or None to find
    params.auto_masks regions (seeded with params.seed). network: a loss network to reuse (the
    one params names, with its layers); by default it is built from params. mask_names: what
    error messages and warnings call the two label maps (a command names its mask files).
    on_step: see stylize_photo.

    The levels and the regions are checked before the loss network is built: a mistake costs
    no loading. Raises ParameterError (levels too small for params.iterations) or
    FastNSTError (over params.affine_max_pixels; label maps that share no region).
    """
    started = time.perf_counter()
    check_levels(tuple(content.shape[-2:]), params)
    if labels is not None:
        content_labels, style_labels = labels
        regions = match_regions(content_labels, style_labels, *mask_names)
    if network is None:
        network = build_loss_network(params.loss_net, params.vgg_weights, params.pooling)
    network = network.to(content.device)
    if labels is None:
        content_labels, style_labels = auto_masks(content, style, network, params.auto_masks,
                                                  params.seed)
        regions = match_regions(content_labels, style_labels, "the content's auto mask",
                                "the style's")
    device = content.device
    image, terms = stylize_photo(content, style, one_hot(content_labels, regions).to(device),
                                 one_hot(style_labels, regions).to(device), network, params,
                                 progress, on_step)
    return PhotoResult(image.cpu(), terms, content_labels.cpu(), style_labels.cpu(),
                       time.perf_counter() - started)
