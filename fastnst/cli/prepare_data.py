"""`fastnst-prepare-data`: decode a photo folder once into a photo cache for training."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fastnst.cli.common import Command, run
from fastnst.core.files import check_writable_dir, parent_dir
from fastnst.training.config import PrepareDataConfig

PROG = "fastnst-prepare-data"
COMMAND = Command(PROG, PrepareDataConfig, "Decode a photo folder once into a photo cache (a "
                  "memory-mapped uint8 array at training resolution) for `fastnst-train --data "
                  "CACHE`.")


def main(argv: Sequence[str] | None = None) -> int:
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.training.cache import prepare_cache

        config: PrepareDataConfig = COMMAND.config(files, flags)
        check_writable_dir(parent_dir(Path(config.output)))
        started = time.perf_counter()
        index = prepare_cache(config.sources, config.output, config.image_size,
                              config.max_pixels, workers=config.workers)
        count, side = index["shape"][0], index["shape"][1]
        size_gb = count * side * side * 3 / 1e9
        print(f"{config.output}: {count} photos at {side}x{side} px ({size_gb:.2f} GB) in "
              f"{time.perf_counter() - started:.0f} s; train with --data {config.output} "
              f"--image-size {config.image_size}")
        skipped = index["skipped_files"]
        if skipped:
            print(f"skipped {len(skipped)} unreadable files (listed in "
                  f"{Path(config.output) / 'index.json'}), e.g. {skipped[0]}")
        return 0

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
