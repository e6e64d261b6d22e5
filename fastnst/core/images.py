"""Reading and writing image files; PIL <-> tensor conversion.

Tensors here are float32 RGB in [0, 1]: (3, H, W) for one image, (N, 3, H, W) for a batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from fastnst.core.errors import FastNSTError
from fastnst.core.files import atomic_output

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SAVE_SUFFIXES = (".jpg", ".jpeg", ".png")


def open_image(path: str | Path, max_pixels: int) -> Image.Image:
    """Read an image file as an RGB PIL image, upright according to its EXIF orientation.

    Grayscale, palette, RGBA (composited on white) and 16-bit images become 8-bit RGB. Raises
    FastNSTError for a missing, unreadable, truncated or oversized (> max_pixels) file; the
    size check reads only the header, so a decompression bomb is refused before decoding.
    """
    path = Path(path)
    if not path.is_file():
        raise FastNSTError(f"no such file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Our own max_pixels limit replaces PIL's global one, which callers cannot tune.
            previous_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                with Image.open(path) as image:
                    width, height = image.size
                    if width * height > max_pixels:
                        raise FastNSTError(
                            f"{path}: {width}x{height} = {width * height / 1e6:.0f} MP is over the "
                            f"limit of {max_pixels / 1e6:.0f} MP (raise it with --max-pixels)"
                        )
                    image.load()
                    return to_rgb(ImageOps.exif_transpose(image))
            finally:
                Image.MAX_IMAGE_PIXELS = previous_limit
    except FastNSTError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = "not an image file" if "cannot identify" in str(err) else str(err)
        raise FastNSTError(f"{path}: cannot read image ({reason})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB; transparency is composited on white, 16-bit is rescaled."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 255.0 / 65535.0 if array.max() > 255 else 1.0
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def resize_long_side(image: Image.Image, max_size: int | None) -> Image.Image:
    """Downscale (never upscale) so the longer side is at most max_size px; None keeps it."""
    if max_size is None or max(image.size) <= max_size:
        return image
    scale = max_size / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image (any mode, see to_rgb) -> float32 tensor (3, H, W) in [0, 1]."""
    array = np.array(to_rgb(image), dtype=np.uint8)  # a writable copy for torch
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) or (1, 3, H, W) in [0, 1] -> PIL RGB image (values clamped)."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def load_tensor(path: str | Path, max_pixels: int, max_size: int | None = None) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1], long side <= max_size."""
    return to_tensor(resize_long_side(open_image(path, max_pixels), max_size)).unsqueeze(0)


def list_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively, sorted) into a list of image paths.

    A named file is kept whatever its suffix (so a non-image is reported when read); a folder
    contributes files with a known image suffix. Raises FastNSTError for a missing path or a
    folder without images.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*")
                            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not images:
                raise FastNSTError(
                    f"no images in folder {path} (looked for {', '.join(IMAGE_SUFFIXES)})")
            found.extend(images)
        elif path.is_file():
            found.append(path)
        else:
            raise FastNSTError(f"no such file or folder: {path}")
    return found


def save_image(image: Image.Image, path: Path, quality: int = 95) -> None:
    """Write a PIL image atomically; the format follows the suffix (.jpg/.jpeg or .png)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise FastNSTError(f"{path}: output must end in .jpg, .jpeg or .png")
    with atomic_output(path) as tmp:
        if suffix == ".png":
            image.save(tmp, format="PNG")
        else:
            image.save(tmp, format="JPEG", quality=quality, subsampling=0)
