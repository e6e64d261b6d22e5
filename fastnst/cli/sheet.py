"""`fastnst-sheet`: a contact sheet of photos (rows) x styles (columns)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastnst.cli.common import Command, run
from fastnst.core.files import check_output_file
from fastnst.core.images import SAVE_SUFFIXES, save_image
from fastnst.evaluation.config import SheetConfig

PROG = "fastnst-sheet"
COMMAND = Command(PROG, SheetConfig, "Contact sheet: rows are photos, columns are styles (first "
                  "column the photo, header row the style images).")


def main(argv: Sequence[str] | None = None) -> int:
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.evaluation.sheet import make_sheet

        config: SheetConfig = COMMAND.config(files, flags)
        output = check_output_file(config.output, SAVE_SUFFIXES)
        sheet = make_sheet(config)
        save_image(sheet, output)
        print(f"{output}  ({sheet.width}x{sheet.height} px)")
        return 0

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
