"""``python -m ntkbook.evidence --help``."""

import sys

from .runner import main

if __name__ == "__main__":  # not on import (pkgutil.walk_packages in the doctest sweep)
    sys.exit(main())
