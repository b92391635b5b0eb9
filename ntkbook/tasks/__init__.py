"""Training-free tools built on the infinite-width Gram matrix H (DeOliveira et al., 2025).

Submodules each hold one job; their public names are re-exported here:

* :mod:`.architecture` -- kernel-PCA class separation and architecture ranking (chapter 11);
* :mod:`.complexity_gap` -- Complexity-Gap scores for mislabelled samples, any kernel (chapter 11);
* :mod:`.labels` -- the Gram-label matrix Z, block-diagonalization error, bias rankings (12-13);
* :mod:`.refurbish` -- label refurbishment, Algorithm 1 (chapter 14);
* :mod:`.pseudo_labels` -- the pseudo-labellers chapter 12 ranks.
"""

from .architecture import (
    PAPER_HIDDEN_LAYERS,
    KPCASeparation,
    kpca_projection,
    kpca_separation,
    paper_convention_mlp,
    rank_architectures,
)
from .complexity_gap import binary_complexity_gap, complexity_gap, multiclass_complexity_gap
from .labels import (
    GramLabel,
    as_one_hot,
    bias_rankings,
    block_diagonality,
    block_diagonalization_error,
    block_error_from_z,
    gram_label_matrix,
    label_gradient,
    rank_labelings,
)
from .pseudo_labels import (
    kmeans_labels,
    known_subset,
    match_clusters,
    propagation_labels,
    weak_classifier_labels,
)
from .refurbish import Refurbishment, RefurbishSetup, refurbish_labels, refurbish_scores, refurbish_setup

__all__ = [
    "KPCASeparation",
    "kpca_projection",
    "kpca_separation",
    "rank_architectures",
    "paper_convention_mlp",
    "PAPER_HIDDEN_LAYERS",
    "binary_complexity_gap",
    "complexity_gap",
    "multiclass_complexity_gap",
    "GramLabel",
    "as_one_hot",
    "bias_rankings",
    "block_diagonality",
    "block_diagonalization_error",
    "block_error_from_z",
    "gram_label_matrix",
    "label_gradient",
    "rank_labelings",
    "kmeans_labels",
    "known_subset",
    "match_clusters",
    "propagation_labels",
    "weak_classifier_labels",
    "Refurbishment",
    "RefurbishSetup",
    "refurbish_labels",
    "refurbish_scores",
    "refurbish_setup",
]
