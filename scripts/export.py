"""Thin wrapper: see `fastnst-export --help`."""
import sys

from fastnst.cli.export import main

sys.exit(main())
