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
little is lost, and the loss network never runs at the largest size. Images are float RGB in
[0, 1], NCHW.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.core.devices import resolve_device
from fastnst.core.errors import FastNSTError
from fastnst.core.images import load_tensor, open_image
from fastnst.losses import affine
from fastnst.losses.affine import AffineTerm
from fastnst.losses.masked import MaskedStyleTerm
from fastnst.losses.perceptual import ContentTerm, PerceptualLoss, TotalVariationTerm
from fastnst.lossnets import build_loss_network
from fastnst.photoreal.clusters import auto_masks
from fastnst.photoreal.config import PhotoConfig
from fastnst.photoreal.masks import match_regions, one_hot, read_mask, resize_labels
from fastnst.photoreal.start import region_colour_transfer
from fastnst.photoreal.upsample import affine_upsample
from fastnst.slow.gatys import StepCallback, stylize_slow

# The smallest short side (px) of a level: conv5_1, at 1/16 of the image, still has a pixel.
MIN_LEVEL_SIDE = 16


@dataclass(frozen=True)
class PhotoResult:
    """What `run_photo` made.

    image: (1, 3, H, W) in [0, 1] on the CPU, H x W the content's working size.
    terms: the final weighted loss terms and "total" of the last optimised level.
    content_labels (H, W), style_labels (Hs, Ws): the regions used, int64 indices of
    fastnst.photoreal.masks.COLOURS. seconds: wall time of loading, masks and optimisation.
    """

    image: torch.Tensor
    terms: dict[str, float]
    content_labels: torch.Tensor
    style_labels: torch.Tensor
    seconds: float


def level_sizes(size: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """(H, W) of each level, coarsest first: the last is `size`, each other half the next.

    Raises FastNSTError when the coarsest would be under MIN_LEVEL_SIDE px on its short side.
    """
    height, width = size
    sizes = [(max(1, round(height / 2 ** k)), max(1, round(width / 2 ** k)))
             for k in range(levels - 1, -1, -1)]
    if min(sizes[0]) < MIN_LEVEL_SIDE:
        raise FastNSTError(
            f"--iterations gives {levels} levels, so the coarsest is {sizes[0][1]}x"
            f"{sizes[0][0]} px: under {MIN_LEVEL_SIDE} px; use fewer levels or a larger "
            "--image-size")
    return sizes


def check_levels(size: tuple[int, int], config: PhotoConfig) -> list[tuple[int, int]]:
    """level_sizes for a working size (H, W), after checking that the largest optimised
    level fits the affine term's pixel limit (FastNSTError otherwise)."""
    sizes = level_sizes(size, len(config.iterations))
    largest = max(size for size, steps in zip(sizes, config.iterations, strict=True) if steps)
    affine.check_size(*largest, config.affine_max_pixels)
    return sizes


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w), antialiased bilinear (area-like when shrinking)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def photo_loss(network: nn.Module, config: PhotoConfig, style: torch.Tensor,
               content_masks: torch.Tensor, style_masks: torch.Tensor) -> PerceptualLoss:
    """Luan et al.'s objective for one level: content, masked style, affine, TV terms.

    style: (1, 3, Hs, Ws) at the level's scale; masks (R, ., .) float, rows matched, at any
    resolution (the style term resizes them to each layer), all on the network's device.
    """
    assert config.content_layers is not None and config.style_layers is not None  # resolved
    with torch.no_grad():
        style_features = network(style, config.style_layers)
    return PerceptualLoss(network, [
        ContentTerm(config.content_layers, config.content_weight),
        MaskedStyleTerm(style_features, style_masks, content_masks, config.style_layers,
                        config.style_weight, config.style_layer_weights),
        AffineTerm(config.affine_weight, max_pixels=config.affine_max_pixels),
        TotalVariationTerm(config.tv_weight),
    ])


def stylize_photo(content: torch.Tensor, style: torch.Tensor, content_masks: torch.Tensor,
                  style_masks: torch.Tensor, network: nn.Module, config: PhotoConfig,
                  progress: bool = True,
                  on_step: StepCallback | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Optimise a photorealistic stylisation of content (1, 3, H, W) after style (1, 3, Hs, Ws).

    masks: (R, H, W) and (R, Hs, Ws) float in [0, 1], row r the same region in both (one row
    of ones each: no regions). Levels, steps and weights come from config (iterations,
    optimizer, lr, *_weight). on_step(steps_done, image): as stylize_slow's, counting the
    steps of all levels so far (their total is sum(config.iterations)).
    Returns (image (1, 3, H, W) in [0, 1], final loss terms).
    """
    iterations: Sequence[int] = config.iterations
    sizes = check_levels(tuple(content.shape[-2:]), config)
    start = content
    if config.init == "transfer":
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
        loss_fn = photo_loss(network, config, resize(style, style_size), content_masks,
                             style_masks)
        desc = f"level {level + 1}/{len(sizes)} {size[1]}x{size[0]}"
        done = sum(iterations[:level])
        level_step = (None if on_step is None else
                      lambda step, current, done=done: on_step(done + step, current))
        image, final = stylize_slow(level_content, loss_fn, config.optimizer,
                                    resize(start, size) if image is None else image, steps,
                                    config.lr, progress, desc, level_step)
        terms = final.floats()
    assert image is not None  # the first level always has steps (PhotoConfig checks)
    return image, terms


def read_labels(config: PhotoConfig, content_size: tuple[int, int],
                style_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Label maps (H, W) and (Hs, Ws) from --content-mask and --style-mask, for the content
    and style at their working sizes (H, W) and (Hs, Ws); nearest-neighbour resizing."""
    labels = []
    for mask, photo, size in ((config.content_mask, config.content, content_size),
                              (config.style_mask, config.style, style_size)):
        original = open_image(photo, config.max_pixels).size
        read = read_mask(mask, original, config.max_pixels, photo)
        labels.append(resize_labels(read, size))
    return labels[0], labels[1]


def run_photo(config: PhotoConfig, progress: bool = True) -> PhotoResult:
    """Load the photos and masks `config` names, find regions if needed, and optimise."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    content = load_tensor(config.content, config.max_pixels, config.image_size).to(device)
    check_levels(tuple(content.shape[-2:]), config)
    style = load_tensor(config.style, config.max_pixels, config.style_size).to(device)
    labels = None
    if config.content_mask:  # read before the network loads: mistakes are reported at once
        labels = read_labels(config, tuple(content.shape[-2:]), tuple(style.shape[-2:]))
        match_regions(*labels, config.content_mask, config.style_mask)
    result = transfer_photo(content, style, config, labels, progress)
    return PhotoResult(result.image, result.terms, result.content_labels,
                       result.style_labels, time.perf_counter() - started)


def transfer_photo(content: torch.Tensor, style: torch.Tensor, config: PhotoConfig,
                   labels: tuple[torch.Tensor, torch.Tensor] | None = None,
                   progress: bool = True, on_step: StepCallback | None = None) -> PhotoResult:
    """Photorealistic transfer between images already loaded (a server's uploads).

    content (1, 3, H, W) and style (1, 3, Hs, Ws) in [0, 1] on one device, at their working
    sizes; labels: (content (H, W), style (Hs, Ws)) label maps, or None to find
    config.auto_masks regions. config gives everything else (its paths are not read).
    on_step: see stylize_photo.
    """
    started = time.perf_counter()
    check_levels(tuple(content.shape[-2:]), config)
    network = build_loss_network(config.loss_net, config.vgg_weights,
                                 config.pooling).to(content.device)
    if labels is None:
        content_labels, style_labels = auto_masks(content, style, network, config.auto_masks,
                                                  config.seed)
        regions = match_regions(content_labels, style_labels, "the content's auto mask",
                                "the style's")
    else:
        content_labels, style_labels = labels
        regions = match_regions(content_labels, style_labels, config.content_mask,
                                config.style_mask)
    device = content.device
    image, terms = stylize_photo(content, style, one_hot(content_labels, regions).to(device),
                                 one_hot(style_labels, regions).to(device), network, config,
                                 progress, on_step)
    return PhotoResult(image.cpu(), terms, content_labels.cpu(), style_labels.cpu(),
                       time.perf_counter() - started)
