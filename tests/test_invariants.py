"""Accounting invariants over several seeds: money, head-count and users are conserved; shares
sum to one; nothing is negative or NaN where it must not be."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.runner import RunResult, run_replication
from sim.scenario import Scenario

from .conftest import scenario_with

SEEDS = (1, 2, 3)
INFLOWS = [
    "entry_capital_m_rmb",
    "vc_in_m_rmb",
    "gov_equity_in_m_rmb",
    "revenue_m_rmb",
    "subsidy_in_m_rmb",
    "parent_in_m_rmb",
    "debt_settled_m_rmb",
    "ipo_in_m_rmb",
    "strategic_in_m_rmb",  # a backer's stake is negative here, the start-up's positive
]
OUTFLOWS = [
    "staff_cost_m_rmb",
    "compute_cost_m_rmb",
    "inference_cost_m_rmb",
    "overhead_m_rmb",
    "compliance_cost_m_rmb",
    "acquisition_cost_m_rmb",
    "chip_purchase_m_rmb",
]


@pytest.fixture(scope="module")
def through_shakeout() -> Scenario:
    """The baseline to 2026-12: entry wave, filing duty, price war and most exits."""
    return scenario_with(end="2026-12")


@pytest.fixture(scope="module", params=SEEDS)
def run(request: pytest.FixtureRequest, through_shakeout: Scenario) -> RunResult:
    return run_replication(through_shakeout, seed=request.param)


def test_cash_is_conserved_firm_by_firm(run: RunResult) -> None:
    f = run.firms.sort_values(["firm_id", "month"])
    previous = f.groupby("firm_id")["cash_m_rmb"].shift(1).fillna(0.0)
    expected = previous + f[INFLOWS].sum(axis=1) - f[OUTFLOWS].sum(axis=1)
    np.testing.assert_allclose(f["cash_m_rmb"], expected, rtol=0, atol=1e-6)


def test_market_totals_equal_the_sum_over_firms(run: RunResult) -> None:
    by_month = run.firms.groupby("month")[
        ["revenue_m_rmb", "vc_in_m_rmb", "subsidy_in_m_rmb"]
    ].sum()
    m = run.metrics.set_index("month")
    joined = m.join(by_month.add_suffix("_firms")).fillna(0.0)
    np.testing.assert_allclose(joined["vc_invested_m_rmb"], joined["vc_in_m_rmb_firms"], atol=1e-6)
    np.testing.assert_allclose(
        joined["subsidies_paid_m_rmb"], joined["subsidy_in_m_rmb_firms"], atol=1e-6
    )
    np.testing.assert_allclose(joined["revenue_m_rmb"], joined["revenue_m_rmb_firms"], rtol=1e-9)


def test_users_are_conserved(run: RunResult) -> None:
    m = run.metrics
    held = m["users_m"] + m["outside_users_m"] + m["users_awaiting_choice_m"]
    np.testing.assert_allclose(held, m["adopters_m"], rtol=1e-9, atol=1e-9)
    assert (np.diff(m["adopters_m"]) >= -1e-9).all()  # adopters never fall


def test_head_count_within_the_talent_pool(run: RunResult) -> None:
    m = run.metrics
    assert (m["frontier_employed"] <= m["frontier_pool"] * (1 + 1e-9)).all()
    present = run.firms[run.firms["status"].isin(["active", "app_layer"])]
    staff = present.groupby("month")["frontier_staff"].sum()
    np.testing.assert_allclose(m.set_index("month").loc[staff.index, "frontier_employed"], staff)


def test_served_usage_never_exceeds_the_capacity_a_firm_holds(run: RunResult) -> None:
    f = run.firms
    needed = f["served_usage_m_rmb"] * f["serving_h100e_per_m_rmb"]
    assert (needed <= f["serve_h100e"] * (1 + 1e-9) + 1e-9).all()
    assert (f["serve_h100e"] <= f["capacity_h100e"] * (1 + 1e-9) + 1e-9).all()
    assert (f["served_usage_m_rmb"] <= f["demand_usage_m_rmb"] * (1 + 1e-9) + 1e-12).all()


def test_firms_own_no_more_chips_than_exist(run: RunResult) -> None:
    m = run.metrics
    share = scenario_with(end="2026-12").compute.fm_share_of_capacity
    assert (m["firm_owned_h100e"] <= share * m["installed_h100e"] * (1 + 1e-9)).all()


def test_adopters_never_exceed_the_population(run: RunResult) -> None:
    m = run.metrics
    ceiling = scenario_with(end="2026-12").demand.consumer_ceiling_m
    assert (m["consumer_adopters_m"] <= ceiling * (1 + 1e-9)).all()


def test_shares_and_concentration_are_shares(run: RunResult) -> None:
    m = run.metrics
    for col in ("hhi_users", "cr3_users", "hhi_revenue", "cr3_revenue", "domestic_chip_share"):
        assert m[col].between(0, 1 + 1e-12).all(), col
    assert (m["hhi_users"] <= m["cr3_users"] + 1e-12).all()  # sum s^2 <= sum of top-3 s


def test_nothing_negative_or_nan(run: RunResult) -> None:
    m = run.metrics[run.metrics["active_developers"] > 0]
    # The start-ups' ratio is NaN while no start-up has pre-trained all year so far (checked
    # against the panel below); it and their net loss are negative for start-ups in profit.
    numeric = m.select_dtypes("number").drop(columns="startup_loss_to_revenue_ytd")
    assert not numeric.isna().any().any(), numeric.columns[numeric.isna().any()].tolist()
    signed = {"capability_gap_log10", "startup_net_loss_m_rmb"}
    negative = [c for c in numeric if c not in signed and (numeric[c] < 0).any()]
    assert negative == []
    f = run.firms.select_dtypes("number")
    assert not f.isna().any().any()
    # Only a bankrupt firm, in its exit month, may show negative cash; a backer's stake is an
    # outflow recorded as a negative strategic inflow.
    neg_cash = run.firms[run.firms["cash_m_rmb"] < 0]
    assert set(neg_cash["status"]) <= {"bankrupt"}
    # log10 capabilities are negative for a stock below one H100e-month: not quantities.
    logs = [c for c in f if c.endswith("_log10")]
    assert not (f.drop(columns=["cash_m_rmb", "strategic_in_m_rmb", *logs]) < 0).any().any()


def test_each_firm_exits_at_most_once_and_then_disappears(run: RunResult) -> None:
    f = run.firms
    exits = f[~f["status"].isin(["active", "app_layer"])]
    assert exits["firm_id"].is_unique
    last_month = f.groupby("firm_id")["month"].max()
    assert (last_month.loc[exits["firm_id"]].to_numpy() == exits["month"].to_numpy()).all()
    events = run.events[run.events["event"].isin(["bankrupt", "acquired"])]
    assert sorted(events["firm_id"]) == sorted(exits["firm_id"])


def test_a_pivot_is_a_one_way_move_to_the_application_layer(run: RunResult) -> None:
    f = run.firms.sort_values(["firm_id", "month"])
    app = f["status"].eq("app_layer")
    was_app = app.groupby(f["firm_id"]).shift(1, fill_value=False).astype(bool)
    assert not (was_app & f["status"].eq("active")).any()
    pivoted = set(run.events.loc[run.events["event"] == "pivoted", "firm_id"])
    assert set(f.loc[app, "firm_id"]) <= pivoted
    assert (f.loc[app, "frontier_staff"] == 0).all() and (f.loc[app, "rd_budget_m_rmb"] == 0).all()


def test_active_counts_match_the_panel(run: RunResult) -> None:
    dev = run.firms[(run.firms["status"] == "active") & run.firms["developer"]]
    counts = dev.groupby(["month", "kind"]).size().unstack(fill_value=0)
    m = run.metrics.set_index("month")
    for kind in counts.columns:
        pd.testing.assert_series_equal(
            m.loc[counts.index, f"active_{kind}"], counts[kind], check_names=False
        )
    app = run.firms[run.firms["status"] == "app_layer"].groupby("month").size()
    pd.testing.assert_series_equal(
        m.loc[app.index, "app_layer_firms"], app, check_names=False, check_dtype=False
    )


COSTS = [
    "staff_cost_m_rmb",
    "compute_cost_m_rmb",
    "inference_cost_m_rmb",
    "overhead_m_rmb",
    "compliance_cost_m_rmb",
]


def test_start_up_accounts_match_the_firm_panel(run: RunResult) -> None:
    """The start-ups' metrics (kept from year-to-date columns of the firm table) equal the same
    quantities rebuilt from the firm panel's monthly flows: pooled revenue and net loss of the
    pre-training start-ups each month, and in December the median, over start-ups that pre-trained
    all year, of the year's net loss over its revenue."""
    f = run.firms
    f = f.assign(loss=f[COSTS].sum(axis=1) - f["revenue_m_rmb"] - f["subsidy_in_m_rmb"])
    pre = f[(f["kind"] == "startup") & (f["status"] == "active")]
    m = run.metrics.set_index("month")
    pooled = pre.groupby("month")[["revenue_m_rmb", "loss"]].sum().reindex(m.index, fill_value=0)
    np.testing.assert_allclose(m["startup_revenue_m_rmb"], pooled["revenue_m_rmb"], atol=1e-6)
    np.testing.assert_allclose(m["startup_net_loss_m_rmb"], pooled["loss"], atol=1e-6)
    checked = 0
    for year in (2023, 2024, 2025):
        in_year = pre[pre["date"].astype(str).str.startswith(str(year))]
        per_firm = in_year.groupby("firm_id").agg(
            months=("month", "size"), revenue=("revenue_m_rmb", "sum"), loss=("loss", "sum")
        )
        full = per_firm[per_firm["months"] == 12]
        december = m.loc[m["date"] == f"{year}-12", "startup_loss_to_revenue_ytd"].iloc[0]
        if full.empty:
            assert np.isnan(december)
            continue
        ratio = np.where(
            full["revenue"] > 0, full["loss"] / full["revenue"].where(full["revenue"] > 0), np.inf
        )
        assert december == pytest.approx(float(np.median(ratio)), rel=1e-9)
        checked += 1
    assert checked >= 2  # start-ups pre-train through whole years in the baseline
