"""Thin wrapper: see `fastnst-train --help`."""
import sys

from fastnst.cli.train import main

sys.exit(main())
