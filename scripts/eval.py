"""Thin wrapper: see `fastnst-eval --help`."""
import sys

from fastnst.cli.eval import main

sys.exit(main())
