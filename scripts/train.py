"""Thin wrapper: see `fastnst-train --help`."""
import sys

from fastnst.cli import train_main

sys.exit(train_main())
