"""Compute demand from outside the model layer binds.

Under the value chain (``demand.model_layer_share`` below 1) the end spending the model layer does
not earn pays applications, integrators and enterprises that serve models themselves, and they rent
from the firms' pool (``compute.outside_compute_per_rmb`` RMB per RMB of that spending;
``sim.markets.compute.outside_compute_money``). At a share of 0.15 (the value-chain fit's order of
magnitude), against the same scenario with no outside buyers and the same replication seeds (common
random numbers) over three root seeds, the baseline's sourced 1.7 must raise the 2024-2025 compute
price over its cost floor and lower the H100e the firms rent. Signs are asserted with a 90 % paired
interval that excludes zero. Measured over these 12 pairs (the calibrated baseline's other
parameters): price over floor 1.02 without outside buyers and 2.22 with them; the firms rent about
58k H100e instead of 129k, own 51k instead of 98k and serve with 24k instead of 50k, earning about
13 % less.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.runner import run_many

from .conftest import scenario_with
from .paired import interval, paired_runs

ROOT_SEEDS = (1, 2, 3)
REPLICATIONS = 4
SHARE = 0.15
WINDOW = ("2024-01", "2025-12")


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    outside = scenario_with(end="2025-12", name="outside", demand={"model_layer_share": SHARE})
    alone = scenario_with(
        end="2025-12",
        name="alone",
        demand={"model_layer_share": SHARE},
        compute={"outside_compute_per_rmb": 0.0},
    )
    assert outside.compute.outside_compute_per_rmb > 0
    m = paired_runs([outside, alone], ROOT_SEEDS, REPLICATIONS).metrics
    m["price_over_floor"] = (
        m["compute_price_m_rmb_per_h100e_month"] / m["compute_price_floor_m_rmb"]
    )
    m["firm_rented_h100e"] = m["firm_capacity_h100e"] - m["firm_owned_h100e"]
    return m


def paired(m: pd.DataFrame, column: str) -> np.ndarray:
    """Outside buyers minus none of a column's 2024-2025 mean, one value per (root, replication)."""
    window = m[m["date"].between(*WINDOW)]
    per = window.groupby(["scenario", "root", "replication"])[column].mean().unstack("scenario")
    return (per["outside"] - per["alone"]).to_numpy()


def test_outside_buyers_raise_the_price_of_compute(runs: pd.DataFrame) -> None:
    lo, hi = interval(paired(runs, "price_over_floor"))
    assert lo > 0, (lo, hi)


def test_outside_buyers_leave_the_firms_less_rented_compute(runs: pd.DataFrame) -> None:
    lo, hi = interval(paired(runs, "firm_rented_h100e"))
    assert hi < 0, (lo, hi)


def test_no_outside_buyers_while_the_model_layer_earns_everything() -> None:
    """At share 1 (the whole market in the model layer) the ratio changes nothing: the same seed,
    the same tables."""
    whole = {"model_layer_share": 1.0}
    base = scenario_with(end="2023-12", demand=whole)
    other = scenario_with(
        end="2023-12", name="ratio_10", demand=whole, compute={"outside_compute_per_rmb": 10.0}
    )
    m = run_many([base, other], 1, root_seed=5, record_firms=False)[0].metrics
    cols = [c for c in m.columns if c != "scenario"]
    a, b = (m[m["scenario"] == s][cols].reset_index(drop=True) for s in (base.name, "ratio_10"))
    assert len(a) == 36
    pd.testing.assert_frame_equal(a, b)
