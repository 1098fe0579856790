"""`python -m localcloud ...`: the `localcloud` CLI."""
import sys

from .cli import main

sys.exit(main())
