"""Thin wrapper: see `fastnst-photo --help`."""
import sys

from fastnst.cli.photo import main

sys.exit(main())
