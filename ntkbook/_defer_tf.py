"""Defer neural-tangents' TensorFlow interop until something uses it.

``import neural_tangents`` runs ``from . import experimental``, whose only module
(``experimental.empirical_tf``) imports ``jax.experimental.jax2tf`` and with it all
of TensorFlow: about 5 s of CPU in every process, although ntkbook never calls
the TensorFlow interop.  :func:`defer_experimental` puts a placeholder module
object for ``neural_tangents.experimental`` into ``sys.modules`` before
neural-tangents is imported; the placeholder carries the real module's spec and
path, and a module-level ``__getattr__`` (PEP 562) that, on the first access to a
name it does not have, runs the real module's code in the placeholder's own
namespace (what an import does with a fresh module) and returns the name.  So the
package still has ``nt.experimental``, and its first real use (e.g.
``nt.experimental.empirical_ntk_fn_tf``) imports TensorFlow then, unchanged.
(:class:`importlib.util.LazyLoader` does not do this on Python 3.11: the import
system reads the module's ``__spec__`` while importing the parent, which loads it.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "neural_tangents.experimental"


def defer_experimental() -> bool:
    """Register a placeholder for ``neural_tangents.experimental`` that loads on first use.

    Returns
    -------
    bool
        True when the placeholder was registered; False when there is nothing to
        do: neural-tangents is not installed (the core environment), it was
        imported already, or its layout is not the one this was written for.
    """
    if "neural_tangents" in sys.modules or _NAME in sys.modules:
        return False
    # find_spec of the top-level package locates it without executing it
    top = importlib.util.find_spec("neural_tangents")
    if top is None or not top.submodule_search_locations:
        return False
    pkg_dir = Path(next(iter(top.submodule_search_locations))) / "experimental"
    init = pkg_dir / "__init__.py"
    if not init.is_file():
        return False
    spec = importlib.util.spec_from_file_location(_NAME, init, submodule_search_locations=[str(pkg_dir)])
    if spec is None or spec.loader is None:
        return False
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)  # created, not executed

    def load_on_first_use(name: str):
        # once: the real code then defines the module's names in this namespace
        del module.__getattr__
        loader.exec_module(module)
        return getattr(module, name)

    # a module-level __getattr__ (PEP 562), set as an attribute of the module object
    setattr(module, "__getattr__", load_on_first_use)  # noqa: B010
    sys.modules[_NAME] = module
    return True
