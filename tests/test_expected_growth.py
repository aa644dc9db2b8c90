"""Entrants who value the market they expect enter more in a growing market.

``entry.expected_growth_weight`` makes an entrant count the spending it expects over its horizon,
extrapolating the market's observed growth (``sim.stages.decisions.expected_spend_multiple``),
instead of today's. Under a thin model layer (``demand.model_layer_share`` 0.14, the value-chain
fit's order of magnitude), against the same scenario at weight 0 and the same replication seeds
(common random numbers) over three root seeds, full extrapolation (weight 1) must raise entry in
the eight months after ChatGPT, when the market surges, and so the number of developers in
mid-2023. Signs are asserted with a 90 % paired interval that excludes zero. Measured over these
12 pairs (the calibrated baseline's other parameters): 89 entrants in the eight months after
ChatGPT instead of 57 (8 in both in the eight months before), 88 developers in 2023-07 instead of
62. Both weights are set here; the calibrated baseline's is fitted (about 1.1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.calendar import parse_month

from .conftest import scenario_with
from .paired import interval, paired_runs

ROOT_SEEDS = (1, 2, 3)
REPLICATIONS = 4
THIN = {"model_layer_share": 0.14}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    expecting = scenario_with(
        end="2023-07", name="expecting", demand=THIN, entry={"expected_growth_weight": 1.0}
    )
    today = scenario_with(
        end="2023-07", name="today", demand=THIN, entry={"expected_growth_weight": 0.0}
    )
    return paired_runs([expecting, today], ROOT_SEEDS, REPLICATIONS).metrics


def paired(per: pd.DataFrame) -> np.ndarray:
    """Expecting minus today, one value per (root seed, replication)."""
    wide = per.unstack("scenario")
    return (wide["expecting"] - wide["today"]).to_numpy()


def test_expecting_entrants_make_the_post_chatgpt_wave_larger(runs: pd.DataFrame) -> None:
    chatgpt = parse_month(scenario_with().capital.chatgpt_release)
    after = runs[runs["month"].between(chatgpt + 1, chatgpt + 8)]
    per = after.groupby(["scenario", "root", "replication"])["entries"].sum()
    lo, hi = interval(paired(per))
    assert lo > 0, (lo, hi)


def test_expecting_entrants_leave_more_developers_in_mid_2023(runs: pd.DataFrame) -> None:
    mid = runs[runs["date"] == "2023-07"]
    per = mid.groupby(["scenario", "root", "replication"])["active_developers"].sum()
    lo, hi = interval(paired(per))
    assert lo > 0, (lo, hi)
