"""Stylizing images with a trained transform net (no Lightning needed).

    stylizer = Stylizer.from_checkpoint("checkpoints/starry_night.ckpt")
    stylized = stylizer(Image.open("photo.jpg"))   # PIL in, PIL out, same size
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from fastnst.checkpoint import load_model
from fastnst.errors import FastNSTError
from fastnst.image import to_pil, to_tensor
from fastnst.transformer import TransformerNet

_DTYPES = {"32": None, "16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise FastNSTError(f"--device must be auto, cpu or cuda[:N], not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise FastNSTError("--device cuda asked for, but no CUDA GPU is available")
    return resolved


class Stylizer:
    """Runs a TransformerNet on images of any size in one forward pass."""

    def __init__(self, net: TransformerNet, device: str = "auto", precision: str = "32",
                 meta: dict[str, Any] | None = None) -> None:
        if precision not in _DTYPES:
            raise FastNSTError(f"precision must be 32, 16 or bf16, not {precision!r}")
        self.device = resolve_device(device)
        self.net = net.eval().requires_grad_(False).to(self.device)
        self.dtype = _DTYPES[precision]
        if self.dtype is torch.float16 and self.device.type == "cpu":
            raise FastNSTError("--precision 16 needs a GPU; use bf16 or 32 on the CPU")
        self.meta = meta or {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto",
                        precision: str = "32") -> Stylizer:
        net, meta = load_model(path)
        return cls(net, device=device, precision=precision, meta=meta)

    @torch.inference_mode()
    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU."""
        images = images.to(self.device, non_blocking=True)
        autocast = (torch.autocast(self.device.type, dtype=self.dtype)
                    if self.dtype is not None else nullcontext())
        with autocast:
            out = self.net(images)
        return out.float().cpu()

    def __call__(self, image: Image.Image) -> Image.Image:
        """PIL image (any mode, EXIF-rotated upright) -> stylized RGB PIL image, same size."""
        upright = ImageOps.exif_transpose(image)
        return to_pil(self.stylize_tensor(to_tensor(upright).unsqueeze(0)))
