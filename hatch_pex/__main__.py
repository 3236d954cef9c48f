"""`python -m hatch_pex inspect|verify|diff ...` (cli.py)."""

import sys

from .cli import main

sys.exit(main())
