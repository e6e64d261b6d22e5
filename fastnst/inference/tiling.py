"""Tiled inference whose instance-norm statistics come from the whole image, so tiles show no seams.

Instance norm makes every output pixel depend on per-channel means and variances taken over
the whole image; everything else in the transform net is local. A tiled run therefore
(1) runs the whole image once, downscaled to at most `stats_max_pixels` when larger, and
records each nn.InstanceNorm2d's per-sample, per-channel input mean and variance, then
(2) runs overlapping tiles with hooks that normalize with those recorded statistics. Each tile
carries a margin of at least the net's receptive radius, so the kept core of every tile sees
exactly the context it would see in an untiled run; cores are cropped, not blended. When the
image fits in `stats_max_pixels` the result equals the untiled one up to float rounding.
By default `stats_max_pixels` is `tile_pixels`, one tile's own size with its margins: the
statistics pass then needs no more memory than a tile, so the peak is set by the tile, not
by the image (the statistics of a downscaled image differ a little from the full image's:
see the README's measurement).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

# The transform net's two stride-2 convs sample every 4th input pixel: tiles start on
# multiples of 4 so their sampling grid is the whole image's.
_ALIGN = 4

NormStats = dict[nn.InstanceNorm2d, tuple[torch.Tensor, torch.Tensor]]
"""Per InstanceNorm2d module: (mean, var), each (N, C) float32, biased variance."""

# The hooks below live on the (shared) net while a tiled run is active, but act only for the
# run that installed them: each run sets its own token in this context variable, which is
# per thread (and per asyncio task). So a server can run tiled and untiled requests on one
# net in concurrent threads without one seeing another's statistics.
_ACTIVE_RUN: ContextVar[object | None] = ContextVar("fastnst_tiling_run", default=None)



def receptive_radius(net: nn.Module) -> int:
    """Input pixels on each side that can influence one output pixel of `net`, in pixels.

    Walks the Conv2d and Upsample layers in definition order (the forward order of
    TransformerNet; residual skips add no reach): a k x k conv adds (k // 2) * dilation
    feature pixels, each worth the current input-pixels-per-feature-pixel scale; strides
    multiply that scale and upsampling divides it. Nearest upsampling rounds positions down,
    which can shift a window by up to one feature pixel: that is counted too.
    For TransformerNet (any width) this gives 57 px: 4 + 1 + 2 (encoder) + 10 * 4
    (residual convs at 1/4 scale) + 2 + 2 + 1 + 1 + 4 (decoder, with upsampling shifts).
    """
    radius, scale = 0.0, 1.0
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            radius += (module.kernel_size[0] // 2) * module.dilation[0] * scale
            scale *= module.stride[0]
        elif isinstance(module, nn.Upsample):
            factor = float(module.scale_factor)  # type: ignore[arg-type]
            radius += scale - scale / factor  # rounding down by < 1 low-resolution pixel
            scale /= factor
    return math.ceil(radius)


def _tile_and_margin(net: nn.Module, tile: int) -> tuple[int, int]:
    """(core, margin) in px as run_tiled uses them: the tile rounded up to a multiple of 4 and
    the receptive radius rounded up likewise."""
    return -(-tile // _ALIGN) * _ALIGN, -(-receptive_radius(net) // _ALIGN) * _ALIGN


def tile_pixels(net: nn.Module, tile: int) -> int:
    """Pixels of the largest input run_tiled gives `net` for `tile`: (core + 2 * margin)^2
    (1144^2 = 1.31 MP for --tile 1024 with TransformerNet's 60 px margin). The default budget
    of the statistics pass, so that it holds no more activations than one tile."""
    core, margin = _tile_and_margin(net, tile)
    return (core + 2 * margin) ** 2


def stats_size(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) in px of the statistics pass: the image's own size when it has at most
    `max_pixels` pixels, else scaled down (aspect kept) to at most `max_pixels`."""
    if height * width <= max_pixels:
        return height, width
    scale = math.sqrt(max_pixels / (height * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def downscale_tensor(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, 3, *size) with an antialiased bilinear (triangle) filter, the
    filter `downscale_pil` uses, so both inference paths take the same statistics."""
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images.float(), size, mode="bilinear", antialias=True,
                         align_corners=False)


def downscale_pil(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A PIL image scaled to size = (height, width) px with PIL's bilinear filter, which is
    antialiased (a triangle filter widened by the scale factor) like `downscale_tensor`."""
    if (image.height, image.width) == size:
        return image
    return image.resize((size[1], size[0]), Image.Resampling.BILINEAR)


@dataclass(frozen=True)
class Tile:
    """One tile in pixel coordinates (end exclusive): `outer` is run through the net,
    `core` (inside it) is kept; both as (top, bottom, left, right)."""

    core: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]


def tile_grid(height: int, width: int, tile: int, margin: int) -> list[Tile]:
    """Cover a height x width image with tile x tile cores, each grown by `margin` px per
    side (clipped at the image border). `tile` and `margin` must be multiples of 4."""
    if tile % _ALIGN or margin % _ALIGN:
        raise ValueError(f"tile ({tile}) and margin ({margin}) must be multiples of {_ALIGN}")
    tiles = []
    for top in range(0, height, tile):
        bottom = min(top + tile, height)
        for left in range(0, width, tile):
            right = min(left + tile, width)
            outer = (max(0, top - margin), min(height, bottom + margin),
                     max(0, left - margin), min(width, right + margin))
            tiles.append(Tile((top, bottom, left, right), outer))
    return tiles


def _instance_norms(net: nn.Module) -> list[nn.InstanceNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]


@contextmanager
def recording_norm_stats(net: nn.Module) -> Iterator[NormStats]:
    """While active, each forward of `net` in this thread records every InstanceNorm2d's input
    statistics into the yielded dict (overwriting the previous forward's); forwards in other
    threads are untouched."""
    stats: NormStats = {}
    token = _ACTIVE_RUN.get() or object()
    reset = _ACTIVE_RUN.set(token)

    def record(module: nn.Module, args: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        if _ACTIVE_RUN.get() is not token:
            return
        x = args[0].float()
        stats[module] = (x.mean(dim=(2, 3)), x.var(dim=(2, 3), unbiased=False))  # type: ignore[index]

    handles = [m.register_forward_hook(record) for m in _instance_norms(net)]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()
        _ACTIVE_RUN.reset(reset)


@contextmanager
def normalizing_with(net: nn.Module, stats: NormStats) -> Iterator[None]:
    """While active, every InstanceNorm2d of `net` normalizes with the recorded `stats`
    (from recording_norm_stats) instead of its input's own statistics, in this thread only."""
    token = _ACTIVE_RUN.get() or object()
    reset = _ACTIVE_RUN.set(token)

    def replace(module: nn.Module, args: tuple[torch.Tensor, ...],
                output: torch.Tensor) -> torch.Tensor | None:
        if _ACTIVE_RUN.get() is not token:
            return None
        assert isinstance(module, nn.InstanceNorm2d)
        mean, var = stats[module]
        scale = torch.rsqrt(var + module.eps)  # (N, C)
        if module.affine:
            scale = scale * module.weight.float()
            shift = module.bias.float() - mean * scale
        else:
            shift = -mean * scale
        # (N, C) -> (N, C, 1, 1) to broadcast over the tile's pixels
        out = args[0].float() * scale[:, :, None, None] + shift[:, :, None, None]
        return out.to(output.dtype)

    handles = [m.register_forward_hook(replace) for m in _instance_norms(net)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        _ACTIVE_RUN.reset(reset)


def run_tiled(net: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
              stats_input: torch.Tensor, size: tuple[int, int], tile: int,
              read: Callable[[tuple[int, int, int, int]], torch.Tensor],
              write: Callable[[tuple[int, int, int, int], torch.Tensor], None],
              release_memory: Callable[[], None] = lambda: None) -> None:
    """Stylize an image of `size` (height, width) px tile by tile with whole-image statistics.

    net: the transform net whose InstanceNorm2d layers get hooked; forward(x) runs it
        ((N, 3, h, w) float in [0, 1] -> (N, 3, h, w) float32 on the CPU).
    stats_input: (N, 3, h, w) the whole image, already scaled to the statistics size.
    tile: core size in px, rounded up to a multiple of 4.
    read(box): the image's (N, 3, h, w) pixels inside box = (top, bottom, left, right).
    write(box, stylized): receives each tile's kept core, (N, 3, h, w) float32 in [0, 1].
    release_memory(): called after the statistics pass and after each tile, so memory
        freed there can go back to the OS: the peak is then the larger of the statistics
        pass and one tile, whatever the image size.
    """
    tile, margin = _tile_and_margin(net, tile)
    with recording_norm_stats(net) as stats:
        forward(stats_input)
    release_memory()
    with normalizing_with(net, stats):
        for part in tile_grid(*size, tile, margin):
            top, bottom, left, right = part.core
            out_top, _, out_left, _ = part.outer
            stylized = forward(read(part.outer))
            write(part.core, stylized[..., top - out_top:bottom - out_top,
                                      left - out_left:right - out_left])
            del stylized
            release_memory()
