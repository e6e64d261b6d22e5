"""Thin wrapper: see `fastnst-web --help`."""
import sys

from fastnst.cli.web import main

sys.exit(main())
