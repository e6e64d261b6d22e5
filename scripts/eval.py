"""Thin wrapper: see `fastnst-eval --help`."""
import sys

from fastnst.cli import eval_main

sys.exit(eval_main())
