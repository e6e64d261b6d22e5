"""What stylizing's parameters may be: their checks, choices and defaults, in the library's
words (`ParameterError`). Torch-free, so the commands' configs check values with the same
functions while parsing, before torch loads; the library checks again where API callers
enter (`Stylizer`, `frame_batches`, the ONNX backend)."""

from __future__ import annotations

from typing import Literal, get_args

from fastnst.core.errors import ParameterError

# Tiled stylizing takes instance-norm statistics from the whole image scaled to at most this
# many pixels; None: one tile's own pixels with its margins (fastnst.inference.tiling
# .tile_pixels), so the statistics pass needs no more memory than a tile and --tile bounds the
# peak whatever the image size (a fixed 4 MP gave 3.5 GB at 2048x1364 with --tile 1024, the
# tile budget 2.3 GB; README, "Huge images").
DEFAULT_STATS_MAX_PIXELS: int | None = None
# --smooth-method: fastnst.inference.smoothing ("auto" picks by image size there).
SmoothMethod = Literal["auto", "matting", "guided"]
SMOOTH_METHODS: tuple[str, ...] = get_args(SmoothMethod)
# fastnst-export's formats and their file suffixes.
EXPORT_FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


def check_strength(strength: float) -> float:
    """The strength as a float; ParameterError unless 0 <= strength <= 1."""
    if not 0.0 <= strength <= 1.0:
        raise ParameterError("strength", f"must be between 0 and 1, not {strength}")
    return float(strength)


def check_tiling(tile: int | None, stats_max_pixels: int | None) -> None:
    """ParameterError unless tile (px; None: no tiling) >= 16 and stats_max_pixels (None: one
    tile's pixels) >= 4096: smaller tiles are mostly margin, and smaller statistics passes
    run the net on images under 64 x 64 px."""
    if tile is not None and tile < 16:
        raise ParameterError("tile", f"must be at least 16 px, not {tile}")
    if stats_max_pixels is not None and stats_max_pixels < 64 * 64:
        raise ParameterError("stats_max_pixels", f"must be at least 4096, not {stats_max_pixels}")


def check_batch_size(batch_size: int) -> None:
    """ParameterError unless batch_size (images or frames per forward pass) >= 1."""
    if batch_size < 1:
        raise ParameterError("batch_size", f"must be at least 1, not {batch_size}")
