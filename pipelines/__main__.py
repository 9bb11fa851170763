"""`python -m pipelines <command>`: see `python -m pipelines --help`."""

import sys

from pipelines.cli import main

sys.exit(main())
