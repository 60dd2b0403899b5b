"""`python -m gradgen` is the `gradgen` command."""

import sys

from gradgen.cli import main

sys.exit(main())
