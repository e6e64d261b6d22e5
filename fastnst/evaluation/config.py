"""Settings of `fastnst-eval` and `fastnst-sheet`."""

from __future__ import annotations

from pathlib import Path

from fastnst.core.config import Commas, OrNone, ZeroIsNone, option, settings
from fastnst.core.errors import FastNSTError
from fastnst.core.options import Count, MaxPixels, Side, device_option, max_pixels_option

_MODEL = "checkpoint or model name"


@settings
class EvalConfig:
    """Everything `fastnst-eval` needs. The metric itself is fixed (fastnst.evaluation)."""

    model: str = option("", f"{_MODEL} (required)", metavar="CKPT|NAME")
    content: str = option("", "folder (or file) of content photos (required unless --video)",
                          metavar="DIR")
    video: OrNone[str] = option(None, "score a video instead (at least 2 frames): flicker of "
                               "the stylized frames (frame change, and the warping error along "
                               "the input's optical flow with occlusions masked) relative to "
                               "the input's, with and without --temporal, and per-frame style "
                               "error", metavar="VIDEO")
    photoreal: OrNone[str] = option(
        None, "score photorealistic results instead (no model): DIR holds input/ (contents), "
        "style/, seg/ (colour-coded masks) and one folder of results per method, files paired "
        "by the number ending their names (in1.jpg, tar1.jpg, best1.jpg); prints style error "
        "(global and inside matched mask regions) and structure kept, per pair and method",
        metavar="DIR")
    outputs: Commas[str] = option((), "with --photoreal: the results folders to score, in "
                                      "this order (default: every other folder of DIR)",
                                      metavar="DIR", nargs="+")
    reference: str = option("luan", "with --photoreal: the method the others are compared "
                            "with, pair by pair", metavar="NAME")
    style: OrNone[str] = option(None, "style image (default: the one the model was trained on, "
                               "if that file is here or bundled)", metavar="IMAGE")
    baseline_iters: Count = option(0, "also run the slow baseline (L-BFGS, N loss evaluations, "
                                 "from the content, with the model's own loss settings; 0: "
                                 "off)", metavar="N")
    output: OrNone[str] = option(None, "write the metrics here (.json)", flags=("-o", "--output"),
                                metavar="JSON")
    device: str = device_option()
    max_size: ZeroIsNone[Side] = option(512, "downscale photos to this long side first (0 "
                                        "keeps their size)", metavar="PX")
    batch_size: int = option(8, "same-sized images per pass; the baseline optimizes each "
                             "batch jointly, needing roughly 0.5 GB per 481x321 photo",
                             metavar="B")
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        if not self.model and self.photoreal is None:
            raise FastNSTError("--model is required (a checkpoint file or model name)")
        if not self.content and self.video is None and self.photoreal is None:
            raise FastNSTError("--content is required (a folder of photos), or --video")
        if self.photoreal is not None and self.video is not None:
            raise FastNSTError("--photoreal and --video are two modes: give one")
        from fastnst.inference.stylizer import check_batch_size  # here: parsing imports no torch

        check_batch_size(self.batch_size)
        if self.output is not None and Path(self.output).suffix.lower() != ".json":
            raise FastNSTError(f"-o {self.output}: the metrics file must end in .json")


@settings
class SheetConfig:
    """Everything `fastnst-sheet` (contact sheet: photos x styles) needs."""

    models: Commas[str] = option((), f"{_MODEL}s, one column each (required)",
                                     metavar="CKPT|NAME", nargs="+")
    content: Commas[str] = option((), "photos, one row each (required)", metavar="IMAGE",
                                      nargs="+")
    output: str = option("", ".png or .jpg (required)", flags=("-o", "--output"), metavar="OUT")
    size: Side = option(256, "cell side; photos are centre-cropped to it and stylized at it",
                       metavar="PX")
    device: str = device_option()
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        if not self.models:
            raise FastNSTError("--models needs at least one checkpoint or model name")
        if not self.content:
            raise FastNSTError("--content needs at least one photo")
        if not self.output:
            raise FastNSTError("-o/--output is required (a .png or .jpg file)")


@settings
class InfoConfig:
    """Everything `fastnst-info` needs."""

    model: str = option("", f"{_MODEL} (slim model file or Lightning checkpoint)",
                        flags=("model",), metavar="MODEL")
    json: bool = option(False, "print everything the file records as JSON instead")

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("give a checkpoint file or model name")
