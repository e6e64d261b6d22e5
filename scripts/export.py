"""Thin wrapper: see `fastnst-export --help`."""
import sys

from fastnst.cli import export_main

sys.exit(export_main())
