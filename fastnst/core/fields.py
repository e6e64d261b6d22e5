"""Options several commands share, declared once (see fastnst.core.settings.option)."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge

from fastnst.core.settings import option

# PIL refuses images above ~179 MP as decompression bombs; 150 MP still admits a 12000x8000
# photo (96 MP) while refusing the 40k x 40k bombs that would exhaust memory.
DEFAULT_MAX_PIXELS = 150_000_000
# Bounds shared by the configs' fields (pydantic checks them; load_config names the flag).
MaxPixels = Annotated[int, Ge(1)]
Weight = Annotated[float, Ge(0)]  # a loss weight: 0 turns its term off
Positive = Annotated[int, Ge(1)]
Count = Annotated[int, Ge(0)]
Side = Annotated[int, Ge(16)]  # an image side in px (metavar PX: "must be at least 16 px")
MODEL_HELP = ("a slim checkpoint from fastnst-train, a Lightning checkpoint "
              "(runs/NAME/checkpoints/last.ckpt), a .onnx file from fastnst-export, or a model "
              "name such as starry_night (NAME.ckpt in $FASTNST_CHECKPOINTS, ./models, "
              "./checkpoints, then the shipped models)")


def max_pixels_option(group: str | None = None) -> Any:
    """--max-pixels N: the decompression-bomb guard of every command that reads images."""
    return option(DEFAULT_MAX_PIXELS, "refuse images with more pixels", metavar="N",
                  group=group)


def device_option() -> Any:
    """--device: where torch runs."""
    return option("auto", "auto (CUDA when available), cpu, cuda or cuda:N")
