"""Reading and writing image files; PIL <-> tensor conversion.

Tensors here are float32 RGB in [0, 1]: (3, H, W) for one image, (N, 3, H, W) for a batch.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

from fastnst.core.errors import FastNSTError, first_line
from fastnst.core.files import atomic_output

# .gif: an animated GIF (or WebP) is read as its first frame, see open_image.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
SAVE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Modes Pillow gives for 16-bit samples; "I" (32-bit integer) is what it gives for 16-bit PGM/PPM
# (scaled to 0..65535 whatever their maxval) and, in older versions, for 16-bit grey PNGs.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# What Pillow's own plugins raise when a file is not of their format (Image.open skips them too).
_NOT_THIS_FORMAT = (SyntaxError, IndexError, TypeError, struct.error)
# What reading a damaged or unsupported file raises, beyond FastNSTError.
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error,
                Image.DecompressionBombError)


def open_image(path: str | Path, max_pixels: int) -> Image.Image:
    """Read an image file as an RGB PIL image, upright according to its EXIF orientation.

    Grayscale, palette, CMYK and 16-bit images become 8-bit RGB; transparency (RGBA, LA,
    palette or tRNS transparency) is composited on white. An animated GIF, WebP or PNG gives its
    first frame only (frame 0, the one viewers show before playing): that is what gets
    stylized, and later frames are never decoded.

    The size check reads only the header, so a file over max_pixels (e.g. a 100000x100000 PNG
    "decompression bomb") is refused before any pixel is decoded. The limit is max_pixels
    alone: Pillow's process-wide Image.MAX_IMAGE_PIXELS and the warnings filters are neither
    consulted for it nor changed, so concurrent callers with different limits do not
    interfere. Raises FastNSTError, with a one-line message naming the file, for a missing,
    empty, non-image, truncated or oversized file.
    """
    path = Path(path)
    if not path.is_file():
        raise FastNSTError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise FastNSTError(f"{path}: cannot read image (empty file, 0 bytes)")
    with path.open("rb") as fp:
        return _decode(fp, str(path), max_pixels, "--max-pixels")


def decode_image(data: bytes, name: str, max_pixels: int,
                 limit_hint: str = "--max-pixels") -> Image.Image:
    """Image bytes (an upload) -> RGB PIL image, upright, exactly as `open_image` reads a file.

    name labels the image in error messages (never used as a path); limit_hint names the
    setting that raises max_pixels. Raises FastNSTError for empty, non-image, truncated or
    oversized data (checked from the header before any pixel is decoded).
    """
    if not data:
        raise FastNSTError(f"{name}: cannot read image (empty file, 0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels, limit_hint)


def _decode(fp: BinaryIO, name: str, max_pixels: int, limit_hint: str) -> Image.Image:
    """The body of open_image and decode_image: fp positioned at the image's first byte."""
    try:
        image = _identify(fp, name)
        width, height = image.size
        if width * height > max_pixels:
            raise FastNSTError(
                f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,} "
                f"pixels (raise it with {limit_hint})")
        image.seek(0)  # frame 0 of an animation; a no-op for still images
        image.load()
        return to_rgb(ImageOps.exif_transpose(image))
    except FastNSTError:
        raise
    except _READ_ERRORS as err:
        raise FastNSTError(f"{name}: cannot read image ({first_line(err)})") from None


def _identify(fp: BinaryIO, name: str) -> ImageFile.ImageFile:
    """The image in fp, header read and pixels not yet decoded, as Pillow's Image.open does it.

    Image.open also refuses sizes over twice the process-wide Image.MAX_IMAGE_PIXELS (and
    warns above it); our caller applies its own per-call limit instead, and changing that
    global per call would race between the threads of a server. So this asks the registered
    format plugins directly (Image.OPEN maps each format name in Image.ID, in Pillow's order,
    to its (factory, accept) pair). Raises FastNSTError when no plugin takes the file.
    """
    prefix = fp.read(16)
    Image.init()  # register every plugin; Image.open does the same for files it cannot place
    reason = "not an image file"
    for format_name in Image.ID:
        factory, accept = Image.OPEN[format_name]
        verdict = accept(prefix) if accept is not None else True
        if isinstance(verdict, str):  # the format's signature, but a variant it cannot read
            reason = verdict
            continue
        if not verdict:
            continue
        fp.seek(0)
        try:
            return factory(fp, name)
        except _NOT_THIS_FORMAT as err:
            if accept is not None:  # its signature matched, so this is a damaged file
                # Pillow's plugins raise the other kinds when the header data runs out.
                detail = first_line(err) if isinstance(err, SyntaxError) else "header ends early"
                reason = f"{format_name}: {detail}"
    raise FastNSTError(f"{name}: cannot read image ({reason})")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB.

    Transparency is composited on white; 16-bit samples (modes I;16*, and I read as 16-bit)
    map 0..65535 to 0..255 by value / 257, rounded; CMYK uses Pillow's conversion (no ICC).
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image, dtype=np.float64)
        scaled = np.rint(np.clip(array, 0, 65535) / 257.0)  # 65535 / 255 = 257 exactly
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
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
