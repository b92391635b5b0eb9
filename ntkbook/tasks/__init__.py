"""Training-free tools built on the infinite-width Gram matrix H (DeOliveira et al., 2025).

Submodules each hold one job; their public names are re-exported here.
"""

__all__: list[str] = []

# issue 4: the Gram-label matrix Z, block-diagonalization error, rankings, refurbishment
from .labels import (GramLabel, as_one_hot, bias_rankings, block_diagonality,  # noqa: E402
                     block_diagonalization_error, block_error_from_z, gram_label_matrix,
                     label_gradient, rank_labelings)
from .refurbish import Refurbishment, refurbish_labels, refurbish_scores  # noqa: E402
from .pseudo_labels import (kmeans_labels, known_subset, match_clusters,  # noqa: E402
                            propagation_labels, weak_classifier_labels)

__all__ += ["GramLabel", "as_one_hot", "bias_rankings", "block_diagonality",
            "block_diagonalization_error", "block_error_from_z", "gram_label_matrix",
            "label_gradient", "rank_labelings", "Refurbishment", "refurbish_labels",
            "refurbish_scores", "kmeans_labels", "known_subset", "match_clusters",
            "propagation_labels", "weak_classifier_labels"]

# issue 3: architecture selection (kernel-PCA separation) and Complexity-Gap
from .architecture import (KPCASeparation, kpca_projection, kpca_separation,  # noqa: E402
                           rank_architectures)
from .complexity_gap import binary_complexity_gap, complexity_gap  # noqa: E402

__all__ += ["KPCASeparation", "kpca_projection", "kpca_separation", "rank_architectures",
            "binary_complexity_gap", "complexity_gap"]
