"""`fastnst-sheet`: a contact sheet of photos (rows) x styles (columns)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastnst.cli.common import Command
from fastnst.core.files import check_output_file
from fastnst.core.images import SAVE_SUFFIXES, save_image
from fastnst.evaluation.eval_config import SheetConfig

COMMAND = Command("fastnst-sheet", SheetConfig, "Contact sheet: rows are photos, columns are "
                  "styles (first column the photo, header row the style images).")


def sheet(config: SheetConfig) -> int:
    from fastnst.evaluation.sheet import make_sheet

    output = check_output_file(config.output, SAVE_SUFFIXES)
    image = make_sheet(config)
    save_image(image, output)
    print(f"{output}  ({image.width}x{image.height} px)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, sheet)


if __name__ == "__main__":
    sys.exit(main())
