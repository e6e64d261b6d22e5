"""Parameters of Luan et al.'s (2017) photorealistic style transfer (`PhotoParams`, no paths)
and the settings of `fastnst-photo` (`PhotoConfig`: those parameters with the command's files,
device and output options).

Units: sizes in pixels; weights are dimensionless loss multipliers. Where Luan et al.'s
reference code (deep-photo-styletransfer, deepmatting_seg.lua) has a value, the comment gives
it and how it maps onto our loss normalisation (fastnst/losses: relative Gram errors, the
affine term and TV as per-pixel means, images in [0, 1]).
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.fields import Positive, Weight, device_option
from fastnst.core.settings import (
    Commas,
    OrNone,
    adopt_params,
    declared,
    option,
    params_of,
    require,
    settings,
)
from fastnst.inference.params import SmoothMethod
from fastnst.inference.stylize_config import StylizeConfig
from fastnst.losses import affine
from fastnst.losses.loss_config import GROUP, LossConfig
from fastnst.lossnets.precision import Precision
from fastnst.slow.slow_config import ImageSize, Optimizer

# Luan et al. sec. 3 (and their paper's Fig. 3 setup): content conv4_2, style conv1_1..conv5_1
# (their released code reads the ReLU outputs of the same layers; --content-layers relu4_2
# --style-layers relu1_1,... reproduces that).
LUAN_CONTENT_LAYERS = ("conv4_2",)
LUAN_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
# The nine colours of Luan et al.'s masks: at most nine regions.
MAX_REGIONS = 9
Regions = Annotated[int, Ge(1), Le(MAX_REGIONS)]
# Optimiser steps per level, coarsest first (the first level's at least 1: PhotoParams).
LevelSteps = Commas[Annotated[int, Ge(0)]]


@settings
class PhotoParams(LossConfig):
    """The algorithm's parameters (fastnst.photoreal.transfer): the loss, with Luan et al.'s
    layers and weights, the coarse-to-fine levels and the optimiser; no file paths, so a
    library caller or a server builds one from numbers.

    image_size and style_size are the working sizes, long side in px (None keeps an image's
    size), that a caller brings the content and style to before calling `transfer_photo`,
    which takes images already at those sizes (a server may choose other ones). Raises
    ParameterError, worded with these field names, for a value out of range (pydantic checks
    the types' bounds and choices: InvalidValue).
    """

    auto_masks: Regions = option(
        3, "without masks: find K matching regions in both photos (k-means on VGG features "
        "and position; 1 uses the whole images)", metavar="K", note="one colour a region")
    image_size: ImageSize = option(512, "resize the content's long side to PX (0 keeps it)",
                                   metavar="PX")
    # None: the schedule for the working size (fastnst.photoreal.transfer.level_steps), 50,30,10
    # at 512 px. Luan et al. run 1000 + 1000 L-BFGS steps at 700 px; from the colour-
    # transferred start (init) 50 at 128 px and 30 at 256 px set the colours and the layout,
    # and 10 at 512 px the look at the scale of objects, which the coarse levels cannot give
    # (relu3_1-relu5_1 Grams at 512 px): on Luan et al.'s six pairs, with their masks, masked
    # style error 0.215 with 0 steps at 512 px, 0.137 with 10, against their 0.207 (README).
    # --precision bf16 pays for those steps on CPUs that have it, and --first-step lets 50 and
    # 30 coarse steps do what 100 and 50 did (0.127).
    iterations: OrNone[LevelSteps] = option(
        None, "optimiser steps per level, coarsest first: each level is twice the size of the "
        "one before and the last is --image-size; 0 at a level takes the level below "
        "upsampled along the content's edges without optimising (default: 50,30,10 for about "
        "512 px; one level more per doubling above, 5 steps at about 1024 px and 0 beyond; "
        "fewer levels for images too small for them)", metavar="N1,N2,...")
    init: Literal["transfer", "content"] = option(
        "transfer", "start from the content with each region's colours mapped onto the "
        "style's (transfer: Pitie's linear colour transfer, as Luan et al.'s inputs) or from "
        "the content photo itself")
    optimizer: Optimizer = option("lbfgs", "lbfgs or adam")
    lr: float = option(1.0, "step size (1 suits L-BFGS; about 0.01 for Adam)")
    # Torch's own first L-BFGS step moves the pixels by lr in all (L1), so each level spent
    # its first ~5 evaluations growing it in the line search (the loss flat, then falling).
    first_step: Weight = option(
        0.05, "L-BFGS's first trial step at each level: the largest pixel change, in [0, 1] "
        "units (0: torch's own, of L1 length --lr over all pixels, which at image scale takes "
        "the line search ~5 evaluations to grow)", metavar="D")
    precision: Precision = option(
        "auto", "the loss network's arithmetic: bf16 (autocast; the image, losses and "
        "optimiser stay float32) takes half the time a step on CPUs with AVX512-BF16 or AMX "
        "and on GPUs, for the same results; auto: bf16 where the device has it natively, else 32")
    # Redeclared from LossConfig: Luan et al.'s layers and weights.
    content_layers: OrNone[Commas[str]] = option(
        None, "content layers (default: conv4_2 for VGG, Luan et al.; the network's otherwise)",
        metavar="L1,L2", group=GROUP)
    style_layers: OrNone[Commas[str]] = option(
        None, "style layers (default: conv1_1,conv2_1,conv3_1,conv4_1,conv5_1 for VGG, Luan "
        "et al.; the network's otherwise)", metavar="L1,L2,...", group=GROUP)
    # Luan et al.: -content_weight 5 on the MSE of caffe VGG features (0-255 input), which
    # ours are too: the same number (on conv4_2, whose MSE is ~3.4x that of their relu4_2 for
    # the same change: our results and theirs end at the same content distance all the same).
    content_weight: Weight = option(5.0, "content loss weight", metavar="W", group=GROUP)
    # Luan et al.: -style_weight 100 on absolute Gram errors of relu1_1..relu5_1. Ours are
    # relative (each layer divided by mean(G_style^2)), of conv1_1..conv5_1. Our measurement at
    # the start (output = content; the six pairs of their examples we have, 350 px, their
    # masks): their style gradient is 6.5e6 to 2.9e7 times ours at weight 1, median 1.3e7.
    style_weight: Weight = option(1.0e7, "style loss weight", metavar="W", group=GROUP)
    # Luan et al.: -tv_weight 1e-3 on sum((x[h+1] - x[h])^2) / 2 in 0-256 pixel units at
    # 700 px (~326k pixels); our TV is a mean in [0, 1] units: 1e-3 / 2 * 256^2 * 3 * 326k.
    tv_weight: Weight = option(3.2e7, "total-variation weight", metavar="W", group=GROUP)
    # Luan et al.: -lambda 1e4 on sum_c V_c^T M V_c / 2 (their gradient is lambda M V) at 700
    # px; our affine term is per pixel, so theirs is 1e4 / 2 * 326k = 1.6e9 here. We use 10x
    # that: with our 150 steps (their 2000) from a colour transfer, 1.6e9 left painted orange
    # blotches on the statues and sky of their pair 8 at 512 px, 1.6e10 gave a smooth photo
    # and kept the style (pairs 1 and 8 compared with their published results, by eye).
    affine_weight: Weight = option(1.6e10, "photorealism (matting Laplacian) weight, Luan et "
                                   "al.'s lambda per pixel", metavar="W", group=GROUP)
    affine_max_pixels: Positive = option(
        affine.MAX_PIXELS, "refuse contents larger than this for the matting Laplacian "
        f"(~{affine.BYTES_PER_PIXEL} bytes a pixel)", metavar="N", group=GROUP)
    seed: int = option(0, "random seed (k-means of --auto-masks)", metavar="N")

    def __post_init__(self) -> None:
        if self.loss_net in ("vgg19", "vgg16"):
            if self.content_layers is None:
                object.__setattr__(self, "content_layers", LUAN_CONTENT_LAYERS)
            if self.style_layers is None:
                object.__setattr__(self, "style_layers", LUAN_STYLE_LAYERS)
        super().__post_init__()
        # The bounds (auto_masks 1 to 9, counts >= 0, sizes, weights) are the fields' types.
        if self.iterations is not None and not self.iterations:
            raise ParameterError("iterations", "needs one count >= 0 per level")
        if self.iterations is not None and self.iterations[0] < 1:
            raise ParameterError("iterations",
                                 "needs at least 1 step at the first (coarsest) level")


@settings
class PhotoConfig(LossConfig):
    """Everything `fastnst-photo` needs: PhotoParams (declared there; `params` gives them)
    with the photo, mask and output files, the device, and what the command does with the
    result (--smooth, --save-masks).

    The parameters are declared again here rather than inherited so that the command's flags
    keep their order (a subclass's own fields would follow all of PhotoParams'). PhotoParams
    checks them, so LossConfig's checks are not run twice; its resolved values (Luan et al.'s
    layers, the weights) are copied back, so the config shows them too.
    """

    content: str = option("", "content photo (required)", metavar="IMAGE")
    style: str = option("", "style photo (required)", metavar="IMAGE")
    output: str = option("", ".jpg or .png (required)", flags=("-o", "--output"), metavar="OUT")
    content_mask: str = option(
        "", "colour-coded regions of the content (Luan et al.'s nine colours: blue, green, "
        "black, white, red, yellow, grey, light blue, purple); needs --style-mask",
        metavar="PNG")
    style_mask: str = option("", "colour-coded regions of the style photo, same colours",
                             metavar="PNG")
    auto_masks: Regions = declared(PhotoParams, "auto_masks")
    smooth: bool = option(False, "then smooth the result along the content photo's edges "
                          "(FastPhotoStyle's closed form, Li et al. 2018, as fastnst-stylize "
                          "--smooth): irons out what blotches the optimisation leaves")
    smooth_method: SmoothMethod = declared(StylizeConfig, "smooth_method")
    save_masks: bool = option(False, "also write the masks used as OUT-content-mask.png and "
                              "OUT-style-mask.png (fix them and pass them back)")
    image_size: ImageSize = declared(PhotoParams, "image_size")
    iterations: OrNone[LevelSteps] = declared(PhotoParams, "iterations")
    init: Literal["transfer", "content"] = declared(PhotoParams, "init")
    optimizer: Optimizer = declared(PhotoParams, "optimizer")
    lr: float = declared(PhotoParams, "lr")
    first_step: Weight = declared(PhotoParams, "first_step")
    precision: Precision = declared(PhotoParams, "precision")
    content_layers: OrNone[Commas[str]] = declared(PhotoParams, "content_layers")
    style_layers: OrNone[Commas[str]] = declared(PhotoParams, "style_layers")
    content_weight: Weight = declared(PhotoParams, "content_weight")
    style_weight: Weight = declared(PhotoParams, "style_weight")
    tv_weight: Weight = declared(PhotoParams, "tv_weight")
    affine_weight: Weight = declared(PhotoParams, "affine_weight")
    affine_max_pixels: Positive = declared(PhotoParams, "affine_max_pixels")
    device: str = device_option()
    seed: int = declared(PhotoParams, "seed")

    def __post_init__(self) -> None:
        adopt_params(self, self.params)  # ParameterError for a bad value: the CLI names its flag
        require(self, ("content", "style", "output"))
        if bool(self.content_mask) != bool(self.style_mask):
            raise FastNSTError("--content-mask and --style-mask go together: give both or "
                               "neither (then --auto-masks finds regions)")

    @property
    def params(self) -> PhotoParams:
        """The algorithm's parameters of this command (no paths, device or output options)."""
        return params_of(self, PhotoParams)
