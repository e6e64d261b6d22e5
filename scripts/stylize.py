"""Thin wrapper: see `fastnst-stylize --help`."""
import sys

from fastnst.cli.stylize import main

sys.exit(main())
