"""``python -m ntkbook.evidence --help``."""

import sys

from .runner import main

sys.exit(main())
