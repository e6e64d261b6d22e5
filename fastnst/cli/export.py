"""`fastnst-export`: ONNX or TorchScript export of a trained model."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from fastnst.cli.common import Command
from fastnst.inference.stylize_config import ExportConfig

COMMAND = Command("fastnst-export", ExportConfig, "Export a trained model for inference without "
                  "fastnst's code: ONNX (for onnxruntime; any batch size, height and width) or "
                  "TorchScript.")


def export(config: ExportConfig) -> int:
    from fastnst.inference.export import export_model
    started = time.perf_counter()
    path = export_model(config.model, config.format, config.output)
    print(f"{path}  ({config.format}, {path.stat().st_size / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.1f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, export)


if __name__ == "__main__":
    sys.exit(main())
