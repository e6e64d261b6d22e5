"""`fastnst-bench`: baseline vs optimized speed of inference and training, to JSON."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from fastnst.bench.options import BenchOptions
from fastnst.cli.common import Command, run

PROG = "fastnst-bench"
COMMAND = Command(PROG, BenchOptions, "Measure the baseline (fp32, eager, NCHW, batch 1 / batch "
                  "4 with PIL decoding) and the optimized inference and training paths on this "
                  "machine; print a table and write bench.json.")


def main(argv: Sequence[str] | None = None) -> int:
    files, flags = COMMAND.flags(argv)

    def body() -> int:
        from fastnst.bench.report import run_bench

        words = sys.argv[1:] if argv is None else list(argv)
        options: BenchOptions = COMMAND.config(
            files, {**flags, "command": shlex.join([PROG, *words])})
        run_bench(options)
        return 0

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
