"""Choosing the stylizer that command-line options ask for (torch or onnxruntime)."""

from __future__ import annotations

from pathlib import Path

from fastnst.core.errors import FastNSTError
from fastnst.inference.config import DEFAULT_STATS_MAX_PIXELS
from fastnst.inference.stylizer import BaseStylizer, Stylizer
from fastnst.models.checkpoint import resolve_model

BACKENDS = ("auto", "torch", "onnx")


def load_stylizer(model: str | Path, backend: str = "auto", device: str = "auto",
                  precision: str = "32", *, tile: int | None = None, compile: bool = False,
                  stats_max_pixels: int | None = DEFAULT_STATS_MAX_PIXELS, strength: float = 1.0,
                  preserve_colors: bool = False) -> BaseStylizer:
    """Build the stylizer that command-line options ask for.

    backend: 'torch', 'onnx', or 'auto' (onnx for a .onnx model, else torch). The onnx
    backend takes a .onnx file or a checkpoint (exported in memory) and runs on the CPU in
    fp32 without tiling or compiling; asking it for those is an error. strength and
    preserve_colors work on both (see fastnst.inference.stylizer).
    """
    if backend not in BACKENDS:
        raise FastNSTError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    is_onnx = Path(resolve_model(model)).suffix.lower() == ".onnx"
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise FastNSTError(f"{model}: an ONNX model runs with --backend onnx")
        return Stylizer.from_checkpoint(model, device, precision, tile=tile, compile=compile,
                                        stats_max_pixels=stats_max_pixels, strength=strength,
                                        preserve_colors=preserve_colors)
    unsupported = [flag for flag, used in (("--tile", tile is not None),
                                           ("--compile", compile),
                                           (f"--precision {precision}", precision != "32"),
                                           (f"--device {device}", device not in ("auto", "cpu")))
                   if used]
    if unsupported:
        raise FastNSTError(f"{', '.join(unsupported)}: not available with --backend onnx "
                           "(fp32 on the CPU); use --backend torch")
    from fastnst.inference.onnx_backend import OnnxStylizer

    return OnnxStylizer.from_model(model, strength=strength, preserve_colors=preserve_colors)
