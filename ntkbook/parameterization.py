"""Moving one initialisation between the NTK and the standard parameterization.

A dense layer in the NTK parameterization computes ``(W_std / sqrt(fan_in)) W h + b_std b`` with
``W, b ~ N(0, 1)``; in the standard one it computes ``W' h + b'`` with
``W' ~ N(0, W_std^2 / fan_in)`` and ``b' ~ N(0, b_std^2)``.  The stack draws the *same* standard
normals for both and rescales them for the standard one, so the standard network that
``init_fn`` would draw from the same key is ``W' = W W_std / sqrt(fan_in)``, ``b' = b b_std``:
:func:`standard_from_ntk` computes it from the NTK draw, so a chapter can compare the two
parameterizations on the very same random numbers without drawing twice (chapter 3).

Examples
--------
>>> import jax, numpy as np
>>> from ntkbook import archs, parameterization
>>> key = jax.random.PRNGKey(0)
>>> _, p_ntk = archs.mlp(2, 8, 1)[0](key, (3, 5))
>>> _, p_std = archs.mlp(2, 8, 1, parameterization="standard")[0](key, (3, 5))
>>> moved = parameterization.standard_from_ntk(p_ntk)
>>> all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(moved),
...                                           jax.tree_util.tree_leaves(p_std)))
True
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _checks
from .archs import B_STD, W_STD

__all__ = ["standard_from_ntk"]


def standard_from_ntk(params: Sequence, w_stds: Sequence[float] | None = None, b_std: float = B_STD) -> list:
    """The standard-parameterization parameters ``init_fn`` draws from the key that gave ``params``.

    Parameters
    ----------
    params
        The NTK-parameterized parameters of a dense stack as ``archs.mlp`` builds it: one entry per
        layer, ``()`` for a layer without parameters (Flatten, Relu) and ``(W, b)`` for a dense
        layer, ``W`` of shape ``(fan_in, fan_out)`` and ``b`` of shape ``(fan_out,)``.
    w_stds
        The weight scale of each dense layer, in order; default ``archs.mlp``'s: ``W_STD`` for
        every hidden layer and 1 for the readout.
    b_std
        The bias scale of every dense layer (``archs.B_STD`` by default).

    Returns
    -------
    list
        The same structure with ``W * w_std / sqrt(fan_in)`` and ``b * b_std``.

    Raises
    ------
    ValueError
        A layer that is neither ``()`` nor a ``(W, b)`` pair with a 2-D ``W``, or a ``w_stds`` whose
        length differs from the number of dense layers.
    """
    dense = [i for i, layer in enumerate(params) if layer != ()]
    for i in dense:
        layer = params[i]
        if not (isinstance(layer, (tuple, list)) and len(layer) == 2 and getattr(layer[0], "ndim", 0) == 2):
            raise ValueError(
                f"params[{i}] must be () or a dense (W, b) pair with a 2-D W; got "
                f"{type(layer).__name__} of length {len(layer) if hasattr(layer, '__len__') else '?'}."
            )
    if w_stds is None:
        w_stds = [W_STD] * (len(dense) - 1) + [1.0]
    w_stds = [_checks.real_scalar(w, "w_stds", low=0.0, low_open=True) for w in w_stds]
    if len(w_stds) != len(dense):
        raise ValueError(f"w_stds must give one scale per dense layer ({len(dense)}); got {len(w_stds)}.")
    b_std = _checks.real_scalar(b_std, "b_std", low=0.0)
    scale = dict(zip(dense, w_stds))
    return [
        layer if layer == () else (layer[0] * (scale[i] / layer[0].shape[0] ** 0.5), layer[1] * b_std)
        for i, layer in enumerate(params)
    ]
