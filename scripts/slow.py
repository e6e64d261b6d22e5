"""Thin wrapper: see `fastnst-slow --help`."""
import sys

from fastnst.cli import slow_main

sys.exit(slow_main())
