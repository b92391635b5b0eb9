"""Random layer stacks shared by the neural-tangents oracle test and the core suite.

``random_stack(S, rng, ndim)`` writes one random network with the module ``S``
(``neural_tangents.stax`` or ``ntkbook.layers``, which take the same calls), so the two
libraries build the same network from the same seed.  ``tests/data/layers_nt_reference.npz``
holds neural-tangents' kernels of the stacks of seeds ``0 .. N_STORED - 1`` (made by
``python tests/_stacks.py`` in ``.venv``), the core suite's reference on a JAX where
neural-tangents cannot be installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHAPES = {0: (9,), 1: (7, 2), 2: (5, 4, 2)}  # odd sides; (length, channels) in 1-D
N_STORED = 12
REFERENCE = Path(__file__).with_name("data") / "layers_nt_reference.npz"


def ndim_of(seed: int) -> int:
    """Spatial dimensions of seed ``seed``'s stack: 0 (MLP), 1 or 2."""
    return (0, 1, 2, 2)[seed % 4]


def inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The two batches (3 and 2 inputs) a seed's stack is evaluated on."""
    rng = np.random.default_rng(100 + seed)
    shape = SHAPES[ndim_of(seed)]
    return rng.normal(size=(3,) + shape), rng.normal(size=(2,) + shape)


def random_stack(S, rng: np.random.Generator, ndim: int):
    """A random CNN (or MLP when ``ndim == 0``) written with the module ``S``; its recipe."""
    param = str(rng.choice(["ntk", "standard"]))
    b = [None, 0.0, 0.3][rng.integers(3)]
    ls, recipe = [], []
    if ndim:
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.choice([1, 2, 3, 3, 4, 5]))  # 3: the zoo's, the shift-add path
            s = int(rng.integers(1, 3))
            pad = str(rng.choice(["SAME", "VALID"])) if k == 1 else "SAME"
            w = float(rng.uniform(0.5, 2.0))
            ls += [
                S.Conv(
                    int(rng.integers(2, 6)),
                    (k,) * ndim,
                    (s,) * ndim,
                    pad,
                    W_std=w,
                    b_std=b,
                    parameterization=param,
                ),
                S.Relu(),
            ]
            recipe.append(f"conv{k}s{s}{pad[0]}")
            if rng.random() < 0.35:
                ls.append(S.AvgPool((2,) * ndim, (2,) * ndim, "SAME"))
                recipe.append("avgpool")
        gap = rng.random() < 0.5
        ls.append(S.GlobalAvgPool() if gap else S.Flatten())
        recipe.append("gap" if gap else "flatten")
    for _ in range(int(rng.integers(0, 3))):
        ls += [
            S.Dense(
                int(rng.integers(3, 9)), W_std=float(rng.uniform(0.5, 2.0)), b_std=b, parameterization=param
            ),
            S.Relu(),
        ]
        recipe.append("dense")
    ls.append(S.Dense(3, W_std=1.0, b_std=b, parameterization=param))
    return S.serial(*ls), f"{param} b={b} " + "-".join(recipe)


if __name__ == "__main__":
    import jax
    from neural_tangents import stax

    jax.config.update("jax_enable_x64", True)
    out = {}
    for seed in range(N_STORED):
        net, recipe = random_stack(stax, np.random.default_rng(seed), ndim_of(seed))
        x1, x2 = inputs(seed)
        ntk, nngp = jax.jit(lambda a, b, kfn=net[2]: kfn(a, b, ("ntk", "nngp")))(x1, x2)
        out[f"ntk_{seed}"], out[f"nngp_{seed}"] = np.asarray(ntk), np.asarray(nngp)
        out[f"recipe_{seed}"] = np.array(recipe)
    np.savez(REFERENCE, **out)
    print(f"wrote {REFERENCE}")
