"""Stylized facts of the source report, checked over several seeds (horizon to 2028-12).

These are properties the mechanisms must produce, not numbers pasted from a run: an entry wave after
ChatGPT, tens of developers in mid-2023, a shakeout leaving a few strong players that are mostly
megatechs, a market growing by orders of magnitude to the order of iiMedia's forecast; chance
(different winners across seeds); and, as a control, little concentration and a weaker shakeout
when returns to scale and network effects are switched off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.calendar import parse_month
from sim.runner import RunResult, run_scenario
from sim.summary import annual_market_bn_rmb

from .conftest import ROOT, baseline_plus_firm, scenario_with

SEEDS = 6
CHATGPT = parse_month("2022-11")
WEAK_RETURNS = {
    # No returns to quality beyond a trace, no data feedback, no ecosystem utility or lock-in,
    # and no escalation of the frontier spenders' budgets.
    "demand": {"capability_weight": 0.3, "ecosystem_weight": 0.0, "ecosystem_churn_reduction": 0.0},
    "technology": {"data_feedback_log10_per_decade_users": 0.0},
    "firms": {"kinds": {"megatech": {"budget_growth_per_year": 0.0}}},
}


@pytest.fixture(scope="module")
def base() -> RunResult:
    return run_scenario(scenario_with(end="2028-12"), SEEDS, root_seed=2023)[0]


@pytest.fixture(scope="module")
def weak() -> RunResult:
    return run_scenario(scenario_with(end="2028-12", **WEAK_RETURNS), SEEDS, root_seed=2023)[0]


def at(metrics: pd.DataFrame, date: str) -> pd.DataFrame:
    return metrics[metrics["date"] == date].set_index("replication")


def survival_ratio(metrics: pd.DataFrame) -> pd.Series:
    """Active developers at the end over the peak, per replication."""
    peak = metrics.groupby("replication")["active_developers"].max()
    return at(metrics, "2028-12")["active_developers"] / peak


def test_entry_wave_after_chatgpt(base: RunResult) -> None:
    m = base.metrics
    before = m[m["month"].between(CHATGPT - 8, CHATGPT - 1)].groupby("replication")["entries"].sum()
    after = m[m["month"].between(CHATGPT + 1, CHATGPT + 8)].groupby("replication")["entries"].sum()
    assert (after >= 3 * before).all(), pd.DataFrame({"before": before, "after": after})


def test_tens_of_developers_in_mid_2023(base: RunResult) -> None:
    active = at(base.metrics, "2023-07")["active_developers"]
    assert active.between(40, 120).all(), active.tolist()


def test_shakeout_after_the_peak(base: RunResult) -> None:
    m = base.metrics
    peak_month = m.loc[m.groupby("replication")["active_developers"].idxmax(), "month"]
    assert peak_month.between(parse_month("2023-01"), parse_month("2025-12")).all()
    ratio = survival_ratio(m)
    # Most of the peak's developers are gone by 2028 (the median replication), and at least
    # two in five in every replication.
    assert ratio.median() <= 0.5 and (ratio <= 0.6).all(), ratio.tolist()


def test_a_few_megatechs_hold_most_users(base: RunResult) -> None:
    end = at(base.metrics, "2028-12")
    assert (end["cr3_users"] > 0.5).all(), end["cr3_users"].tolist()
    firms = base.firms[(base.firms["date"] == "2028-12") & (base.firms["status"] == "active")]
    top3 = firms.sort_values("users_m", ascending=False).groupby("replication").head(3)
    megatechs = top3.groupby("replication")["kind"].apply(lambda k: int((k == "megatech").sum()))
    assert (megatechs >= 2).all(), megatechs.tolist()


def test_market_grows_by_orders_of_magnitude_to_iimedias_order(base: RunResult) -> None:
    targets = pd.read_csv(ROOT / "calibration" / "targets.csv")
    iimedia = targets[targets["target"] == "market_size"].set_index("period")["value"]
    annual = annual_market_bn_rmb(base.metrics).pivot(
        index="replication", columns="year", values="market_bn_rmb"
    )
    assert (annual[2028] / annual[2023] >= 10).all()
    for year in (2023, 2028):
        ratio = annual[year] / iimedia[str(year)]
        # Same order of magnitude (before calibration): within a factor of three.
        assert ratio.between(1 / 3, 3).all(), (year, ratio.tolist())


def test_the_leader_differs_across_replications(base: RunResult) -> None:
    firms = base.firms[base.firms["date"] == "2028-12"]
    leaders = firms.sort_values("users_m", ascending=False).groupby("replication").head(1)
    assert leaders["firm"].nunique() >= 2, leaders["firm"].tolist()


def _with_probe(efficiency: float) -> RunResult:
    """The baseline plus one start-up entering 2024-01 with typical seed money."""
    probe = {
        "name": "Probe",
        "kind": "startup",
        "entry": "2024-01",
        "cash_m_rmb": 300.0,
        "efficiency": efficiency,
        "source": "test probe",
    }
    return run_scenario(baseline_plus_firm("2028-12", probe), 8, root_seed=11)[0]


def test_a_late_entrant_with_an_efficiency_edge_can_break_in() -> None:
    """Paired over common seeds: the same late entrant, 5x versus 1x research efficiency."""

    def outcome(result: RunResult) -> tuple[int, pd.Series]:
        probe = result.firms[result.firms["firm"] == "Probe"]
        last = probe.sort_values("month").groupby("replication").tail(1)
        end = result.firms[
            (result.firms["date"] == "2028-12") & (result.firms["status"] == "active")
        ].copy()
        end["rank"] = end.groupby("replication")["revenue_m_rmb"].rank(ascending=False)
        return int(last["status"].eq("active").sum()), end.loc[end["firm"] == "Probe", "rank"]

    edge_survivors, edge_ranks = outcome(_with_probe(5.0))
    plain_survivors, _ = outcome(_with_probe(1.0))
    assert edge_survivors >= 2 and edge_survivors > plain_survivors + 1
    # Breaking in: among the ten largest developers by revenue (there are seven megatechs).
    assert (edge_ranks <= 10).sum() >= 2, edge_ranks.tolist()


def test_weak_returns_and_no_network_effects_weaken_the_shakeout(
    base: RunResult, weak: RunResult
) -> None:
    base_ratio, weak_ratio = survival_ratio(base.metrics), survival_ratio(weak.metrics)
    assert np.median(weak_ratio) >= 1.3 * np.median(base_ratio), (base_ratio, weak_ratio)
    assert (weak_ratio > base_ratio).all()  # common seeds: every replication pair
    weak_cr3 = at(weak.metrics, "2028-12")["cr3_users"]
    assert (weak_cr3 < 0.35).all(), weak_cr3.tolist()
