"""Feature inversion: rebuild a photo from what a loss network keeps of it, starting from noise.

Content mode (Mahendran & Vedaldi 2015, "Understanding deep image representations by inverting
them", eq. 1 and 3): find pixels x in [0, 1] minimising

    ||phi_L(x) - phi_L(x0)||^2 / ||phi_L(x0)||^2 + tv_weight * TV(x)

for one layer L. Shallow layers keep the pixels; deeper ones keep what the network recognises
and let the rest drift. Style mode (Gatys et al. 2015, "Texture synthesis using convolutional
neural networks"): match only the Gram matrices of the layers up to L, each relative to the
photo's own Gram, which keeps colours and textures but not where they are.

Both run the pixel optimiser of `fastnst-slow` (fastnst.slow.gatys.stylize_slow, init
'noise') over a PerceptualLoss of named terms. Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from fastnst.core.devices import resolve_device, synchronize
from fastnst.core.images import load_tensor
from fastnst.losses.perceptual import ContentTerm, PerceptualLoss, StyleTerm, TotalVariationTerm
from fastnst.lossnets import build_loss_network
from fastnst.slow.gatys import seeded, stylize_slow
from fastnst.slow.slow_config import INVERT_MODES, InvertConfig

GAP = 4  # px of background between tiles and around the grid
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (0, 0, 0)


@dataclass(frozen=True)
class Inversion:
    """One layer's reconstruction.

    layer: the deepest layer matched (the grid's label); layers: every layer matched (one in
    content mode, those up to `layer` in style mode). image: (1, 3, H, W) in [0, 1] on the
    CPU. terms: the final weighted loss terms and "total". psnr: against the photo, in dB.
    seconds: wall time of the optimisation.
    """

    layer: str
    layers: tuple[str, ...]
    image: torch.Tensor
    terms: dict[str, float]
    psnr: float
    seconds: float


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: 10 log10(1 / MSE); inf if equal."""
    mse = (image.float() - reference.float()).pow(2).mean().item()
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def matched_layers(mode: str, layers: Sequence[str]) -> list[tuple[str, ...]]:
    """The layers each inversion matches, for `layers` in network order: content mode one
    inversion per layer; style mode, for each layer L, the Grams of `layers` up to L."""
    if mode not in INVERT_MODES:
        raise ValueError(f"mode must be one of {INVERT_MODES}, not {mode!r}")
    if mode == "content":
        return [(layer,) for layer in layers]
    return [tuple(layers[: i + 1]) for i in range(len(layers))]


def inversion_loss(network: nn.Module, photo: torch.Tensor, mode: str, layers: Sequence[str],
                   tv_weight: float) -> PerceptualLoss:
    """The loss whose minimum is a picture `network` cannot tell from `photo` at `layers`.

    photo: (1, 3, H, W) in [0, 1] on the network's device. content mode: one layer, its feature
    MSE divided by the photo's mean squared feature (so the term is about 1 for noise and 0 for
    the photo, at any layer); style mode: the sum over `layers` of each Gram's MSE relative to
    the photo's (StyleTerm's default layer weights). Plus tv_weight * TV(x).
    The content targets come from the `content` argument of the loss (the photo again).
    """
    with torch.no_grad():
        features = network(photo, layers)
    if mode == "content":
        if len(layers) != 1:
            raise ValueError(f"content mode inverts one layer at a time, got {list(layers)}")
        scale = features[layers[0]].float().pow(2).mean().clamp_min(1e-12).item()
        match: ContentTerm | StyleTerm = ContentTerm(layers, 1.0 / scale)
    elif mode == "style":
        match = StyleTerm(features, layers, 1.0)
    else:
        raise ValueError(f"mode must be one of {INVERT_MODES}, not {mode!r}")
    return PerceptualLoss(network, [match, TotalVariationTerm(tv_weight)])


def invert_layers(photo: torch.Tensor, network: nn.Module, mode: str, layers: Sequence[str],
                  tv_weight: float, optimizer: str = "lbfgs", iterations: int = 300,
                  lr: float = 1.0, seed: int = 0, progress: bool = True) -> Iterator[Inversion]:
    """Rebuild `photo` (1, 3, H, W) in [0, 1], on the network's device, from each of `layers`
    (in network order; see matched_layers), yielding each result as it is done.

    Every inversion starts from the same uniform noise (drawn from `seed`, without touching
    the global random state), so a layer's result does not depend on the others requested.
    optimizer, iterations and lr are those of stylize_slow.
    """
    for matched in matched_layers(mode, layers):
        loss_fn = inversion_loss(network, photo, mode, matched, tv_weight)
        started = time.perf_counter()
        with seeded(seed, photo.device):
            image, terms = stylize_slow(photo, loss_fn, optimizer, "noise", iterations, lr,
                                        progress)
        synchronize(photo.device)
        seconds = time.perf_counter() - started
        yield Inversion(matched[-1], matched, image.cpu(), terms.floats(),
                        psnr(image, photo), seconds)


def load_photo(config: InvertConfig) -> torch.Tensor:
    """The photo config names as (1, 3, H, W) in [0, 1] on the CPU, long side config.image_size."""
    return load_tensor(config.image, config.max_pixels, config.image_size)


def run_invert(config: InvertConfig, photo: torch.Tensor,
               progress: bool = True) -> Iterator[Inversion]:
    """invert_layers with the loss network and settings of `config`; photo from load_photo.
    The network is built (and its weights checked) before the first layer starts."""
    assert config.layers is not None  # resolved by InvertConfig
    device = resolve_device(config.device)
    network = build_loss_network(config.loss_net, config.vgg_weights, config.pooling).to(device)
    return invert_layers(photo.to(device), network, config.mode, config.layers,
                         config.tv_weight, config.optimizer, config.iterations, config.lr,
                         config.seed, progress)


def layer_path(output: str | Path, mode: str, layer: str) -> Path:
    """Where one layer's image goes: OUT_STEM.MODE.LAYER.png beside the grid `output`."""
    output = Path(output)
    return output.with_name(f"{output.stem}.{mode}.{layer}.png")


def label(inversion: Inversion, mode: str) -> str:
    """A grid tile's caption: the layer and PSNR (content), or the Gram layers (style)."""
    if mode == "content":
        return f"{inversion.layer}  {inversion.psnr:.1f} dB"
    first = inversion.layers[0]
    return f"Grams {first}" if first == inversion.layer else f"Grams {first}..{inversion.layer}"


def labelled_grid(tiles: Sequence[tuple[Image.Image, str]]) -> Image.Image:
    """One row of same-sized images, each with its caption centred in a strip below it.

    tiles: (image, caption) pairs, all images w x h px. Returns an RGB image of
    n * w + (n + 1) * GAP by h + strip + 2 * GAP px, strip = 1.6 font sizes, the font
    max(10, w // 16) px, shrunk for a caption wider than its tile.
    """
    width, height = tiles[0][0].size
    font_size = max(10, width // 16)
    strip = round(1.6 * font_size)
    sheet = Image.new("RGB", (len(tiles) * (width + GAP) + GAP, height + strip + 2 * GAP),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (image, caption) in enumerate(tiles):
        if image.size != (width, height):
            raise ValueError(f"tile {i} is {image.size}, expected {(width, height)}")
        left = GAP + i * (width + GAP)
        sheet.paste(image.convert("RGB"), (left, GAP))
        size = font_size
        text_width = draw.textlength(caption, font=ImageFont.load_default(size))
        if text_width > width:
            size = max(6, int(size * width / text_width))
        draw.text((left + width / 2, GAP + height + strip / 2), caption, fill=TEXT_COLOR,
                  anchor="mm", font=ImageFont.load_default(size))
    return sheet
