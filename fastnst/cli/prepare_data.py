"""`fastnst-prepare-data`: decode a photo folder once into a photo cache for training."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fastnst.cli.common import Command
from fastnst.core.files import check_writable_dir, parent_dir
from fastnst.training.train_config import PrepareDataConfig

COMMAND = Command("fastnst-prepare-data", PrepareDataConfig, "Decode a photo folder once into a "
                  "photo cache (a memory-mapped uint8 array at training resolution) for "
                  "`fastnst-train --data CACHE`.")


def prepare_data(config: PrepareDataConfig) -> int:
    from fastnst.training.cache import prepare_cache

    check_writable_dir(parent_dir(Path(config.output)))
    started = time.perf_counter()
    index = prepare_cache(config.sources, config.output, config.image_size, config.max_pixels,
                          workers=config.workers)
    count, side = index["shape"][0], index["shape"][1]
    print(f"{config.output}: {count} photos at {side}x{side} px "
          f"({count * side * side * 3 / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s; "
          f"train with --data {config.output} --image-size {config.image_size}")
    skipped = index["skipped_files"]
    if skipped:
        print(f"skipped {len(skipped)} unreadable files (listed in "
              f"{Path(config.output) / 'index.json'}), e.g. {skipped[0]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, prepare_data)


if __name__ == "__main__":
    sys.exit(main())
