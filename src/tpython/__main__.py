"""`python -m tpython` is the `tpython` command."""
import sys

from tpython.cli import main

sys.exit(main())
