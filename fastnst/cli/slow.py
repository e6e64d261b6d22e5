"""`fastnst-slow`: the Gatys et al. baseline on one image."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from fastnst.cli.common import Command
from fastnst.core.devices import resolve_device
from fastnst.core.files import check_output_file
from fastnst.core.images import SAVE_SUFFIXES, load_tensor, save_image, to_pil
from fastnst.slow.slow_config import SlowConfig

COMMAND = Command("fastnst-slow", SlowConfig, "Gatys et al. style transfer: optimize the pixels "
                  "of one image (the quality baseline).", config_files=True)


def slow(config: SlowConfig) -> int:
    """Read the content and style at their working sizes, optimise, write the output."""
    from fastnst.losses.builder import load_style
    from fastnst.slow.gatys import transfer_slow

    output = check_output_file(config.output, SAVE_SUFFIXES)
    started = time.perf_counter()
    device = resolve_device(config.device)
    content = load_tensor(config.content, config.max_pixels, config.image_size).to(device)
    style = load_style(config, config.style).to(device)
    image, terms = transfer_slow(content, style, config.params)
    save_image(to_pil(image), output)
    losses = ", ".join(f"{name} {value:.4g}" for name, value in terms.floats().items())
    print(f"{output}  ({time.perf_counter() - started:.1f} s; final loss: {losses})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, slow)


if __name__ == "__main__":
    sys.exit(main())
