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

from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.runner import run_many
from sim.scenario import Scenario

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
    m = with_price_over_floor(paired_runs([outside, alone], ROOT_SEEDS, REPLICATIONS).metrics)
    m["firm_rented_h100e"] = m["firm_capacity_h100e"] - m["firm_owned_h100e"]
    return m


def with_price_over_floor(m: pd.DataFrame) -> pd.DataFrame:
    """The metrics with the compute price over its cost floor as a column."""
    m["price_over_floor"] = (
        m["compute_price_m_rmb_per_h100e_month"] / m["compute_price_floor_m_rmb"]
    )
    return m


def window_means(m: pd.DataFrame, column: str, window: tuple[str, str]) -> pd.DataFrame:
    """A column's mean over the months of ``window``: one row per (root, replication), one
    column per scenario."""
    within = m[m["date"].between(*window)]
    return within.groupby(["scenario", "root", "replication"])[column].mean().unstack("scenario")


def assert_same_metrics(base: Scenario, other: Scenario, months: int) -> None:
    """``base`` and ``other`` give the same metrics, month by month, on the same seed."""
    m = run_many([base, other], 1, root_seed=5, record_firms=False)[0].metrics
    cols = [c for c in m.columns if c != "scenario"]
    a, b = (m[m["scenario"] == s][cols].reset_index(drop=True) for s in (base.name, other.name))
    assert len(a) == months
    pd.testing.assert_frame_equal(a, b)


def paired(m: pd.DataFrame, column: str) -> np.ndarray:
    """Outside buyers minus none of a column's 2024-2025 mean, one value per (root, replication)."""
    per = window_means(m, column, WINDOW)
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
    assert_same_metrics(base, other, 36)


# -- The need-based bid (compute.outside_compute_basis: serving_need), a sensitivity switch -------


def test_the_need_based_bid_by_hand() -> None:
    """Share 0.2 and a serving plan of 100 H100e: the outside buyers need 1 x 0.8 / 0.2 x 100 =
    400 H100e. At twice the floor (0.01) they bid their need at cost (4.0) with elasticity 1,
    at the price (8.0) with 0, half their need at the price (2.0) with 2; at or below the floor
    every elasticity bids the need at cost; with the whole market in the model layer, nothing."""
    from sim.markets.compute import outside_compute_money_for_need as bid

    assert bid(100.0, 0.2, 1.0, 1.0, 0.02, 0.01) == pytest.approx(4.0)
    assert bid(100.0, 0.2, 1.0, 0.0, 0.02, 0.01) == pytest.approx(8.0)
    assert bid(100.0, 0.2, 1.0, 2.0, 0.02, 0.01) == pytest.approx(2.0)
    assert bid(100.0, 0.2, 2.5, 1.0, 0.02, 0.01) == pytest.approx(10.0)  # scales with the multiple
    for elasticity in (0.0, 1.0, 2.0):
        assert bid(100.0, 0.2, 1.0, elasticity, 0.005, 0.01) == pytest.approx(4.0)
    assert bid(100.0, 1.0, 1.0, 1.0, 0.02, 0.01) == 0.0


NEED_WINDOW = ("2025-01", "2026-12")


@pytest.fixture(scope="module")
def need_runs() -> pd.DataFrame:
    """The calibrated baseline to 2026 with the end-spending bid, the need-based bid, and the
    need-based bid at elasticity 0 and at half the serving multiple; common random numbers over
    three root seeds."""
    need = {"outside_compute_basis": "serving_need"}
    scenarios = [
        scenario_with(end="2026-12", name="spending"),
        scenario_with(end="2026-12", name="need", compute=need),
        scenario_with(
            end="2026-12", name="need_inelastic", compute={**need, "outside_price_elasticity": 0.0}
        ),
        scenario_with(
            end="2026-12", name="need_half", compute={**need, "outside_serving_multiple": 1.0}
        ),
    ]
    m = with_price_over_floor(paired_runs(scenarios, ROOT_SEEDS, REPLICATIONS).metrics)
    return window_means(m, "price_over_floor", NEED_WINDOW)


def test_a_need_based_bid_lowers_the_price_of_compute(need_runs: pd.DataFrame) -> None:
    """Bidding the need valued at cost instead of a fixed share of nominal end spending lowers
    the 2025-2026 price over its floor (measured over these 12 pairs: 2.06 on average, range
    1.87-2.25, against 3.56, range 3.24-3.79)."""
    lo, hi = interval(need_runs["need"] - need_runs["spending"])
    assert hi < 0, (lo, hi)


def test_the_outside_price_elasticity_binds(need_runs: pd.DataFrame) -> None:
    """Outside buyers who take their whole need at any price (elasticity 0) hold the price
    higher than buyers who give way as it rises (elasticity 1; measured: 3.53 against 2.06)."""
    lo, hi = interval(need_runs["need_inelastic"] - need_runs["need"])
    assert lo > 0, (lo, hi)


def test_a_smaller_outside_need_lowers_the_price(need_runs: pd.DataFrame) -> None:
    """Half the serving multiple (1 against the default 2) lowers the price over its floor
    (measured: 1.59 against 2.06)."""
    lo, hi = interval(need_runs["need_half"] - need_runs["need"])
    assert hi < 0, (lo, hi)


@pytest.mark.parametrize("kernels", [False, True])
def test_the_clearing_receives_the_need_based_bid(
    monkeypatch: pytest.MonkeyPatch, kernels: bool
) -> None:
    """In the model, every month, the outside money handed to the compute market is the bid
    built from the model's own state: the summed serving plan (demanded usage x serving intensity
    x (1 + headroom)), the share, the multiple, the elasticity, last month's price and this
    month's floor. Spied on the numpy clearing and on the compiled one (whose fourth argument
    is the outside money)."""
    import sim.kernels.inputs as kernels_inputs
    import sim.phases.inputs as inputs
    from sim.markets.compute import outside_compute_money_for_need
    from sim.model import GenAIMarket

    compute = {
        "outside_compute_basis": "serving_need",
        "outside_serving_multiple": 1.7,
        "outside_price_elasticity": 0.6,
    }
    sc = scenario_with(end="2024-06", compute=compute)
    model = GenAIMarket(sc, seed=3, kernels=kernels)
    seen: list[tuple[float, float]] = []

    def want() -> float:
        t = model.table
        plan = np.add.reduce(
            t.demand_usage_m_rmb * model.serving_intensity() * (1 + sc.compute.serving_headroom)
        )
        return outside_compute_money_for_need(
            float(plan),
            sc.demand.model_layer_share,
            1.7,
            0.6,
            model.compute_price,
            model.price_floor,
        )

    if kernels:
        real_kernel = kernels_inputs.compute_clear

        def kernel_spy(*args: Any) -> Any:
            seen.append((args[3], want()))
            return real_kernel(*args)

        monkeypatch.setattr(kernels_inputs, "compute_clear", kernel_spy)
    else:
        real = inputs.clear_compute

        def spy(*args: Any, other_demand_m_rmb: float = 0.0, **kwargs: Any) -> Any:
            seen.append((other_demand_m_rmb, want()))
            return real(*args, other_demand_m_rmb=other_demand_m_rmb, **kwargs)

        monkeypatch.setattr(inputs, "clear_compute", spy)
    model.run()
    assert len(seen) > 24 and sum(got > 0 for got, _ in seen) > 12
    for got, want_m_rmb in seen:
        assert got == pytest.approx(want_m_rmb, rel=1e-12, abs=1e-12)


def test_need_parameters_change_nothing_under_the_spending_bid() -> None:
    """With the calibrated end-spending bid, the need-based bid's parameters are inert: the same
    seed, the same tables."""
    base = scenario_with(end="2024-12")
    other = scenario_with(
        end="2024-12",
        name="need_params",
        compute={"outside_serving_multiple": 7.0, "outside_price_elasticity": 0.0},
    )
    assert_same_metrics(base, other, 48)


def test_the_outside_bid_is_recorded() -> None:
    """The monthly metric ``outside_compute_bid_m_rmb`` is the end-spending bid: the ratio times
    the share outside the model layer times last month's AIGC core market (nothing in the first
    month, before any market is recorded)."""
    sc = scenario_with(end="2024-12", name="recorded")
    m = run_many([sc], 1, root_seed=4, record_firms=False)[0].metrics
    c, v = sc.compute.outside_compute_per_rmb, sc.demand.model_layer_share
    expected = c * (1 - v) * m["market_m_rmb"].shift(1).fillna(0.0)
    np.testing.assert_allclose(m["outside_compute_bid_m_rmb"], expected, rtol=1e-12)
    assert m["outside_compute_bid_m_rmb"].iloc[-1] > 0
