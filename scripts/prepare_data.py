"""Thin wrapper: see `fastnst-prepare-data --help`."""
import sys

from fastnst.cli.prepare_data import main

sys.exit(main())
