"""Thin wrapper: see `fastnst-bench --help`."""
import sys

from fastnst.cli.bench import main

sys.exit(main())
