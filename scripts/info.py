"""Thin wrapper: see `fastnst-info --help`."""
import sys

from fastnst.cli.info import main

sys.exit(main())
