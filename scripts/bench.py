"""Thin wrapper: see `fastnst-bench --help`."""
import sys

from fastnst.cli import bench_main

sys.exit(bench_main())
