"""`fastnst-train`: train a transform net for one style image (imports Lightning)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastnst.cli.common import Command, run
from fastnst.training.train_config import TrainConfig

COMMAND = Command("fastnst-train", TrainConfig, "Train a fast style-transfer network for one "
                  "style image.", config_files=True)


def main(argv: Sequence[str] | None = None) -> int:
    # Not COMMAND.main: `--resume` reads the run's saved config before the files and flags.
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.training.train import resolve_train_config, train

        train(resolve_train_config(files, flags))
        return 0

    return run(COMMAND.prog, body)


if __name__ == "__main__":
    sys.exit(main())
