"""Reproducibility: same scenario and seed, identical tables, whatever the number of workers."""

from __future__ import annotations

import pandas as pd

from sim.runner import TABLES, run_replication, run_scenario
from sim.scenario import Scenario

from .conftest import baseline_plus_firm, scenario_with


def test_same_seed_same_tables(short_scenario: Scenario) -> None:
    a = run_replication(short_scenario, seed=42)
    b = run_replication(short_scenario, seed=42)
    for t in TABLES:
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))


def test_different_seeds_differ(short_scenario: Scenario) -> None:
    a = run_replication(short_scenario, seed=1).metrics
    b = run_replication(short_scenario, seed=2).metrics
    assert not a["entries"].equals(b["entries"])


def test_worker_count_does_not_change_results() -> None:
    sc = scenario_with(end="2023-12")
    one, seeds_one = run_scenario(sc, replications=3, root_seed=5, workers=1)
    two, seeds_two = run_scenario(sc, replications=3, root_seed=5, workers=2)
    assert seeds_one == seeds_two
    for t in TABLES:
        pd.testing.assert_frame_equal(getattr(one, t), getattr(two, t))
    assert list(one.metrics["replication"].unique()) == [0, 1, 2]


def test_replications_extend_without_changing_earlier_ones() -> None:
    sc = scenario_with(end="2023-06")
    three, _ = run_scenario(sc, replications=3, root_seed=9)
    two, _ = run_scenario(sc, replications=2, root_seed=9)
    pd.testing.assert_frame_equal(
        three.metrics[three.metrics["replication"] < 2].reset_index(drop=True), two.metrics
    )


def test_adding_a_named_firm_keeps_other_entrants_traits() -> None:
    """Named firms draw from their own stream, so entrants after a new named firm keep their
    traits (the stream of entrant traits is not shifted)."""
    base = scenario_with(end="2023-08")
    extra = {
        "name": "Extra",
        "kind": "megatech",
        "entry": "2023-01",
        "cash_m_rmb": 0.0,
        "budget_m_rmb_per_month": 5.0,
        "source": "test",
    }
    more = baseline_plus_firm("2023-08", extra)

    def entrant_traits(sc: Scenario) -> pd.Series:
        f = run_replication(sc, seed=3).firms
        first = f[~f["roster"]].sort_values("month").groupby("firm").head(1)
        return first.set_index("firm").sort_index()[["entry_month", "efficiency"]]

    a, b = entrant_traits(base), entrant_traits(more)
    common = a.index.intersection(b.index)
    assert (a.loc[common, "entry_month"] >= 24).sum() >= 5  # entrants after the new firm
    pd.testing.assert_frame_equal(a.loc[common, ["efficiency"]], b.loc[common, ["efficiency"]])


def test_a_firms_luck_does_not_depend_on_what_it_did_before() -> None:
    """Luck (users' taste shocks, funds' reading of a pitch) is drawn by the calendar, so a
    named firm has the same luck in a month whether or not a scenario made it raise money, pivot
    or lose users earlier: common random numbers survive policies that change what firms do."""
    from sim.model import GenAIMarket
    from sim.state import Luck

    months = 40  # to 2024-04: several luck blocks after the ChatGPT entry wave
    calm = GenAIMarket(scenario_with(end="2030-12"), seed=8)
    harsh = GenAIMarket(
        scenario_with(end="2030-12", capital={"inflow_2021_m_rmb_per_month": 3.0}), seed=8
    )
    for model in (calm, harsh):
        for _ in range(months):
            model.step()
    assert calm.month_flows["vc_invested_m_rmb"] != harsh.month_flows["vc_invested_m_rmb"]
    shared = sorted(
        {f.name for f in calm.firm_agents if f.roster} & {f.name for f in harsh.firm_agents}
    )
    assert len(shared) >= 5

    def luck(model: GenAIMarket) -> list[list[float]]:
        rows = [model.agent_by_name[name].row for name in shared]
        return [model.luck(kind, rows).tolist() for kind in Luck]

    assert luck(calm) == luck(harsh)
