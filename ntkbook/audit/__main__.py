"""``python -m ntkbook.audit``."""

import sys

from .cli import main

if __name__ == "__main__":  # importing the module (doctest discovery, say) runs nothing
    sys.exit(main())
