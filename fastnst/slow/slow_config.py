"""Parameters of the Gatys et al. pixel optimisation (`SlowParams`, no paths), the settings of
`fastnst-slow` (`SlowConfig`: those parameters with the command's files and device), and of
`fastnst-invert`, feature inversion with the same optimiser."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from annotated_types import Ge

from fastnst.core.errors import FastNSTError
from fastnst.core.fields import MaxPixels, Side, Weight, device_option, max_pixels_option
from fastnst.core.settings import (
    Commas,
    OrNone,
    ZeroIsNone,
    adopt_params,
    declared,
    option,
    params_of,
    require,
    settings,
)
from fastnst.losses.loss_config import LossConfig, Pooling
from fastnst.lossnets import LossNetName, layer_names

Optimizer = Literal["lbfgs", "adam"]
Iterations = Annotated[int, Ge(1)]
# A content image's working size, long side in px; 0 or None keeps the size. At least 16 px
# (Side): conv5_1, at 1/16 of the image, still has a pixel.
ImageSize = ZeroIsNone[Side]


@settings
class SlowParams(LossConfig):
    """The Gatys et al. (2016) algorithm's parameters: the perceptual loss (LossConfig) and the
    pixel optimiser; no file paths, so a library caller or a server builds one from numbers.

    image_size and style_size (LossConfig) are the working sizes, long side in px (None keeps
    an image's size), that a caller brings the content and style to before calling
    `fastnst.slow.gatys.transfer_slow`, which takes images already at those sizes (a server
    may choose other ones). Raises ParameterError, worded with these field names, for a value
    out of range (pydantic checks the types' bounds and choices: InvalidValue).
    """

    image_size: ImageSize = option(512, "resize the content's long side to PX (0 keeps it)",
                                   metavar="PX")
    optimizer: Optimizer = option("lbfgs", "lbfgs (Gatys et al.) or adam")
    init: Literal["content", "noise"] = option("content", "start from the content photo or "
                                               "from noise")
    iterations: Iterations = option(300, "loss evaluations (L-BFGS) or steps (Adam)",
                                    metavar="N")
    lr: float = option(1.0, "step size (1 suits L-BFGS; about 0.02 for Adam)")
    seed: int = option(0, "random seed (noise init)", metavar="N")


@settings
class SlowConfig(LossConfig):
    """Everything `fastnst-slow` needs: SlowParams (declared there; `params` gives them) with
    the content, style and output files and the device.

    The parameters are declared again here rather than inherited so that the command's flags
    keep their order (a subclass's own fields would follow all of SlowParams'). SlowParams
    checks them, so LossConfig's checks are not run twice; its resolved values (the loss
    network's default layers and weights) are copied back, so the config shows them too.
    """

    content: str = option("", "content photo (required)", metavar="IMAGE")
    style: str = option("", "style image (required)", metavar="IMAGE")
    output: str = option("", ".jpg or .png (required)", flags=("-o", "--output"), metavar="OUT")
    image_size: ImageSize = declared(SlowParams, "image_size")
    optimizer: Optimizer = declared(SlowParams, "optimizer")
    init: Literal["content", "noise"] = declared(SlowParams, "init")
    iterations: Iterations = declared(SlowParams, "iterations")
    lr: float = declared(SlowParams, "lr")
    device: str = device_option()
    seed: int = declared(SlowParams, "seed")

    def __post_init__(self) -> None:
        adopt_params(self, self.params)  # ParameterError for a bad value: the CLI names its flag
        require(self, ("content", "style", "output"))

    @property
    def params(self) -> SlowParams:
        """The algorithm's parameters of this command (everything but the paths and device)."""
        return params_of(self, SlowParams)


# The layers `fastnst-invert` rebuilds the photo from by default: one per block, shallow to
# deep. VGG: the first conv of each block, as Gatys et al. 2015 (texture synthesis, fig. 2)
# and Mahendran & Vedaldi 2015 show them. SqueezeNet 1.1: conv1, then the first fire module
# after each pooling (fire2, fire4, fire6) and fire8, the last one before the classifier's.
INVERT_LAYERS: dict[str, tuple[str, ...]] = {
    "vgg19": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
    "vgg16": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
    "squeezenet": ("conv1", "fire2", "fire4", "fire6", "fire8"),
}
InvertMode = Literal["content", "style"]
INVERT_MODES: tuple[str, ...] = get_args(InvertMode)


@settings
class InvertConfig:
    """Everything `fastnst-invert` needs; the loss network and optimiser options are those of
    `fastnst-slow` (declared once, in LossConfig, SlowParams and SlowConfig)."""

    image: str = option("", "photo to rebuild (required)", metavar="PHOTO")
    output: str = option("", "the labelled grid, .png or .jpg (required); each layer's image "
                         "goes beside it as OUT_STEM.MODE.LAYER.png", flags=("-o", "--output"),
                         metavar="OUT")
    layers: OrNone[Commas[str]] = option(
        None, "layers to rebuild from, run in network order (default: one per block; VGG "
        "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1, SqueezeNet conv1,fire2,fire4,fire6,fire8)",
        metavar="L1,L2,...")
    mode: InvertMode = option("content", "content: match one layer's features (Mahendran & Vedaldi "
                       "2015); style: for each layer, match the Gram matrices of the given "
                       "layers up to it (texture synthesis, Gatys et al. 2015)")
    image_size: ImageSize = option(256, "resize the photo's long side to PX (0 keeps it)",
                                   metavar="PX")
    # Our measurement (chicago.jpg, caffe VGG19, 128 px, 150 evaluations): without the prior,
    # conv1_1 keeps the start's noise in the frequencies its filters hardly see (22 dB at
    # 64 px vs 36 dB with it); 1 smooths conv5_1's colour noise for 1 dB less at conv3_1 than
    # 0.1, while 10 blurs conv3_1 (19 dB against 26).
    tv_weight: Weight = option(1.0, "total-variation prior weight (the feature or Gram error "
                               "is relative: about 1 at the start)", metavar="W")
    optimizer: Optimizer = declared(SlowParams, "optimizer")
    iterations: Iterations = declared(SlowParams, "iterations")
    lr: float = declared(SlowParams, "lr")
    device: str = declared(SlowConfig, "device")
    seed: int = declared(SlowParams, "seed")
    loss_net: LossNetName = declared(LossConfig, "loss_net")
    vgg_weights: str = declared(LossConfig, "vgg_weights")
    pooling: Pooling = declared(LossConfig, "pooling")
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        for name, flag in (("image", "--image"), ("output", "-o/--output")):
            if not getattr(self, name):
                raise FastNSTError(f"{flag} is required")
        # LossConfig owns the 'auto' weights rule (and checks the network and pooling).
        loss = LossConfig(loss_net=self.loss_net, vgg_weights=self.vgg_weights,
                          pooling=self.pooling)
        object.__setattr__(self, "vgg_weights", loss.vgg_weights)
        names = layer_names(self.loss_net)
        wanted = INVERT_LAYERS[self.loss_net] if self.layers is None else self.layers
        unknown = [layer for layer in wanted if layer not in names]
        if unknown:
            raise FastNSTError(f"--layers: unknown {self.loss_net} layer(s) {', '.join(unknown)}"
                               f"; valid names: {', '.join(names)}")
        if not wanted:
            raise FastNSTError("--layers needs at least one layer")
        object.__setattr__(self, "layers", tuple(sorted(set(wanted), key=names.index)))
