"""Parameters of the Gatys et al. pixel optimisation (`SlowParams`, no paths), the settings of
`fastnst-slow` (`SlowConfig`: those parameters with the command's files and device), and of
`fastnst-invert`, feature inversion with the same optimiser."""

from __future__ import annotations

from dataclasses import dataclass, fields

from fastnst.core.config import check_choices, declared, option
from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.options import device_option, max_pixels_option
from fastnst.losses.config import LossConfig
from fastnst.lossnets import layer_names

# The smallest working size (px, long side) of a content image: conv5_1, at 1/16 of the
# image, still has a pixel.
MIN_IMAGE_SIZE = 16


@dataclass(frozen=True)
class SlowParams(LossConfig):
    """The Gatys et al. (2016) algorithm's parameters: the perceptual loss (LossConfig) and the
    pixel optimiser; no file paths, so a library caller or a server builds one from numbers.

    image_size and style_size (LossConfig) are the working sizes, long side in px (None keeps
    an image's size), that a caller brings the content and style to before calling
    `fastnst.slow.gatys.transfer_slow`, which takes images already at those sizes (a server
    may choose other ones). Raises ParameterError, worded with these field names, for a value
    out of range.
    """

    image_size: int | None = option(512, "resize the content's long side to PX (0 keeps it)",
                                    metavar="PX", zero_is_none=True)
    optimizer: str = option("lbfgs", "lbfgs (Gatys et al.) or adam", choices=("lbfgs", "adam"))
    init: str = option("content", "start from the content photo or from noise",
                       choices=("content", "noise"))
    iterations: int = option(300, "loss evaluations (L-BFGS) or steps (Adam)", metavar="N")
    lr: float = option(1.0, "step size (1 suits L-BFGS; about 0.02 for Adam)")
    seed: int = option(0, "random seed (noise init)", metavar="N")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self)
        if self.iterations < 1:
            raise ParameterError("iterations", "must be >= 1")
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise ParameterError("image_size", f"must be at least {MIN_IMAGE_SIZE} px")


@dataclass(frozen=True)
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
    image_size: int | None = declared(SlowParams, "image_size")
    optimizer: str = declared(SlowParams, "optimizer")
    init: str = declared(SlowParams, "init")
    iterations: int = declared(SlowParams, "iterations")
    lr: float = declared(SlowParams, "lr")
    device: str = device_option()
    seed: int = declared(SlowParams, "seed")

    def __post_init__(self) -> None:
        resolved = self.params  # raises ParameterError for a bad value: the CLI names its flag
        for field in fields(SlowParams):
            object.__setattr__(self, field.name, getattr(resolved, field.name))
        for name in ("content", "style", "output"):
            if not getattr(self, name):
                raise FastNSTError(f"--{name} is required")

    @property
    def params(self) -> SlowParams:
        """The algorithm's parameters of this command (everything but the paths and device)."""
        return SlowParams(**{field.name: getattr(self, field.name)
                             for field in fields(SlowParams)})


# The layers `fastnst-invert` rebuilds the photo from by default: one per block, shallow to
# deep. VGG: the first conv of each block, as Gatys et al. 2015 (texture synthesis, fig. 2)
# and Mahendran & Vedaldi 2015 show them. SqueezeNet 1.1: conv1, then the first fire module
# after each pooling (fire2, fire4, fire6) and fire8, the last one before the classifier's.
INVERT_LAYERS: dict[str, tuple[str, ...]] = {
    "vgg19": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
    "vgg16": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
    "squeezenet": ("conv1", "fire2", "fire4", "fire6", "fire8"),
}
INVERT_MODES = ("content", "style")


@dataclass(frozen=True)
class InvertConfig:
    """Everything `fastnst-invert` needs; the loss network and optimiser options are those of
    `fastnst-slow` (declared once, in LossConfig, SlowParams and SlowConfig)."""

    image: str = option("", "photo to rebuild (required)", metavar="PHOTO")
    output: str = option("", "the labelled grid, .png or .jpg (required); each layer's image "
                         "goes beside it as OUT_STEM.MODE.LAYER.png", flags=("-o", "--output"),
                         metavar="OUT")
    layers: tuple[str, ...] | None = option(
        None, "layers to rebuild from, run in network order (default: one per block; VGG "
        "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1, SqueezeNet conv1,fire2,fire4,fire6,fire8)",
        metavar="L1,L2,...")
    mode: str = option("content", "content: match one layer's features (Mahendran & Vedaldi "
                       "2015); style: for each layer, match the Gram matrices of the given "
                       "layers up to it (texture synthesis, Gatys et al. 2015)",
                       choices=INVERT_MODES)
    image_size: int | None = option(256, "resize the photo's long side to PX (0 keeps it)",
                                    metavar="PX", zero_is_none=True)
    # Our measurement (chicago.jpg, caffe VGG19, 128 px, 150 evaluations): without the prior,
    # conv1_1 keeps the start's noise in the frequencies its filters hardly see (22 dB at
    # 64 px vs 36 dB with it); 1 smooths conv5_1's colour noise for 1 dB less at conv3_1 than
    # 0.1, while 10 blurs conv3_1 (19 dB against 26).
    tv_weight: float = option(1.0, "total-variation prior weight (the feature or Gram error is "
                              "relative: about 1 at the start)", metavar="W")
    optimizer: str = declared(SlowParams, "optimizer")
    iterations: int = declared(SlowParams, "iterations")
    lr: float = declared(SlowParams, "lr")
    device: str = declared(SlowConfig, "device")
    seed: int = declared(SlowParams, "seed")
    loss_net: str = declared(LossConfig, "loss_net")
    vgg_weights: str = declared(LossConfig, "vgg_weights")
    pooling: str = declared(LossConfig, "pooling")
    max_pixels: int = max_pixels_option()

    def __post_init__(self) -> None:
        check_choices(self)
        for name, flag in (("image", "--image"), ("output", "-o/--output")):
            if not getattr(self, name):
                raise FastNSTError(f"{flag} is required")
        if self.iterations < 1:
            raise FastNSTError("--iterations must be >= 1")
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise FastNSTError(f"--image-size must be at least {MIN_IMAGE_SIZE} px")
        if self.tv_weight < 0:
            raise FastNSTError("--tv-weight must be >= 0")
        if self.max_pixels < 1:
            raise FastNSTError("--max-pixels must be >= 1")
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
