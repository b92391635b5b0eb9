"""Training-free tools built on the infinite-width Gram matrix H (DeOliveira et al., 2025).

Submodules each hold one job; their public names are re-exported here.
"""

__all__: list[str] = []
