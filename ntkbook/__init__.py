"""ntkbook: Gram matrices and training-free NTK diagnostics behind the ntkbook Jupyter Book.

Importing the package silences TensorFlow's start-up log lines (neural-tangents
imports TensorFlow through tf2jax) by setting ``TF_CPP_MIN_LOG_LEVEL`` before
any submodule pulls TensorFlow in, unless the user has set it already.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

__all__ = ["__version__"]
