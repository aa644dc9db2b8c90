"""Growth on a negligible base no longer reads as a boom before ChatGPT.

``capital.growth_materiality_m_rmb_per_month`` measures the market's growth against at least a
material base (the baseline: 147 M RMB a month, the smallest 2023 market any study measured).
Against the same scenario without it (growth on the market's own base, 0) and the same replication
seeds (common random numbers) over three root seeds, the hype index in the eight months before
ChatGPT must fall (the 2022 market rises from under 1 to about 40 M RMB a month: "200 %" growth,
capped, doubled the index) and so must entry in those months, while a few months after ChatGPT,
when the index is dominated by the ChatGPT shock, the two stay within a tenth of each other. Signs
are asserted with a 90 % paired interval that excludes zero.
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


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    material = scenario_with(end="2023-07", name="material")
    assert material.capital.growth_materiality_m_rmb_per_month > 0
    own_base = scenario_with(
        end="2023-07", name="own_base", capital={"growth_materiality_m_rmb_per_month": 0.0}
    )
    return paired_runs([material, own_base], ROOT_SEEDS, REPLICATIONS).metrics


def window(runs: pd.DataFrame, first: int, last: int, column: str, how: str) -> np.ndarray:
    """Material minus own base, one value per (root seed, replication), of ``column`` summed or
    averaged over months ``first``-``last`` after ChatGPT's release (negative: before)."""
    chatgpt = parse_month(scenario_with().capital.chatgpt_release)
    part = runs[runs["month"].between(chatgpt + first, chatgpt + last)]
    per = part.groupby(["scenario", "root", "replication"])[column].agg(how).unstack("scenario")
    return (per["material"] - per["own_base"]).to_numpy()


def test_hype_before_chatgpt_falls(runs: pd.DataFrame) -> None:
    lo, hi = interval(window(runs, -8, -1, "hype_index", "mean"))
    assert hi < 0, (lo, hi)


def test_entry_before_chatgpt_falls(runs: pd.DataFrame) -> None:
    lo, hi = interval(window(runs, -8, -1, "entries", "sum"))
    assert hi < 0, (lo, hi)


def test_hype_after_chatgpt_is_nearly_unchanged(runs: pd.DataFrame) -> None:
    # Months 4-8 after ChatGPT compare the market with the year before it, still below the
    # materiality, so growth counts a little less (up to about 0.45 of an index near 6.5 in these
    # pairs); both indices are dominated by the ChatGPT shock, within a tenth of each other.
    diff = window(runs, 4, 8, "hype_index", "mean")
    chatgpt = parse_month(scenario_with().capital.chatgpt_release)
    level = runs[
        (runs["scenario"] == "own_base") & runs["month"].between(chatgpt + 4, chatgpt + 8)
    ]["hype_index"].mean()
    assert level > 4.0, level
    assert np.abs(diff).max() < 0.1 * level, (diff, level)
