"""Thin wrapper: see `fastnst-sheet --help`."""
import sys

from fastnst.cli.sheet import main

sys.exit(main())
