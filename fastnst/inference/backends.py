"""Choosing the stylizer for a model and a backend (torch or onnxruntime).

Errors speak the library's words (parameter names: backend="onnx", tile=...); fastnst-stylize
maps them to its flags (fastnst.cli.stylize)."""

from __future__ import annotations

from pathlib import Path

from fastnst.core.errors import FastNSTError
from fastnst.inference.params import DEFAULT_STATS_MAX_PIXELS
from fastnst.inference.stylizer import BaseStylizer, Stylizer
from fastnst.models.checkpoint import ModelSpec, resolve_spec

BACKENDS = ("auto", "torch", "onnx")


class BackendMismatch(FastNSTError):
    """A model or settings the chosen backend cannot run. settings: the (parameter, value)
    pairs the onnx backend lacks (empty when the model is the problem: an ONNX file asked to
    run on torch)."""

    def __init__(self, message: str, settings: tuple[tuple[str, object], ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings


def load_stylizer(model: str | Path | ModelSpec, backend: str = "auto", device: str = "auto",
                  precision: str = "32", *, tile: int | None = None, compile: bool = False,
                  stats_max_pixels: int | None = DEFAULT_STATS_MAX_PIXELS, strength: float = 1.0,
                  preserve_colors: bool = False) -> BaseStylizer:
    """The stylizer for `model` (a file or a model name) on `backend`.

    backend: 'torch', 'onnx', or 'auto' (onnx for a .onnx model, else torch). The onnx
    backend takes a .onnx file or a checkpoint (exported in memory) and runs on the CPU in
    fp32 without tiling or compiling; asking it for those is an error. strength and
    preserve_colors work on both (see fastnst.inference.stylizer).
    """
    if backend not in BACKENDS:
        raise FastNSTError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    spec = resolve_spec(model)  # once: the stylizers below take it as it is
    is_onnx = spec.path.suffix.lower() == ".onnx"
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise BackendMismatch(f"{model}: an ONNX model runs on the onnx backend, not torch")
        return Stylizer.from_checkpoint(spec, device, precision, tile=tile, compile=compile,
                                        stats_max_pixels=stats_max_pixels, strength=strength,
                                        preserve_colors=preserve_colors)
    unsupported = tuple((name, value) for name, value, used in (
        ("tile", tile, tile is not None), ("compile", compile, compile),
        ("precision", precision, precision != "32"),
        ("device", device, device not in ("auto", "cpu"))) if used)
    if unsupported:
        named = ", ".join(f"{name}={value!r}" for name, value in unsupported)
        raise BackendMismatch(f"{named}: not available on the onnx backend (fp32 on the CPU); "
                              "use the torch backend", unsupported)
    from fastnst.inference.onnx_backend import OnnxStylizer

    return OnnxStylizer.from_model(spec, strength=strength, preserve_colors=preserve_colors)
