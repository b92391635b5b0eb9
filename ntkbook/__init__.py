"""ntkbook: Gram matrices and training-free NTK diagnostics behind the ntkbook Jupyter Book.

Importing the package silences TensorFlow's start-up log lines (neural-tangents
imports TensorFlow through tf2jax) by setting ``TF_CPP_MIN_LOG_LEVEL`` before
any submodule pulls TensorFlow in, unless the user has set it already, and
defers neural-tangents' TensorFlow interop (``neural_tangents.experimental``),
which ntkbook never uses, until its first use: importing neural-tangents then
skips TensorFlow's import (about 5 s of CPU per process; see ``_defer_tf``).
Import ``ntkbook`` before ``neural_tangents`` to get that saving.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# after the log level is set (ruff's E402 allows imports after an os.environ statement)
from ._defer_tf import defer_experimental

defer_experimental()

# The version is written once, in pyproject.toml; installed (or `pip install -e .`) metadata
# carries it here.  A source tree that was never installed has no metadata.
try:
    __version__ = version("ntkbook")
except PackageNotFoundError:
    __version__ = "0+unknown"

__all__ = ["__version__"]
