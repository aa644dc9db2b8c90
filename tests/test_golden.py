"""Golden baseline: one seeded baseline replication must reproduce the stored table.

Why these numbers are right: they are not claimed to be right about the world; they pin the
model's behaviour so that refactoring and clean-up cannot change results unnoticed. A deliberate
change to the model or the baseline regenerates them (``python -m tests.golden.regenerate``) in the
same commit.
"""

from __future__ import annotations

import pandas as pd

from .conftest import ROOT
from .golden.regenerate import golden_frame


def test_baseline_matches_golden() -> None:
    stored = pd.read_csv(ROOT / "tests" / "golden" / "baseline.csv")
    fresh = golden_frame()
    pd.testing.assert_frame_equal(
        fresh,
        stored,
        check_dtype=False,
        rtol=1e-7,
        atol=1e-9,
        obj="baseline vs tests/golden/baseline.csv (regenerate only for deliberate changes)",
    )
