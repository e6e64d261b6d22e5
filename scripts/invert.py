"""Thin wrapper: see `fastnst-invert --help`."""
import sys

from fastnst.cli.invert import main

sys.exit(main())
