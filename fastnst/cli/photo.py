"""`fastnst-photo`: Luan et al.'s photorealistic style transfer on one photo."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from fastnst.cli.common import Command
from fastnst.core.devices import resolve_device
from fastnst.core.files import check_output_file
from fastnst.core.images import (
    SAVE_SUFFIXES,
    open_image,
    resize_long_side,
    save_image,
    to_pil,
    to_tensor,
)
from fastnst.photoreal.photo_config import PhotoConfig

COMMAND = Command("fastnst-photo", PhotoConfig, "Photorealistic style transfer (Luan et al. "
                  "2017): the style photo's colours and tones, region by region, on the content "
                  "photo, which stays a photo.", config_files=True)


def mask_paths(output: Path) -> tuple[Path, Path]:
    """Where --save-masks writes the content's and the style's masks: beside OUT."""
    stem = output.with_suffix("")
    return (stem.with_name(f"{stem.name}-content-mask.png"),
            stem.with_name(f"{stem.name}-style-mask.png"))


def read_photo(path: str, max_pixels: int, long_side: int | None
               ) -> tuple[Image.Image, tuple[int, int]]:
    """A photo decoded once: its working copy (RGB, long side at most long_side px; None keeps
    it) and its own size (W, H), which its masks are read and saved at. The full-size image
    is not kept: only its size is needed after this."""
    photo = open_image(path, max_pixels)
    return resize_long_side(photo, long_side), photo.size


def photo(config: PhotoConfig) -> int:
    """Read the photos (once each) and masks, optimise, then smooth and write the result and,
    with --save-masks, the masks."""
    from fastnst.photoreal.masks import read_labels, resize_labels, save_mask
    from fastnst.photoreal.transfer import transfer_photo

    output = check_output_file(config.output, SAVE_SUFFIXES)
    started = time.perf_counter()
    device = resolve_device(config.device)
    content_image, content_size = read_photo(config.content, config.max_pixels,
                                             config.image_size)
    style_image, style_size = read_photo(config.style, config.max_pixels, config.style_size)
    labels = None
    if config.content_mask:  # before the loss network loads: mistakes are reported at once
        labels = (read_labels(config.content_mask, content_size,
                              (content_image.height, content_image.width), config.max_pixels,
                              config.content),
                  read_labels(config.style_mask, style_size,
                              (style_image.height, style_image.width), config.max_pixels,
                              config.style))
    content, style = (to_tensor(image).unsqueeze(0).to(device)
                      for image in (content_image, style_image))
    result = transfer_photo(content, style, config.params, labels,
                            mask_names=(config.content_mask, config.style_mask))
    stylized = result.image  # (1, 3, H, W) on the CPU, the content's working size
    if config.smooth:  # on the tensors: the result becomes 8-bit once, when saved
        from fastnst.inference.smoothing import smooth

        stylized = smooth(stylized, content.cpu(), config.smooth_method)
    image = to_pil(stylized[0])
    save_image(image, output)
    written = [output]
    if config.save_masks:
        # At each photo's own size, so they are read back without resizing.
        for found, (width, height), path in zip((result.content_labels, result.style_labels),
                                                (content_size, style_size), mask_paths(output),
                                                strict=True):
            save_mask(resize_labels(found, (height, width)), path)
            written.append(path)
    losses = ", ".join(f"{name} {value:.4g}" for name, value in result.terms.items())
    print(f"{', '.join(map(str, written))}  ({time.perf_counter() - started:.1f} s; final "
          f"loss: {losses})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, photo)


if __name__ == "__main__":
    sys.exit(main())
