"""`fastnst-invert`: rebuild a photo from one loss-network layer's features (or Grams)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from fastnst.cli.common import Command
from fastnst.core.files import check_output_file
from fastnst.core.images import SAVE_SUFFIXES, save_image, to_pil
from fastnst.slow.slow_config import InvertConfig

COMMAND = Command("fastnst-invert", InvertConfig, "Feature inversion: rebuild a photo from noise "
                  "so that one loss-network layer sees it as the photo (content), or so that "
                  "the Gram matrices up to that layer match (style: texture synthesis); one "
                  "image per layer and a labelled grid.", config_files=True)


def invert(config: InvertConfig) -> int:
    from fastnst.slow.invert import label, labelled_grid, layer_path, load_photo, run_invert

    assert config.layers is not None  # resolved by InvertConfig
    output = check_output_file(config.output, SAVE_SUFFIXES)  # the layer files share its folder
    started = time.perf_counter()
    photo = load_photo(config)
    tiles = [(to_pil(photo), "photo")]
    for inversion in run_invert(config, photo):
        path = layer_path(output, config.mode, inversion.layer)
        image = to_pil(inversion.image)
        save_image(image, path)
        tiles.append((image, label(inversion, config.mode)))
        losses = ", ".join(f"{name} {value:.4g}" for name, value in inversion.terms.items())
        print(f"{path}  ({inversion.layer}: PSNR {inversion.psnr:.2f} dB; {inversion.seconds:.1f}"
              f" s; final loss: {losses})", flush=True)
    save_image(labelled_grid(tiles), output)
    print(f"{output}  ({time.perf_counter() - started:.1f} s in all)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, invert)


if __name__ == "__main__":
    sys.exit(main())
