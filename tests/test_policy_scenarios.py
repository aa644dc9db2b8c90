"""Each policy scenario moves the market in the direction its mechanism implies.

All scenarios run with the same replication seeds (common random numbers) to 2027-12; effects are
paired differences scenario - baseline per replication. Mechanical channels (prices, shares, money
flows) must move in every replication; outcomes that depend on which firms happen to fail (counts of
survivors) are judged by the median and mean of the paired differences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.calendar import parse_month
from sim.runner import RunResult, run_many

from .conftest import SCENARIOS, scenario_with

NAMES = (
    "baseline",
    "no_export_controls",
    "full_decoupling",
    "domestic_chip_push",
    "subsidy_boom",
    "no_subsidies",
    "vc_winter",
    "open_source_push",
    "strict_regulation",
)
SEEDS = 6


@pytest.fixture(scope="module")
def runs() -> RunResult:
    from sim.scenario import load_scenario

    scenarios = [load_scenario(SCENARIOS / f"{n}.yaml", {"end": "2027-12"}) for n in NAMES]
    return run_many(scenarios, SEEDS, root_seed=7, workers=2)[0]


def effect(
    runs: RunResult, scenario: str, column: str, first: str, last: str | None = None
) -> pd.Series:
    """Paired difference scenario - baseline of ``column`` averaged over months first..last."""
    m = runs.metrics
    lo, hi = parse_month(first), parse_month(last or first)
    window = m[m["month"].between(lo, hi)]
    per = window.groupby(["scenario", "replication"])[column].mean().unstack()
    return per.loc[scenario] - per.loc["baseline"]


def test_lifting_export_controls_cheapens_compute_and_shrinks_domestic_share(
    runs: RunResult,
) -> None:
    price = effect(
        runs, "no_export_controls", "compute_price_m_rmb_per_h100e_month", "2023-01", "2026-12"
    )
    assert (price < 0).all(), price
    assert (effect(runs, "no_export_controls", "domestic_chip_share", "2026-12") < 0).all()
    assert effect(runs, "no_export_controls", "capability_gap_log10", "2026-12").median() < 0
    assert (effect(runs, "no_export_controls", "revenue_m_rmb", "2027-01", "2027-12") > 0).all()


def test_full_decoupling_raises_compute_price_domestic_share_and_cuts_vc(runs: RunResult) -> None:
    price = effect(
        runs, "full_decoupling", "compute_price_m_rmb_per_h100e_month", "2025-01", "2027-12"
    )
    assert (price > 0).all(), price
    assert (effect(runs, "full_decoupling", "domestic_chip_share", "2026-12") > 0).all()
    assert (effect(runs, "full_decoupling", "vc_invested_m_rmb", "2025-01", "2027-12") < 0).all()


def test_domestic_chip_push_raises_domestic_share_and_cheapens_compute(runs: RunResult) -> None:
    assert (effect(runs, "domestic_chip_push", "domestic_chip_share", "2026-12") > 0).all()
    price = effect(
        runs, "domestic_chip_push", "compute_price_m_rmb_per_h100e_month", "2024-01", "2026-12"
    )
    assert (price < 0).all(), price


def test_subsidies_pay_more_and_support_startups(runs: RunResult) -> None:
    boom = effect(runs, "subsidy_boom", "subsidies_paid_m_rmb", "2023-01", "2027-12")
    assert (boom > 0).all()
    # Subsidies extend runways: more start-ups are alive while the shakeout runs (the effect
    # fades once it is over; reported, not asserted).
    startups = effect(runs, "subsidy_boom", "active_startup", "2024-01", "2025-12")
    assert startups.median() >= 0 and startups.mean() >= 0, startups.tolist()


def test_without_subsidies_no_programme_pays_and_startups_do_not_gain(runs: RunResult) -> None:
    ev = runs.events
    paid = ev[
        (ev["scenario"] == "no_subsidies") & ev["event"].isin(["subsidy", "government_equity"])
    ]
    assert paid.empty
    for first, last in (("2024-01", "2024-12"), ("2025-01", "2025-12")):
        startups = effect(runs, "no_subsidies", "active_startup", first, last)
        assert startups.median() <= 0 and startups.mean() < 0, (first, startups.tolist())


def test_vc_winter_cuts_funding_and_developers(runs: RunResult) -> None:
    assert (effect(runs, "vc_winter", "vc_invested_m_rmb", "2024-01", "2027-12") < 0).all()
    active = effect(runs, "vc_winter", "active_developers", "2025-12")
    assert (active <= 0).all() and active.median() < 0, active.tolist()


def test_open_weights_lift_the_floor_and_level_the_field(runs: RunResult) -> None:
    assert (effect(runs, "open_source_push", "open_floor_log10", "2025-06") > 0).all()
    cr3 = effect(runs, "open_source_push", "cr3_users", "2024-06", "2025-06")
    assert (cr3 < 0).all(), cr3.tolist()


def test_strict_regulation_delays_approval_and_thins_the_field(runs: RunResult) -> None:
    ev = runs.events
    approved = ev[ev["event"] == "filing_approved"].groupby("scenario")["month"].mean()
    assert approved["strict_regulation"] > approved["baseline"]
    active = effect(runs, "strict_regulation", "active_developers", "2025-12")
    assert active.median() < 0 and (active <= 0).mean() >= 0.8, active.tolist()


def test_common_random_numbers_make_a_renamed_copy_identical() -> None:
    """The issue's check: baseline versus itself under another name differs by exactly zero."""
    from sim.compare import headline_table
    from sim.summary import replication_outcomes

    base = scenario_with(end="2025-12")
    copy = scenario_with(end="2025-12", name="baseline_copy")
    res = run_many([base, copy], 2, root_seed=11)[0]
    m = res.metrics
    a = m[m["scenario"] == "baseline"].drop(columns="scenario").reset_index(drop=True)
    b = m[m["scenario"] == "baseline_copy"].drop(columns="scenario").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    table = headline_table(replication_outcomes(res.metrics, res.events), "baseline")
    diffs = table[table["scenario"] == "baseline_copy"][["diff_median", "diff_p10", "diff_p90"]]
    assert len(diffs) > 10 and np.allclose(diffs.to_numpy(), 0.0)
