"""Thin wrapper: see `fastnst-slow --help`."""
import sys

from fastnst.cli.slow import main

sys.exit(main())
