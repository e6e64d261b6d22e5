"""Settings of `fastnst-eval` and `fastnst-sheet`."""

from __future__ import annotations

from pathlib import Path

from fastnst.core.errors import FastNSTError
from fastnst.core.fields import Count, MaxPixels, Side, device_option, max_pixels_option
from fastnst.core.settings import Commas, OrNone, ZeroIsNone, declared, option, settings
from fastnst.inference.params import check_batch_size

_MODEL = "checkpoint or model name"


def _check_json(output: str | None) -> None:
    if output is not None and Path(output).suffix.lower() != ".json":
        raise FastNSTError(f"-o {output}: the metrics file must end in .json")


@settings
class EvalConfig:
    """Everything `fastnst-eval` needs to score a model on photos. The metric itself is fixed
    (fastnst.evaluation); `fastnst-eval video` and `fastnst-eval photoreal` are the other two
    modes (VideoEvalConfig, PhotorealEvalConfig)."""

    model: str = option("", f"{_MODEL} (required)", metavar="CKPT|NAME")
    content: str = option("", "folder (or file) of content photos (required)", metavar="DIR")
    style: OrNone[str] = option(None, "style image (default: the one the model was trained on, "
                                "if that file is here or bundled)", metavar="IMAGE")
    baseline_iters: Count = option(0, "also run the slow baseline (L-BFGS, N loss evaluations, "
                                   "from the content, with the model's own loss settings; 0: "
                                   "off)", metavar="N")
    output: OrNone[str] = option(None, "write the metrics here (.json)",
                                 flags=("-o", "--output"), metavar="JSON")
    device: str = device_option()
    max_size: ZeroIsNone[Side] = option(512, "downscale photos to this long side first (0 "
                                        "keeps their size)", metavar="PX")
    batch_size: int = option(8, "same-sized images per pass; the baseline optimizes each "
                             "batch jointly, needing roughly 0.5 GB per 481x321 photo",
                             metavar="B")
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file or model name)")
        if not self.content:
            raise FastNSTError("--content is required (a folder of photos)")

        check_batch_size(self.batch_size)
        _check_json(self.output)


@settings
class VideoEvalConfig:
    """Everything `fastnst-eval video` needs: a model's flicker on one clip."""

    video: str = option("", "the clip (at least 2 frames): flicker of the stylized frames (frame "
                        "change, and the warping error along the input's optical flow with "
                        "occlusions masked) relative to the input's, with and without "
                        "--temporal, and per-frame style error", flags=("video",),
                        metavar="VIDEO")
    model: str = declared(EvalConfig, "model")
    style: OrNone[str] = declared(EvalConfig, "style")
    output: OrNone[str] = declared(EvalConfig, "output")
    device: str = declared(EvalConfig, "device")
    max_size: ZeroIsNone[Side] = declared(EvalConfig, "max_size")
    batch_size: int = option(8, "frames per pass", metavar="B")
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        if not self.video:
            raise FastNSTError("give the video file to score")
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file or model name)")

        check_batch_size(self.batch_size)
        _check_json(self.output)


@settings
class PhotorealEvalConfig:
    """Everything `fastnst-eval photoreal` needs: photorealistic results scored (no model)."""

    pairs: str = option(
        "", "DIR holds input/ (contents), style/, seg/ (colour-coded masks) and one folder of "
        "results per method, files paired by the number ending their names (in1.jpg, tar1.jpg, "
        "best1.jpg); prints style error (global and inside matched mask regions) and structure "
        "kept, per pair and method", flags=("pairs",), metavar="DIR")
    outputs: Commas[str] = option((), "the results folders to score, in this order (default: "
                                  "every other folder of DIR)", metavar="DIR", nargs="+")
    reference: str = option("luan", "the method the others are compared with, pair by pair",
                            metavar="NAME")
    output: OrNone[str] = declared(EvalConfig, "output")
    device: str = declared(EvalConfig, "device")
    max_size: ZeroIsNone[Side] = declared(EvalConfig, "max_size")
    max_pixels: MaxPixels = max_pixels_option()

    def __post_init__(self) -> None:
        if not self.pairs:
            raise FastNSTError("give the pairs folder to score")
        _check_json(self.output)


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
