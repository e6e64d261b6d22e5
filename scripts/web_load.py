"""Thin wrapper: see `python scripts/web_load.py --help`."""
import sys

from fastnst.web.loadtest import main

sys.exit(main())
