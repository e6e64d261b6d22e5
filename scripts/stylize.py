"""Thin wrapper: see `fastnst-stylize --help`."""
import sys

from fastnst.cli import stylize_main

sys.exit(stylize_main())
