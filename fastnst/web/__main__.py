"""`python -m fastnst.web`: the same as `fastnst-web`."""

import sys

from fastnst.cli.web import main

sys.exit(main())
