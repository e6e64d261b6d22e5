"""Settings of `fastnst-stylize` and `fastnst-export`."""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.fields import MODEL_HELP, MaxPixels, Side, device_option, max_pixels_option
from fastnst.core.images import IMAGE_SUFFIXES  # folders' suffixes, as the empty-folder error
from fastnst.core.settings import Commas, OrNone, ZeroIsNone, option, settings
from fastnst.inference.params import (
    DEFAULT_STATS_MAX_PIXELS,
    SmoothMethod,
    check_batch_size,
    check_strength,
    check_tiling,
)

_SPEED = "speed and memory"
_CONTROLS = "controls"


@settings
class StylizeConfig:
    """Everything `fastnst-stylize` needs."""

    inputs: Commas[str] = option(
        (), f"image files, folders (searched recursively for {' '.join(IMAGE_SUFFIXES)}) "
        "and/or video files (.mp4 .mov .mkv .avi .webm .m4v)",
        flags=("inputs",), metavar="IN", nargs="+")
    model: str = option("", f"{MODEL_HELP} (required)", metavar="CKPT|NAME")
    output: OrNone[str] = option(
        None, "output file (one input) or folder; default: IN.stylized.EXT beside each input "
        "(videos: .mp4, .m4v, .mov or .mkv)", flags=("-o", "--output"), metavar="OUT")
    device: str = device_option()
    precision: Literal["32", "16", "bf16"] = option(
        "32", "bf16 (CPU or GPU) and 16 (GPU) autocast the net")
    max_size: ZeroIsNone[Side] = option(
        None, "downscale so the long side is at most PX first (0: keep each input's size)",
        metavar="PX")
    max_pixels: MaxPixels = max_pixels_option()
    quality: Annotated[int, Ge(1), Le(100)] = option(95, "JPEG quality", metavar="Q")
    strength: float = option(1.0, "style strength: 0 gives the photo, 1 the model as trained; "
                             "models trained with --strength-conditioned take it as an input, "
                             "others blend output and photo", metavar="S", group=_CONTROLS)
    preserve_colors: bool = option(False, "keep the photo's colours: take only the luminance "
                                   "(Y of YCbCr, BT.601) of the stylized image",
                                   group=_CONTROLS)
    temporal: bool = option(False, "videos: blend each stylized frame with the previous one, "
                            "warped along the optical flow (OpenCV), where they match; reduces "
                            "flicker", negatable=True, group=_CONTROLS)
    smooth: bool = option(False, "photorealistic smoothing of each stylized image along the "
                          "photo's edges (FastPhotoStyle, Li et al. 2018), so even an artistic "
                          "model's output keeps the photo's structure; images, not videos",
                          group=_CONTROLS)
    smooth_method: SmoothMethod = option(
        "auto", "with --smooth: matting (the closed form, a sparse solve: ~6 s of CPU time at "
        "700x525), guided (guided-filter approximation: ~2 s at 2048x1536) or auto (matting up "
        "to 0.5 MP)", group=_CONTROLS)
    backend: Literal["auto", "torch", "onnx"] = option(
        "auto", "torch, or onnx (onnxruntime on the CPU, fp32; a .onnx file or a checkpoint "
        "exported in memory); auto: onnx for a .onnx model, else torch", group=_SPEED)
    tile: ZeroIsNone[int] = option(None, "stylize images larger than PX x PX in tiles, with "
                              "instance-norm statistics of the whole image (see "
                              "--stats-max-pixels; no seams, memory bounded by the tile size; "
                              "torch backend; 0: no tiling)", metavar="PX", group=_SPEED)
    stats_max_pixels: ZeroIsNone[int] = option(
        DEFAULT_STATS_MAX_PIXELS, "with --tile: the whole-image statistics pass runs on the "
        "image scaled to at most N pixels (default: one tile's pixels with its margins, "
        "(PX + 120)^2, so it needs no more memory than a tile; larger N: statistics closer to "
        "the untiled result's, at more memory)", metavar="N", group=_SPEED)
    batch_size: int = option(4, "video frames per forward pass", metavar="N", group=_SPEED)
    compile: bool = option(False, "torch.compile the net: faster on GPUs after a warm-up per "
                           "frame size (torch backend)", negatable=True, group=_SPEED)

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file or model name)")
        if not self.inputs:
            raise FastNSTError("give at least one input image or folder")
        # The library's checks, run before any model loads or output folder is made; their
        # ParameterErrors name the flags on the command line.
        try:
            check_tiling(self.tile, self.stats_max_pixels)
        except ParameterError as err:  # this command's way out: --tile 0 turns tiling off
            hint = " (or 0 for no tiling)" if err.parameter == "tile" else ""
            raise ParameterError(err.parameter, err.problem + hint) from None
        check_strength(self.strength)
        check_batch_size(self.batch_size)




@settings
class ExportConfig:
    """Everything `fastnst-export` needs."""

    model: str = option("", "slim or Lightning checkpoint, or a model name (required)",
                        metavar="CKPT|NAME")
    format: Literal["onnx", "torchscript"] = option(
        "onnx", "onnx (run it with fastnst-stylize --model X.onnx) or torchscript "
        "(torch.jit.load)")
    output: OrNone[str] = option(None, "output file or existing folder; default: beside the "
                                "checkpoint as NAME.onnx or NAME.pt", flags=("-o", "--output"),
                                metavar="OUT")

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file or model name)")
