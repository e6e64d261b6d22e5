"""Settings of `fastnst-slow`, the Gatys et al. pixel optimisation."""

from __future__ import annotations

from dataclasses import dataclass

from fastnst.core.config import check_choices, option
from fastnst.core.errors import FastNSTError
from fastnst.core.options import device_option
from fastnst.losses.config import LossConfig


@dataclass(frozen=True)
class SlowConfig(LossConfig):
    """Everything `fastnst-slow` needs."""

    content: str = option("", "content photo (required)", metavar="IMAGE")
    style: str = option("", "style image (required)", metavar="IMAGE")
    output: str = option("", ".jpg or .png (required)", flags=("-o", "--output"), metavar="OUT")
    image_size: int | None = option(512, "resize the content's long side to PX (0 keeps it)",
                                    metavar="PX", zero_is_none=True)
    optimizer: str = option("lbfgs", "lbfgs (Gatys et al.) or adam", choices=("lbfgs", "adam"))
    init: str = option("content", "start from the content photo or from noise",
                       choices=("content", "noise"))
    iterations: int = option(300, "loss evaluations (L-BFGS) or steps (Adam)", metavar="N")
    lr: float = option(1.0, "step size (1 suits L-BFGS; about 0.02 for Adam)")
    device: str = device_option()
    seed: int = option(0, "random seed (noise init)", metavar="N")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self)
        for name in ("content", "style", "output"):
            if not getattr(self, name):
                raise FastNSTError(f"--{name} is required")
        if self.iterations < 1:
            raise FastNSTError("--iterations must be >= 1")
        if self.image_size is not None and self.image_size < 16:
            raise FastNSTError("--image-size must be at least 16 px")
