"""Settings of `fastnst-train` and `fastnst-prepare-data` (importing this needs no Lightning).

configs/default.yaml is the full training recipe with the source of every value; a test
keeps it equal to these defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Gt, Le

from fastnst.core.errors import FastNSTError
from fastnst.core.fields import DEFAULT_MAX_PIXELS, Count, MaxPixels, Positive, Side, Weight
from fastnst.core.settings import Commas, OrNone, ZeroIsNone, option, settings
from fastnst.losses.loss_config import LossConfig

Precision = Literal["auto", "32", "16-mixed", "bf16-mixed"]
_OPT, _HW, _LOG, _EVAL = "optimization", "hardware", "logging", "quality report"


@settings
class TrainConfig(LossConfig):
    """Everything `fastnst-train` needs."""

    style: Commas[str] = option(
        (), "style image, or several for a multi-style model (one network, one instance-norm "
        "scale and shift per style, Dumoulin et al. 2017; needs --name) (required)",
        metavar="IMAGE", nargs="+")
    data: str = option("", "folder of training photos (searched recursively), or a photo "
                       "cache made by fastnst-prepare-data (faster) (required)", metavar="DIR")
    val_data: OrNone[str] = option(None, "images stylized into TensorBoard (default: the "
                                  "bundled photos)", metavar="PATH")
    name: OrNone[str] = option(None, "run name (default: the style file's stem)")
    runs_dir: str = option("runs", "where run folders go", metavar="DIR")
    output: OrNone[str] = option(None, "slim model file (default models/<name>.ckpt)",
                                metavar="CKPT")
    half: bool = option(False, "store the slim model's weights as float16 (half the file "
                        "size; loaded back as float32)")
    resume: bool = option(False, "continue the run from runs/<name>/checkpoints/last.ckpt")
    init: OrNone[str] = option(
        None, "start from this model's weights: a model name (a shipped style), NAME:STYLE, or "
        "a checkpoint file; it must have the same --width. From a multi-style model, new "
        "styles start from the mean of its styles' norms", metavar="MODEL")
    trainable: Literal["all", "norms"] = option(
        "all", "all: train every weight; norms: only the instance-norm scales and shifts (a "
        "style lives mostly in them, Dumoulin et al. 2017). With --init of a multi-style model "
        "and norms, the result is that model with the new styles added")
    strength_conditioned: bool = option(
        False, "train a net that takes the style strength as an input (conditional instance "
        "norm; the style weight is scaled by a strength drawn per batch), so fastnst-stylize "
        "--strength changes the stylization itself", group=_OPT)
    photoreal: bool = option(
        False, "train a photorealistic model (the source's fast variant of Luan et al.): adds "
        "the affine term of each training photo's matting Laplacian (matrix-free, on the "
        "device) and trains on the blend of --photoreal-blend output and the rest photo "
        "(removed at inference: the saved net is used as is). Recipe: --config photoreal",
        group=_OPT)
    # The ratio of fastnst-photo's weights (affine 1.6e10 to style 1e7: 1600 per unit of style
    # weight), both terms being the same per-pixel energy and relative Grams. Measured on
    # chicago at 256 px: starry_night's output costs 0.044 a pixel (70 here, against ~0.5-4
    # for the style term), a 2% noise 0.006, a global colour change 2e-7.
    affine_weight: Weight = option(1600.0, "with --photoreal: weight of the affine "
                                  "(photorealism) term", metavar="W", group=_OPT)
    photoreal_blend: Annotated[float, Gt(0), Le(1)] = option(
        0.85, "with --photoreal: the loss sees A * output + (1 - A) * photo (the source's alpha)",
        metavar="A", group=_OPT)
    temporal_weight: Weight = option(
        0.0, "train for steady video: also penalize how much the output changes when the photo "
        "moves a little (random shifts, zooms, rotations and noise of the training photos; "
        "Wang et al. 2020). Costs one more transform-net pass a step; 0: off. README: "
        "Steady video", metavar="W", group=_OPT)
    image_size: Side = option(256, "training crop", metavar="PX", group=_OPT)
    batch_size: Positive = option(8, "photos per step, per device", metavar="N", group=_OPT)
    lr: Annotated[float, Gt(0)] = option(1.0e-3, "Adam learning rate", group=_OPT)
    lr_final_ratio: float = option(0.1, "cosine decay ends at lr * R", metavar="R",
                                   group=_OPT)
    warmup_steps: Count = option(200, "linear learning-rate warm-up steps", metavar="N",
                               group=_OPT)
    max_steps: Positive = option(20_000, "optimizer steps", metavar="N", group=_OPT)
    max_epochs: OrNone[int] = option(None, "stop after N epochs as well", metavar="N",
                                    group=_OPT)
    max_minutes: OrNone[Annotated[float, Gt(0)]] = option(
        None, "stop after this many minutes of training as well; the model is saved and scored "
        "as at the end", metavar="MIN", group=_OPT)
    small_crop: int = option(0, "a curriculum: the first --small-crop-steps steps train on "
                             "random PX crops cut from the --image-size crops (about "
                             "(image-size / PX)^2 times cheaper steps; 0: off)", metavar="PX",
                             group=_OPT)
    small_crop_steps: Count = option(0, "steps at --small-crop before the full --image-size "
                                     "(fewer when --max-minutes would cut the full-size steps "
                                     "short)", metavar="N", group=_OPT)
    width: Annotated[float, Gt(0)] = option(
        1.0, "transform-net channel multiplier (1: 32/64/128 as Johnson; 0.5 for fast CPU "
        "inference)", metavar="W", group=_OPT)
    seed: int = option(0, "random seed (weights, data order, crops)", metavar="N", group=_OPT)
    precision: Precision = option("auto", "auto: bf16-mixed on GPUs that support it, else 32",
                                  group=_HW)
    channels_last: bool = option(True, "NHWC layout for the nets and batches on CUDA "
                                 "(ignored on the CPU)", negatable=True, group=_HW)
    compile: bool = option(False, "torch.compile the transform net and the loss network "
                           "(minutes of warm-up)", negatable=True, group=_HW)
    accelerator: str = option("auto", "auto, cpu or gpu", group=_HW)
    devices: str = option("auto", "number or comma list of devices", group=_HW)
    strategy: str = option("auto", "Lightning strategy, e.g. ddp", group=_HW)
    num_nodes: Positive = option(1, "nodes for multi-node DDP", metavar="N", group=_HW)
    num_workers: Count = option(4, "data-loading processes", metavar="N", group=_HW)
    log_every: Positive = option(50, "log scalars every N steps", metavar="N", group=_LOG)
    image_every: Positive = option(500, "stylize the validation images every N steps",
                              metavar="N", group=_LOG)
    checkpoint_every: Positive = option(1000, "write runs/<name>/checkpoints/last.ckpt every N "
                                   "steps", metavar="N", group=_LOG)
    val_images: Positive = option(4, "how many validation images", metavar="K", group=_LOG)
    eval_every: ZeroIsNone[Positive] = option(
        None, "also score the model every N steps (it is always scored at the end; 0: only "
        "then)", metavar="N", group=_EVAL)
    eval_data: OrNone[str] = option(None, "held-out photos the quality report scores (default: "
                                   "the bundled photos)", metavar="PATH", group=_EVAL)
    eval_size: Side = option(256, "long side of the scored photos", metavar="PX", group=_EVAL)
    eval_baseline_iters: Count = option(0, "also run the slow baseline (N L-BFGS evaluations) on "
                                      "the held-out photos once, as the reference (0: off)",
                                      metavar="N", group=_EVAL)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.style:
            raise FastNSTError("--style is required (a style image file)")
        names = self.style_names
        if len(set(names)) != len(names):
            raise FastNSTError(f"--style: two style images with one name ({', '.join(names)}); "
                               "styles are named after their files")
        if len(names) > 1 and not self.name:
            raise FastNSTError("several --style images make one multi-style model: give it a "
                               "--name")
        if len(names) > 1 and self.strength_conditioned:
            raise FastNSTError("--strength-conditioned takes one --style (a multi-style model "
                               "blends its output for --strength)")
        if self.small_crop and not 16 <= self.small_crop <= self.image_size:
            raise FastNSTError("--small-crop must be between 16 px and --image-size (0: off)")
        if not self.data:
            raise FastNSTError("--data is required (a folder of training photos)")

    @property
    def style_names(self) -> list[str]:
        """The styles' names: their files' stems."""
        return [Path(path).stem for path in self.style]

    @property
    def run_name(self) -> str:
        return self.name or self.style_names[0]


@settings
class PrepareDataConfig:
    """Everything `fastnst-prepare-data` needs."""

    sources: Commas[str] = option((), "photo folders (searched recursively) and/or files",
                                      flags=("sources",), metavar="DIR", nargs="+")
    output: str = option("", "cache folder to create (must not exist) (required)",
                         flags=("-o", "--output"), metavar="CACHE")
    image_size: Side = option(256, "the training crop it is for; photos are stored at an "
                             "eighth more, centre square", metavar="PX")
    workers: Count = option(os.cpu_count() or 1, "decoding processes (default: one per CPU; "
                          "0: none)", metavar="N", show_default=False)
    max_pixels: MaxPixels = option(DEFAULT_MAX_PIXELS, "skip images with more pixels", metavar="N")

    def __post_init__(self) -> None:
        if not self.sources:
            raise FastNSTError("give at least one photo folder")
        if not self.output:
            raise FastNSTError("-o/--output is required (the cache folder to create)")
