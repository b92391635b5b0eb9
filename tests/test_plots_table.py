"""``plots.table``: a missing cell shows a dash, every present value is the rounded original."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntkbook import plots

pytestmark = pytest.mark.core


def test_missing_cells_show_a_dash_and_values_are_the_rounded_originals():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 3))
    values[1, 2] = np.nan
    values[3, 0] = np.nan
    frame = pd.DataFrame(values, index=list("abcd"), columns=["x", "y", "z"])
    frame["n"] = [1, 2, None, 4]
    shown = plots.table(frame, decimals=2)
    assert list(shown.index) == list("abcd") and list(shown.columns) == ["x", "y", "z", "n"]
    for (i, j), v in np.ndenumerate(frame.to_numpy(dtype=float)):
        cell = shown.iat[i, j]
        if np.isnan(v):
            assert cell == "\u2014"
        else:  # the reference: Python's own rounding of the original value
            assert cell == pytest.approx(round(v, 2), abs=0)
    assert "NaN" not in shown.to_html() and "nan" not in shown.to_html()
    assert plots.table(frame, missing="n/a").iat[1, 2] == "n/a"
    assert plots.table(frame).iat[0, 0] == frame.iat[0, 0]  # decimals=None: unrounded


def test_use_style_shows_whole_cells_and_every_row():
    long = "x" * 80
    frame = pd.DataFrame({"text": [long] * 70})
    with pd.option_context("display.max_colwidth", 50, "display.max_rows", 60):
        assert long not in frame._repr_html_()  # pandas' defaults cut it
        plots.use_style()
        html = frame._repr_html_()
        assert long in html and html.count("<tr>") >= 70
