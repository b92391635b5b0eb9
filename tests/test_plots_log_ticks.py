"""plots.log_ticks: major ticks at 1-2-5 steps with plain labels, minor labels hidden."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from ntkbook import plots

pytestmark = pytest.mark.core


def test_log_ticks_one_two_five_and_plain_labels():
    fig, ax = plt.subplots()
    ax.loglog([1, 1000], [0.01, 1])
    ax.set_xlim(1, 1000)
    assert plots.log_ticks(ax, "x") is ax
    fig.canvas.draw()
    ticks = [t for t in ax.xaxis.get_majorticklocs() if 1 <= t <= 1000]
    # the 1-2-5 sequence written out by hand
    assert ticks == pytest.approx([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], rel=1e-12)
    labels = [ax.xaxis.get_major_formatter()(t) for t in (2, 50, 1000)]
    assert labels == ["2", "50", "1000"]
    assert ax.xaxis.get_minor_formatter()(3) == ""
    # the y axis was not asked for: it keeps matplotlib's default locator (not 1-2-5)
    assert list(ax.yaxis.get_major_locator()._subs) != [1, 2, 5]
    with pytest.raises(ValueError, match="axis"):
        plots.log_ticks(ax, "z")
    plt.close(fig)
