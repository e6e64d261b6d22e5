"""`fastnst-bench`: baseline vs optimized speed of inference and training, to JSON."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from fastnst.bench.bench_config import BenchConfig
from fastnst.cli.common import Command

COMMAND = Command("fastnst-bench", BenchConfig, "Measure the baseline (fp32, eager, NCHW, batch "
                  "1 / batch 4 with PIL decoding) and the optimized inference and training paths "
                  "on this machine; print a table and write bench.json.")


def bench(options: BenchConfig) -> int:
    from fastnst.bench.report import run_bench

    run_bench(options)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    return COMMAND.main(argv, bench, extra={"command": shlex.join([COMMAND.prog, *words])})


if __name__ == "__main__":
    sys.exit(main())
