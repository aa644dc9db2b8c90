"""Consumers who need a more capable model adopt later, and through the models' capability.

``demand.consumer_capability_premium_log10`` puts the consumer segments' usefulness ramp that many
log10 of capability after the firms' (``sim.stages.demand.usefulness_levels``). Against the same
scenario at 0 (the calibrated baseline's other parameters) and the same replication seeds (common
random numbers) over three root seeds, a premium of 2 must leave fewer consumer adopters at the end
of 2024, and firms' adoption (enterprise segments) must not fall with it (their ramp is the same).
Because the ramp follows the best available capability, starving the firms of compute (no imports
from 2023, domestic output capped; ``scenarios/total_embargo.yaml``) must cost consumers more
adopters in 2025 with the premium than without it. Signs are asserted with a 90 % paired interval
that excludes zero. Measured over these 9 pairs: 23 M consumer adopters in 2024-12 instead of
424 M; the embargo costs 13 M of 42 M in 2025-06 with the premium, none of 595 M without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.scenario import Scenario, load_scenario

from .conftest import SCENARIOS
from .paired import interval, paired_runs

ROOT_SEEDS = (1, 2, 3)
REPLICATIONS = 3
PREMIUM = 2.0


def _scenario(name: str, premium: float, file: str = "baseline.yaml") -> Scenario:
    over = {
        "end": "2025-12",
        "name": name,
        "demand": {"consumer_capability_premium_log10": premium},
    }
    return load_scenario(SCENARIOS / file, over)


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    scenarios = [
        _scenario("late", PREMIUM),
        _scenario("early", 0.0),
        _scenario("late_embargo", PREMIUM, "total_embargo.yaml"),
        _scenario("early_embargo", 0.0, "total_embargo.yaml"),
    ]
    return paired_runs(scenarios, ROOT_SEEDS, REPLICATIONS).metrics


def at(runs: pd.DataFrame, date: str, column: str) -> pd.DataFrame:
    """``column`` in ``date``, one row per (root seed, replication), one column per scenario."""
    part = runs[runs["date"] == date]
    return part.groupby(["scenario", "root", "replication"])[column].sum().unstack("scenario")


def test_a_premium_delays_consumer_adoption(runs: pd.DataFrame) -> None:
    users = at(runs, "2024-12", "consumer_adopters_m")
    lo, hi = interval(users["late"] - users["early"])
    assert hi < 0, (lo, hi)


def test_firms_adoption_does_not_fall_with_it(runs: pd.DataFrame) -> None:
    users = at(runs, "2024-12", "adopters_m") - at(runs, "2024-12", "consumer_adopters_m")
    diff = (users["late"] - users["early"]).to_numpy()
    assert np.all(np.abs(diff) <= 0.05 * users["early"].to_numpy()), diff


def test_starved_compute_costs_consumers_more_with_a_premium(runs: pd.DataFrame) -> None:
    users = at(runs, "2025-06", "consumer_adopters_m")
    loss_late = users["late"] - users["late_embargo"]
    loss_early = users["early"] - users["early_embargo"]
    lo, hi = interval(loss_late - loss_early)
    assert lo > 0, (lo, hi)
