"""Thin wrapper: see `fastnst-sheet --help`."""
import sys

from fastnst.cli import sheet_main

sys.exit(sheet_main())
