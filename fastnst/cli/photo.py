"""`fastnst-photo`: Luan et al.'s photorealistic style transfer on one photo."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from fastnst.cli.common import Command
from fastnst.core.files import check_output_file
from fastnst.core.images import SAVE_SUFFIXES, load_tensor, open_image, save_image, to_pil
from fastnst.photoreal.config import PhotoConfig

COMMAND = Command("fastnst-photo", PhotoConfig, "Photorealistic style transfer (Luan et al. "
                  "2017): the style photo's colours and tones, region by region, on the content "
                  "photo, which stays a photo.", config_files=True)


def mask_paths(output: Path) -> tuple[Path, Path]:
    """Where --save-masks writes the content's and the style's masks: beside OUT."""
    stem = output.with_suffix("")
    return (stem.with_name(f"{stem.name}-content-mask.png"),
            stem.with_name(f"{stem.name}-style-mask.png"))


def photo(config: PhotoConfig) -> int:
    from fastnst.photoreal.masks import resize_labels, save_mask
    from fastnst.photoreal.transfer import run_photo

    output = check_output_file(config.output, SAVE_SUFFIXES)
    result = run_photo(config)
    image = to_pil(result.image)
    if config.smooth:
        from fastnst.inference.smoothing import smooth_image

        # The content at the working size the result has.
        content = to_pil(load_tensor(config.content, config.max_pixels, config.image_size))
        image = smooth_image(image, content, config.smooth_method)
    save_image(image, output)
    written = [output]
    if config.save_masks:
        # At each photo's own size, so they are read back without resizing.
        for labels, photo, path in zip((result.content_labels, result.style_labels),
                                       (config.content, config.style), mask_paths(output),
                                       strict=True):
            width, height = open_image(photo, config.max_pixels).size
            save_mask(resize_labels(labels, (height, width)), path)
            written.append(path)
    losses = ", ".join(f"{name} {value:.4g}" for name, value in result.terms.items())
    print(f"{', '.join(map(str, written))}  ({result.seconds:.1f} s; final loss: {losses})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, photo)


if __name__ == "__main__":
    sys.exit(main())
