"""Thin wrapper: see `fastnst-prepare-data --help`."""
import sys

from fastnst.cli import prepare_data_main

sys.exit(prepare_data_main())
