"""`fastnst-export`: ONNX or TorchScript export of a trained model."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from fastnst.cli.common import Command, run
from fastnst.inference.config import ExportConfig

PROG = "fastnst-export"
COMMAND = Command(PROG, ExportConfig, "Export a trained model for inference without fastnst's "
                  "code: ONNX (for onnxruntime; any batch size, height and width) or "
                  "TorchScript.")


def main(argv: Sequence[str] | None = None) -> int:
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.inference.export import export_model
        from fastnst.models.checkpoint import resolve_model

        config: ExportConfig = COMMAND.config(files, flags)
        started = time.perf_counter()
        path = export_model(resolve_model(config.model), config.format, config.output)
        print(f"{path}  ({config.format}, {path.stat().st_size / 1e6:.1f} MB, "
              f"{time.perf_counter() - started:.1f} s)")
        return 0

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
