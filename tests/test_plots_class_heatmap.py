"""plots.class_blocks / class_heatmap: class-block boundaries and centres against index sets."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ntkbook import plots

pytestmark = pytest.mark.core


@pytest.mark.parametrize("y", [[0, 0, 1, 1, 1, 2], [3, 5, 5, 5, 7, 7, 7, 7], [4, 4, 4], [2, 1, 1, 0]])
def test_class_blocks_against_index_sets(y):
    y = np.asarray(y)
    edges, centres, classes = plots.class_blocks(y)
    # reference: each class's first and last index, in order of first appearance
    firsts = [int(np.flatnonzero(y == c).min()) for c in dict.fromkeys(y.tolist())]
    lasts = [int(np.flatnonzero(y == c).max()) for c in dict.fromkeys(y.tolist())]
    np.testing.assert_array_equal(classes, list(dict.fromkeys(y.tolist())))
    np.testing.assert_array_equal(edges, np.asarray(firsts[1:]) - 0.5)
    # a run of pixels i..j spans [i - 0.5, j + 0.5]: its centre is (i + j) / 2
    np.testing.assert_array_equal(centres, (np.asarray(firsts) + np.asarray(lasts)) / 2)


def test_class_heatmap_draws_the_blocks():
    rng = np.random.default_rng(0)
    y = np.sort(rng.integers(0, 3, 12))
    K = rng.normal(size=(12, 12))
    fig, ax = plt.subplots()
    im = plots.class_heatmap(ax, K, y, "title")
    np.testing.assert_array_equal(im.get_array(), K)
    edges, centres, classes = plots.class_blocks(y)
    # one horizontal and one vertical white line per boundary
    assert len(ax.lines) == 2 * len(edges)
    np.testing.assert_array_equal(ax.get_xticks(), centres)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in classes]
    assert ax.get_title() == "title"
    plt.close(fig)


def test_class_heatmap_refuses_unsorted_labels_and_wrong_shapes():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="sorted by class"):
        plots.class_heatmap(ax, np.eye(3), [0, 1, 0])
    with pytest.raises(ValueError, match="K must have shape"):
        plots.class_heatmap(ax, np.eye(4), [0, 1, 1])
    with pytest.raises(ValueError, match="y"):
        plots.class_blocks([])
    plt.close(fig)
