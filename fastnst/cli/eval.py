"""`fastnst-eval`: style and content error of a model over a photo folder."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from fastnst.cli.common import Command, run
from fastnst.core.files import check_output_file
from fastnst.evaluation.config import EvalConfig

PROG = "fastnst-eval"
COMMAND = Command(PROG, EvalConfig, "Score a style model on a folder of photos: style error "
                  "(relative Gram distance, relu1_1..relu5_1) and content error (relative "
                  "relu4_2 distance), per image and averaged, optionally next to the slow "
                  "Gatys baseline.")


def main(argv: Sequence[str] | None = None) -> int:
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.evaluation.evaluate import evaluate, format_summary, write_report

        config: EvalConfig = COMMAND.config(files, flags)
        output = (check_output_file(config.output, (".json",)) if config.output is not None
                  else None)
        report = evaluate(config)
        print(format_summary(report))
        if output is not None:
            write_report(report, Path(output))
            print(f"metrics: {output}")
        return 0

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
