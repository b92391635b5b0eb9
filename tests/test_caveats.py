"""ntkbook.caveats: the generated caveat sentences follow the numbers in both directions.

References are hand counts on small index sets (precision 2/4, recall 2/3) and tables built
here; each direction word is checked on one input where it must appear and one where it must not.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ntkbook import caveats

pytestmark = pytest.mark.core


def test_flag_check_hand_count():
    c = caveats.flag_check([0, 1, 5, 7], [1, 7, 9], n=20)
    assert c == dict(precision=0.5, recall=pytest.approx(2 / 3), base_rate=0.15, n_flagged=4)
    with pytest.raises(ValueError, match="flagged"):
        caveats.flag_check([0, 25], [1], n=20)


def test_flags_sentence_directions():
    good = caveats.flag_check([1, 7, 9, 2], [1, 7, 9], n=20)  # 75 % vs 15 % base
    bad = caveats.flag_check([0, 2, 3, 4], [1, 7, 9], n=20)  # 0 %
    assert "above the 15 %" in caveats.flags_sentence(good)
    assert "no better than" in caveats.flags_sentence(bad)
    s = caveats.flags_sentence(bad, good, "2-L", "10-L")
    assert "held more flipped labels (75 % against 0 % for 2-L)" in s
    assert "held fewer" in caveats.flags_sentence(good, bad, "2-L", "10-L")


def test_relabel_sentence_directions():
    up = dict(corrected=0.8, clean_changed=0.01, accuracy_before=0.9, accuracy_after=0.97)
    down = dict(corrected=0.1, clean_changed=0.2, accuracy_before=0.9, accuracy_after=0.75)
    assert "which raised label accuracy (90.0 % -> 97.0 %)" in caveats.relabel_sentence(up)
    assert "lowered" in caveats.relabel_sentence(down)


def test_ranking_sentence_tie_and_lead():
    tie = pd.DataFrame(
        {"ratio": [1.02, 1.01, 1.00], "tied_with_best": [True, True, False]}, index=["2-L", "10-L", "CNN-1"]
    )
    lead = tie.assign(tied_with_best=[True, False, False])
    assert "2-L, 10-L are tied" in caveats.ranking_sentence(tie)
    assert "2-L is ahead" in caveats.ranking_sentence(lead)
    assert "within 0.020" in caveats.ranking_sentence(lead)
