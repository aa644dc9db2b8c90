"""Stages as pure functions, against values computed by hand; the firm table; the recorder."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.scenario import Capital, Talent, Technology
from sim.stages import environment, finance, training
from sim.state import Account, FirmTable

from .conftest import ROOT


def _capital(**over: object) -> Capital:
    base = {"funds": ["A"], "inflow_2021_m_rmb_per_month": 100.0, "chatgpt_release": "2022-11"}
    return Capital.model_validate({**base, **over})


class TestEnvironment:
    def test_hype_decays_with_its_half_life(self) -> None:
        cap = _capital(chatgpt_shock=4.0, hype_half_life_months=10.0, growth_hype_weight=0.0)
        # 10 months after the shock: 1 + 4 * 0.5 = 3.
        assert environment.hype_index(32, 22, [], [], cap) == pytest.approx(3.0)

    def test_growth_counts_over_the_window_and_is_capped(self) -> None:
        cap = _capital(chatgpt_shock=0.0, growth_hype_weight=0.5, growth_window_months=2)
        # Market 1 -> 1.5 over two months: growth 0.5, hype 1 + 0.5 * 0.5.
        assert environment.hype_index(5, 99, [1.0, 9.0, 1.5], [], cap) == pytest.approx(1.25)
        # Growth 9 is capped at growth_hype_cap (2): 1 + 0.5 * 2.
        assert environment.hype_index(5, 99, [1.0, 0.0, 10.0], [], cap) == pytest.approx(2.0)

    def test_market_growth_needs_a_full_window_and_is_capped(self) -> None:
        cap = _capital(growth_window_months=2)
        assert environment.market_growth([1.0, 1.5], cap) == 0.0  # window not yet passed
        assert environment.market_growth([0.0, 1.0, 1.5], cap) == 0.0  # empty market then
        assert environment.market_growth([1.0, 9.0, 1.5], cap) == pytest.approx(0.5)
        assert environment.market_growth([1.0, 0.0, 10.0], cap) == pytest.approx(
            cap.growth_hype_cap
        )

    def test_growth_on_a_base_below_materiality_counts_against_the_materiality(self) -> None:
        cap = _capital(growth_window_months=2, growth_materiality_m_rmb_per_month=5.0)
        # 1 -> 6 is 500 % on its own base but an increase of 5 on a material base of 5: 1.0.
        assert environment.market_growth([1.0, 9.0, 6.0], cap) == pytest.approx(1.0)
        # From an empty market too: 1.5 over the base of 5.
        assert environment.market_growth([0.0, 1.0, 1.5], cap) == pytest.approx(0.3)
        # Above the materiality the market's own base counts: 10 -> 15 is 0.5.
        assert environment.market_growth([10.0, 1.0, 15.0], cap) == pytest.approx(0.5)
        # Falling markets are measured the same way: 1 -> 0 is a fall of 1 on a base of 5.
        assert environment.market_growth([1.0, 1.0, 0.0], cap) == pytest.approx(-0.2)

    def test_failures_weigh_within_memory_and_hype_has_a_floor(self) -> None:
        cap = _capital(chatgpt_shock=0.0, failure_penalty=0.3, failure_memory_months=12)
        # Bankruptcies in months 0 and 10; in month 12 only the second counts: 1 - 0.3.
        assert environment.hype_index(12, 99, [], [0, 10], cap) == pytest.approx(0.7)
        assert environment.hype_index(12, 99, [], [10] * 10, cap) == pytest.approx(cap.hype_floor)

    def test_talent_pool_by_hand(self) -> None:
        t = Talent(
            frontier_pool_2021_people=1000,
            frontier_inflow_people_per_month=10,
            frontier_attrition_per_month=0.01,
            inflow_wage_elasticity=1.0,
            upskilling_per_frontier_researcher_month=0.01,
            institute_training_people_per_month=2,
            frontier_wage_2021_m_rmb_per_year=1.0,
            basic_wage_m_rmb_per_year=0.4,
        )
        # 1000 - 10 + 10 * 0.5 * 2 (wage doubled) + 2 * 3 + 0.01 * 500
        new = environment.frontier_pool_step(1000, 500, 3, 2.0, 0.5, t)
        assert new == pytest.approx(1000 - 10 + 10 + 6 + 5)


class TestFinance:
    def test_runway(self) -> None:
        r = finance.runway_months(np.array([100.0, -5.0, 50.0]), np.array([10.0, 10.0, 0.0]))
        np.testing.assert_allclose(r, [10.0, 0.0, np.inf])

    def test_budgets_by_hand(self) -> None:
        # Committed 10 + min(0.1 * 200, 120 / 6) + 0.5 * max(8, 0) = 10 + 20 + 4.
        # Second firm: cash 30 caps ambition at 30 / 6 = 5; negative margin adds nothing.
        b = finance.plan_budgets(
            budget_m_rmb_per_month=np.array([10.0, 0.0]),
            cash_m_rmb=np.array([120.0, 30.0]),
            operating_margin_m_rmb=np.array([8.0, -3.0]),
            top_budget_m_rmb=200.0,
            ambition_share=np.array([0.1, 0.1]),
            min_runway_months=np.array([6.0, 6.0]),
            reinvest_share=np.array([0.5, 0.5]),
        )
        np.testing.assert_allclose(b, [34.0, 5.0])

    def test_commitments_grow_only_for_established_firms(self) -> None:
        g = finance.grow_commitments(
            np.array([12.0, 12.0]), np.array([1.0, 1.0]), np.array([True, False])
        )
        np.testing.assert_allclose(g, [12.0 * 2 ** (1 / 12), 12.0])

    def test_funding_scores_by_hand(self) -> None:
        s = finance.funding_scores(
            np.array([3.6, 3.0]),
            3.3,
            np.array([5, 20]),
            np.array([9.0, 0.0]),
            np.array([0.1, 0.0]),
            scale_log10=0.3,
            herding_weight=0.5,
            herding_window_months=12,
        )
        # (0.3 / 0.3) + 0.5 + log10(10) + 0.1 ; (-0.3 / 0.3) + 0 + 0 + 0
        np.testing.assert_allclose(s, [2.6, -1.0])

    def test_settlement_books_parent_transfers_and_conserves_cash(self) -> None:
        flows = np.zeros((2, len(Account)))
        flows[:, Account.REVENUE] = [5.0, 5.0]
        flows[:, Account.STAFF_COST] = [20.0, 20.0]
        flows[:, Account.SUBSIDY_IN] = [1.0, 1.0]
        cash, burn = finance.settle(
            flows, np.array([2.0, 2.0]), np.array([3.0, 0.0]), np.array([True, False])
        )
        # Parent-backed: 2 + 5 + 1 + 3 - 20 = -9, rescued to 0 with 3 + 9 from the parent.
        np.testing.assert_allclose(cash, [0.0, -12.0])
        np.testing.assert_allclose(flows[:, Account.PARENT], [12.0, 0.0])
        np.testing.assert_allclose(burn, [14.0, 14.0])


class TestTraining:
    def test_capability_by_hand(self) -> None:
        tech = Technology(
            global_frontier_2021_log10=2.5,
            global_frontier_growth_log10_per_year=0.9,
            algorithmic_progress_log10_per_year=0.0,
            capability_obsolescence_per_month=0.5,
            talent_output_elasticity=0.5,
            flagship_share_of_compute=1.0,
            researcher_h100e_equivalent=1.0,
            data_feedback_log10_per_decade_users=0.0,
            open_weight_adoption_gap_log10=0.0,
        )
        stock, own, capability = training.train(
            0,
            compute_h100e=np.array([100.0]),
            frontier_staff=np.array([100.0]),
            efficiency=np.array([2.0]),
            effective_compute=np.array([1000.0]),
            users_total_m=np.array([0.0]),
            open_floor_log10=-np.inf,
            tech=tech,
        )
        # 1000 * 0.5 + 2 * 100 ** 0.5 * 100 ** 0.5 = 700; no open floor adds nothing.
        np.testing.assert_allclose(stock, [700.0])
        np.testing.assert_allclose(own, [math.log10(700.0)])
        np.testing.assert_allclose(capability, own)

    def test_spillovers_close_part_of_the_gap_to_the_leader(self) -> None:
        tech = Technology(
            global_frontier_2021_log10=2.5,
            global_frontier_growth_log10_per_year=0.9,
            capability_obsolescence_per_month=0.0,
            spillover_per_month=0.1,
            data_feedback_log10_per_decade_users=0.0,
        )
        stock, _, _ = training.train(
            0,
            compute_h100e=np.zeros(3),
            frontier_staff=np.zeros(3),
            efficiency=np.ones(3),
            effective_compute=np.array([1000.0, 100.0, 100.0]),
            users_total_m=np.zeros(3),
            open_floor_log10=-np.inf,
            tech=tech,
            learning=np.array([1.0, 1.0, 0.0]),
        )
        # The learner closes 10 % of 900; the leader and a firm that does not train do not move.
        np.testing.assert_allclose(stock, [1000.0, 190.0, 100.0])


class TestFirmTable:
    def test_append_grow_and_compact_keep_entry_order(self) -> None:
        t = FirmTable(n_segments=2, capacity=2)
        for fid in (10, 11, 12, 13):
            t.append(fid, cash_m_rmb=float(fid))
        t.users_m[2] = [1.0, 2.0]
        t.remove_rows(np.array([1]))
        np.testing.assert_array_equal(t.firm_id, [10, 12, 13])
        np.testing.assert_allclose(t.cash_m_rmb, [10.0, 12.0, 13.0])
        np.testing.assert_allclose(t.users_m[1], [1.0, 2.0])
        assert t.row(13) == 2
        with pytest.raises(KeyError):
            t.row(11)

    def test_several_exits_at_once_and_views_follow_the_rows(self) -> None:
        t = FirmTable(n_segments=1, capacity=4)
        for fid in range(6):  # grows past the first allocation
            t.append(fid, cash_m_rmb=float(fid), pretraining=fid % 2 == 0)
        cash = t.cash_m_rmb
        assert cash.size == 6
        t.remove_rows(np.array([0, 3, 4]))
        np.testing.assert_array_equal(t.firm_id, [1, 2, 5])
        np.testing.assert_allclose(t.cash_m_rmb, [1.0, 2.0, 5.0])
        np.testing.assert_array_equal(t.pretraining, [False, True, False])
        assert [t.row(f) for f in (1, 2, 5)] == [0, 1, 2]
        t.cash_m_rmb = 7.0  # a setter writes into the table, not into a stale view
        assert t.column_sums()["cash_m_rmb"] == pytest.approx(21.0)

    def test_column_sums_and_snapshot_match_the_columns(self) -> None:
        from sim.state import LAYOUT

        t = FirmTable(n_segments=1)
        for fid in range(3):
            t.append(fid, cash_m_rmb=fid + 0.5, pretraining=fid != 1)
        sums = t.column_sums()
        assert sums["cash_m_rmb"] == pytest.approx(4.5)
        assert sums["pretraining"] == 2
        assert t.column_sums(["cash_m_rmb", "pretraining"]) == {
            "cash_m_rmb": sums["cash_m_rmb"],
            "pretraining": 2.0,
        }
        picked = t.block_rows(np.array([2, 0]))
        block, j = LAYOUT["cash_m_rmb"]
        np.testing.assert_allclose(picked[block][:, j], [2.5, 0.5])
        t.cash_m_rmb[0] = -1.0  # rows picked by index are a copy
        assert picked[block][1, j] == 0.5
        assert t.block_rows(slice(None))[block][0, j] == -1.0  # a slice is a view

    def test_unknown_column_and_account_are_errors(self) -> None:
        t = FirmTable(n_segments=1)
        with pytest.raises(KeyError):
            t.append(1, cahs_m_rmb=1.0)
        with pytest.raises(AttributeError):
            _ = Account.REVENEU  # type: ignore[attr-defined]


def test_mesa_batch_run_drives_the_model() -> None:
    """Mesa's own batch runner can drive the model through its DataCollector interface."""
    import mesa

    from sim.model import GenAIMarket
    from sim.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml", {"end": "2022-06"})
    rows = mesa.batch_run(
        GenAIMarket,
        parameters={"scenario": [sc], "record_firms": False},  # a list: one value
        rng=[1, 2],
        max_steps=sc.n_months,
        data_collection_period=-1,
        display_progress=False,
    )
    assert len(rows) == 2
    assert sorted(r["iteration"] for r in rows) == [0, 1]
    direct = GenAIMarket(sc, seed=1, record_firms=False).run().datacollector.metrics_frame()
    assert rows[0]["active_developers"] == direct["active_developers"].iloc[-1]
    assert rows[0]["Step"] == sc.n_months


STAGE_FILES = [
    *sorted((ROOT / "sim" / "stages").glob("*.py")),
    *sorted((ROOT / "sim" / "markets").glob("*.py")),
    # The compiled stages (npmath's numbers are numpy's algorithms, recording's output slots).
    *(ROOT / "sim" / "kernels" / f"{name}.py" for name in ("demand", "exits", "finance", "inputs")),
]
#: Numbers a stage may write: identities, unit conversions (12 months, log base 10), half-life,
#: numerical guards. Anything else is a model assumption and belongs in the schema.
ALLOWED_LITERALS = {0, 1, 2, -1, 0.5, 12, 10, 1e-9, 1e-12}


@pytest.mark.parametrize("path", STAGE_FILES, ids=lambda p: Path(p).name)
def test_no_stray_constants_in_stages(path: Path) -> None:
    """Every behavioural constant is a schema field: stages hold no other literal numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    stray = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and node.value not in ALLOWED_LITERALS
    ]
    assert stray == [], f"{path.name}: literal numbers {stray}; make them schema fields"


class TestDecisions:
    def test_keeps_pretraining_above_the_floor_catching_up_or_defending(self) -> None:
        from sim.stages.decisions import keeps_pretraining

        keep = keeps_pretraining(
            own_log10=np.array([5.0, 4.0, 4.0, 4.0]),
            floor_log10=4.5,
            own_trend=np.array([0.0, 0.1, 0.02, 0.0]),
            floor_trend=0.05,
            horizon_months=np.array([12.0, 12.0, 12.0, 12.0]),
            user_share=np.array([0.0, 0.0, 0.0, 0.05]),
            defend_share=0.02,
        )
        # Above the floor; closes 0.5 at 0.05 a month in 10 months; never closes; defends users.
        np.testing.assert_array_equal(keep, [True, True, False, True])

    def test_penetration_needs_a_threat_money_and_a_small_share(self) -> None:
        from sim.stages.decisions import prices_for_penetration

        pen = prices_for_penetration(
            user_share=np.array([0.5, 0.05, 0.05, 0.05]),
            runway_months=np.array([1.0, 30.0, 3.0, 30.0]),
            parent_backed=np.array([False, False, False, False]),
            price=np.array([0.1, 1.0, 1.0, 1.0]),
            marginal_cost=np.array([0.1, 1.0, 1.0, 0.12]),
            target_share=0.1,
            min_runway_months=24,
            undercut=0.3,
        )
        # Firm 0 is the cheap contender itself; 1 can fund and the rival prices below its cost;
        # 2 cannot fund; 3's own cost (0.12) is not undercut by 0.1 by more than 30 %.
        np.testing.assert_array_equal(pen, [False, True, False, False])

    def test_keep_up_cost_by_hand(self) -> None:
        from sim.stages.decisions import keep_up_cost_m_rmb_per_month

        # t = 0.5: needed 0.1 * 100 = 10; unit = 4 ** 0.5 * (1 / 1) ** 0.5 / (0.5 * 2 ** 0.5 ...)
        cost = keep_up_cost_m_rmb_per_month(2.0, 0.1, 1.0, 0.5, 4.0, 1.0, 1.0)
        assert cost == pytest.approx(10 * 2.0 / (0.5**0.5 * 0.5**0.5))

    def test_entry_attractiveness_falls_with_cost_and_crowding(self) -> None:
        from sim.stages.decisions import entry_attractiveness

        # payoff 100 * 0.3 / 3 * 12 = 120; cost 60 + 10 * 12 = 180.
        assert entry_attractiveness(100, 2, 0.3, 12, 60, 10) == pytest.approx(120 / 180)
        assert entry_attractiveness(1000, 2, 0.3, 12, 60, 10) == 1.0
        assert entry_attractiveness(100, 5, 0.3, 12, 60, 10) < entry_attractiveness(
            100, 2, 0.3, 12, 60, 10
        )

    def test_expected_spending_extrapolates_growth_over_the_horizon(self) -> None:
        from sim.stages.decisions import expected_spend_multiple

        # No weight or no growth: today's spending throughout (exactly 1).
        assert expected_spend_multiple(3.0, 12, 0.0, 24) == 1.0
        assert expected_spend_multiple(0.0, 12, 1.0, 24) == 1.0
        assert expected_spend_multiple(-0.5, 12, 1.0, 24) == 1.0
        # The market grew 4x over a 12-month window: g = 3 a year; the path 4^t over two years
        # averages (4^2 - 1) / (2 ln 4).
        assert expected_spend_multiple(3.0, 12, 1.0, 24) == pytest.approx(15 / (2 * math.log(4)))
        # Half the weight: g = 1.5 a year, (2.5^2 - 1) / (2 ln 2.5).
        assert expected_spend_multiple(3.0, 12, 0.5, 24) == pytest.approx(
            5.25 / (2 * math.log(2.5))
        )
        # A 6-month window's growth of 1 (2x) is 3 a year (4x).
        assert expected_spend_multiple(1.0, 6, 1.0, 24) == pytest.approx(15 / (2 * math.log(4)))

    def test_expected_spending_stays_finite_and_at_least_one_at_the_schema_bounds(self) -> None:
        from sim.stages.decisions import expected_spend_multiple

        # Weight 3 on a 100-fold capped growth over a 1-month window, over 240 months: huge but
        # finite (held in logs), never an overflow.
        huge = expected_spend_multiple(100.0, 1, 3.0, 240)
        assert math.isfinite(huge) and huge > 1e100
        # Growth too small to move 1 + g in floating point: 1, not a division by zero.
        assert expected_spend_multiple(1.0, 12, 1e-17, 36) == 1.0
        assert expected_spend_multiple(1e-300, 60, 1.0, 36) >= 1.0
        # A horizon near zero: today's spending, never less.
        assert expected_spend_multiple(3.0, 12, 1.0, 1e-9) >= 1.0

    def test_acquisition_value_by_hand(self) -> None:
        from sim.stages.decisions import acquisition_value

        v = acquisition_value(
            target_margin_m_rmb=2.0,
            buyer_user_share=np.array([0.5, 0.0]),
            target_staff=10.0,
            target_own_log10=5.0,
            buyer_own_log10=np.array([5.5, 4.5]),
            buyer_revenue_m_rmb=np.array([10.0, 10.0]),
            buyer_staff_shortfall=np.array([0.0, 4.0]),
            wage_m_rmb_per_year=1.0,
            revenue_multiple=3.0,
            talent_years=2.0,
            capability_multiple=1.0,
        )
        # Buyer 0: customers 3*12*2*0.5 = 36, no talent, no upgrade.
        # Buyer 1: customers 72, talent 2*1*4, upgrade 12*10*0.5.
        np.testing.assert_allclose(v, [36.0, 72.0 + 8.0 + 60.0])
        # Targets as a column: one row per target, the same values as one target at a time.
        both = acquisition_value(
            np.array([[2.0], [-1.0]]),
            np.array([0.5, 0.0]),
            np.array([[10.0], [0.0]]),
            np.array([[5.0], [4.0]]),
            np.array([5.5, 4.5]),
            np.array([10.0, 10.0]),
            np.array([0.0, 4.0]),
            1.0,
            3.0,
            2.0,
            1.0,
        )
        np.testing.assert_allclose(both[0], v)
        np.testing.assert_allclose(both[1], [0.0, 0.0])  # no margin, no staff, no upgrade


def _segment(name: str, customer: str, potential_users_m: float) -> dict[str, object]:
    """A demand segment with unit spending and elasticity, for the demand stage's hand cases."""
    return {
        "name": name,
        "customer": customer,
        "potential_users_m_2023": potential_users_m,
        "sector": "s",
        "monetisation": "api",
        "spend_rmb_per_user_month_2023": 1.0,
        "price_elasticity": 1.0,
        "ecosystem_weight": 0.0,
        "source": "test",
    }


class TestDemandAndMarkets:
    def test_potential_respects_the_consumer_ceiling_and_growth_cap(self) -> None:
        from sim.scenario import Demand
        from sim.stages.demand import potential_adopters

        d = Demand.model_validate(
            {
                "segments": [_segment("c", "consumer", 800), _segment("e", "enterprise", 1)],
                "potential_growth_per_year": 1.0,
                "potential_growth_cap": 3.0,
                "consumer_ceiling_m": 1000,
            }
        )
        pot = potential_adopters(np.array([800.0, 1.0]), np.array([True, False]), 5.0, 1.0, d)
        # Growth 2 ** 5 is capped at 3: consumers 2400 -> the ceiling 1000; enterprise 3.
        np.testing.assert_allclose(pot, [1000.0, 3.0])
        # Consumers scaled apart: 800 * 0.25 * 3 = 600, under the ceiling; firms' unchanged.
        quarter = d.model_copy(update={"consumer_potential_multiple": 0.25})
        pot = potential_adopters(np.array([800.0, 1.0]), np.array([True, False]), 5.0, 0.5, quarter)
        np.testing.assert_allclose(pot, [300.0, 1.5])  # and usefulness 0.5 unlocks half
        # Consumers unlocked apart (their own usefulness 0.1) while firms' segments take 0.5.
        pot = potential_adopters(
            np.array([800.0, 1.0]), np.array([True, False]), 5.0, 0.5, quarter, 0.1
        )
        np.testing.assert_allclose(pot, [60.0, 1.5])

    def test_consumers_find_models_useful_later_by_their_premium(self) -> None:
        from sim.scenario import Demand
        from sim.stages.demand import usefulness_levels

        d = Demand.model_validate(
            {
                "segments": [_segment("c", "consumer", 1.0)],
                "useful_capability_log10": 3.0,
                "usefulness_width_log10": 0.5,
                "consumer_capability_premium_log10": 1.0,
            }
        )
        # At capability 3 firms are half-way (logistic(0)); consumers, 1 log10 later, at
        # logistic(-2) = 0.1192; at 4 firms are at logistic(2) = 0.8808 and consumers half-way.
        assert usefulness_levels(3.0, d) == pytest.approx((0.5, 0.11920292))
        assert usefulness_levels(4.0, d) == pytest.approx((0.88079708, 0.5))
        same = d.model_copy(update={"consumer_capability_premium_log10": 0.0})
        assert usefulness_levels(3.5, same) == pytest.approx((0.73105858, 0.73105858))

    def test_satiation_bounds_usage_and_lowers_elasticity(self) -> None:
        from sim.stages.demand import satiated

        x = np.array([1.0, 10.0, 1e6])
        q = satiated(x, 30.0)
        assert q[0] == pytest.approx(1.0)
        assert q[2] < 30.0 and q[2] == pytest.approx(30.0, rel=1e-3)
        assert q[1] < 10.0  # below the unsatiated usage

    def test_clearing_wage_hires_the_pool(self) -> None:
        from sim.markets.talent import adjust_wage, clearing_wage

        # Budgets of 30 a month hire 100 people at (w + 0.6) / 12 each: w = 12 * 30 / 100 - 0.6.
        assert clearing_wage(30.0, 100.0, 0.6, 1.0) == pytest.approx(3.0)
        assert clearing_wage(3.0, 100.0, 0.6, 1.0) == pytest.approx(1.0)  # the floor
        assert adjust_wage(1.0, 4.0, 0.5) == pytest.approx(2.0)  # halfway in logs

    def test_supply_rationing_and_serving_split(self) -> None:
        from sim.markets.compute import ration_supply, serving_split

        np.testing.assert_allclose(ration_supply(np.array([30.0, 10.0]), 20.0), [15.0, 5.0])
        np.testing.assert_allclose(ration_supply(np.array([3.0, 1.0]), 20.0), [3.0, 1.0])
        serve, train, rented = serving_split(
            np.array([10.0, 10.0]), np.array([8.0, 2.0]), np.array([12.0, 5.0])
        )
        np.testing.assert_allclose(serve, [10.0, 5.0])
        np.testing.assert_allclose(train, [0.0, 5.0])
        np.testing.assert_allclose(rented, [2.0, 3.0])


def test_subsidy_budgets_are_released_month_by_month() -> None:
    from sim.model import GenAIMarket

    from .conftest import scenario_with

    model = GenAIMarket(scenario_with(end="2023-06"), seed=1)
    gov = model.government
    prog = model.scenario_params.policy.subsidies[1]  # Shanghai co-funding, 300 M RMB a year
    assert gov.budget_left(prog, 0) == pytest.approx(prog.budget_m_rmb_per_year / 12)
    assert gov.budget_left(prog, 5) == pytest.approx(prog.budget_m_rmb_per_year / 2)
    gov.spent_this_year[prog.name] = prog.budget_m_rmb_per_year / 2
    assert gov.budget_left(prog, 5) == 0.0


def test_programme_ledger_keeps_caps_per_firm_and_programme() -> None:
    from sim.model import GenAIMarket

    from .conftest import scenario_with

    model = GenAIMarket(scenario_with(end="2023-06"), seed=1)
    gov = model.government
    progs = model.scenario_params.policy.subsidies[:2]
    caps = np.array([p.cap_per_firm_m_rmb_per_year for p in progs]) * gov.subsidy_scale
    ids = np.array([3, 500])  # an id beyond the ledger's first allocation
    np.testing.assert_allclose(gov.caps_left(progs, ids), np.repeat(caps[:, None], 2, axis=1))
    gov.pay(progs, ids, np.array([[1.0, 2.0], [0.0, -5.0]]))  # negative amounts book nothing
    left = gov.caps_left(progs, ids)
    np.testing.assert_allclose(left[0], caps[0] - [1.0, 2.0])
    np.testing.assert_allclose(left[1], [caps[1], caps[1]])
    assert gov.spent_this_year[progs[0].name] == pytest.approx(3.0)
    gov.new_year()
    np.testing.assert_allclose(gov.caps_left(progs, ids)[0], [caps[0], caps[0]])


def test_co_investment_books_as_pay_books_it() -> None:
    """``co_invest`` (one firm, in scalars) leaves the ledger and the budgets as ``pay`` would
    with the same amounts: caps and budgets bind, and a firm beyond the ledger is held."""
    from sim.model import GenAIMarket

    from .conftest import scenario_with

    def government():
        model = GenAIMarket(scenario_with(end="2023-06"), seed=1)
        gov = model.government
        progs = [p for p in model.scenario_params.policy.subsidies if p.kind == "equity_fund"]
        return gov, gov.programme_set(progs)

    gov, ps = government()
    firm = 700  # beyond the ledger's first allocation
    first = gov.co_invest(ps, firm, 1_000.0, 5)
    again = gov.co_invest(ps, firm, 1_000_000.0, 5)  # caps or budgets bind now
    assert all(a >= 0 for a in first + again)
    by_pay, ps_pay = government()
    by_pay.pay(ps_pay, np.array([firm]), np.array(first)[:, None])
    by_pay.pay(ps_pay, np.array([firm]), np.array(again)[:, None])
    np.testing.assert_array_equal(gov.caps_left(ps, [firm]), by_pay.caps_left(ps_pay, [firm]))
    assert dict(gov.spent_this_year) == dict(by_pay.spent_this_year)
    # After a round far beyond them, each programme has reached the firm's cap or its budget.
    assert np.all((gov.caps_left(ps, [firm])[:, 0] == 0) | (gov.budgets_left(ps, 5) == 0))


def test_distressed_firms_sell_only_to_firms_that_can_buy() -> None:
    """With cheap deals and valuable models, distressed start-ups are bought, never by
    themselves, and by buyers still in the market and pre-training when they buy."""
    from sim.runner import run_replication

    from .conftest import scenario_with

    sc = scenario_with(
        end="2024-12",
        acquisitions={
            "capability_value_per_log10": 20.0,
            "integration_cost_m_rmb": 20.0,
            "price_to_annual_revenue": 20.0,
        },
    )
    ev = run_replication(sc, seed=1).events
    deals = ev[ev["event"] == "acquired"]
    assert len(deals) > 5
    assert (deals["detail"] != deals["firm"]).all()
    stopped = ev[ev["event"].isin(["pivoted", "bankrupt", "acquired"])]
    for month, buyer in zip(deals["month"], deals["detail"], strict=True):
        gone = stopped[(stopped["firm"] == buyer) & (stopped["month"] < month)]
        assert gone.empty, f"{buyer} bought a firm in month {month} after leaving pre-training"


def test_the_benchmark_field_stays_fixed() -> None:
    """The scale benchmark's scenario keeps its firms and segments (no entry, sale or failure)."""
    from sim.bench import scale_scenario
    from sim.model import GenAIMarket

    model = GenAIMarket(scale_scenario(12, 30), seed=3, record_firms=False)
    model.run_until(48)
    assert model.table.n == 12 and model.n_segments == 30
    assert model.datacollector.metrics_frame()["entries"].sum() == 12


def test_the_instruction_count_is_reported_only_when_measured(monkeypatch) -> None:
    """Without valgrind the instructions case says it was skipped and the report leaves it out;
    a measured count is printed in the report with its unit."""
    import sim.bench as bench

    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    skipped = bench.bench_instructions()
    assert skipped == {"case": "instructions", "skipped": "valgrind not found"}
    assert "Instructions" not in bench.performance_markdown([skipped], "cmd")
    measured = {
        "case": "instructions",
        "million_per_replication": 1234.5,
        "million_per_month": 10.29,
        "replications": 3,
    }
    text = bench.performance_markdown([measured], "cmd")
    assert "## Instructions per baseline replication" in text
    assert "1,234.5 million (10.29 million a month" in text


def test_firms_stockpile_between_an_announcement_and_the_control() -> None:
    """The 2023-11-17 rule was announced on 2023-10-17: firms buy more chips in between."""
    from sim.runner import run_replication

    from .conftest import scenario_with

    announced = scenario_with(end="2023-12")
    steps = announced.model_dump(mode="json")["policy"]["export_controls"]
    surprise = scenario_with(
        end="2023-12", policy={"export_controls": [{**s, "announced": None} for s in steps]}
    )
    bought = {
        name: run_replication(sc, seed=5, record_firms=False).metrics.set_index("date")[
            "chip_purchases_h100e"
        ]
        for name, sc in (("announced", announced), ("surprise", surprise))
    }
    assert bought["announced"]["2023-10"] > 1.2 * bought["surprise"]["2023-10"]
    pd.testing.assert_series_equal(  # identical before the announcement
        bought["announced"].loc[:"2023-09"], bought["surprise"].loc[:"2023-09"]
    )


def test_a_firm_agent_reads_its_own_row() -> None:
    """Agents hold identity and decisions; their numbers are their row of the firm table."""
    from sim.model import GenAIMarket

    from .conftest import scenario_with

    model = GenAIMarket(scenario_with(end="2023-06"), seed=2)
    model.run_until(24)
    for firm in model.active_firms()[:5]:
        assert firm.get("cash_m_rmb") == model.table.cash_m_rmb[firm.row]
        assert model.table.firm_id[firm.row] == firm.unique_id


def test_bass_coefficients_by_segment_by_hand() -> None:
    from sim.markets.users import bass_new_adopters

    new = bass_new_adopters(
        np.array([10.0, 10.0]),
        np.array([100.0, 100.0]),
        np.array([0.01, 0.001]),
        np.array([0.1, 0.5]),
    )
    # (p + q A/M)(M - A): (0.01 + 0.01) * 90 and (0.001 + 0.05) * 90
    np.testing.assert_allclose(new, [1.8, 4.59])


def test_consumers_own_bass_coefficients_move_consumer_adoption() -> None:
    """A slower start (innovation) and faster word of mouth (imitation) of consumers each move
    the consumer adopters of 2024-12 the way they should; the firms' segments keep theirs."""
    from sim.runner import run_replication

    from .conftest import scenario_with

    def adopters(**demand: float) -> tuple[float, float]:
        m = run_replication(
            scenario_with(end="2024-12", demand=demand), seed=4, record_firms=False
        ).metrics.iloc[-1]
        return m["consumer_adopters_m"], m["adopters_m"] - m["consumer_adopters_m"]

    d = scenario_with().demand  # the calibrated coefficients; slower and more viral than them
    base_c, base_e = adopters()
    slow_c, slow_e = adopters(consumer_innovation_multiple=0.1 * d.consumer_innovation_multiple)
    viral_c, _ = adopters(consumer_imitation_multiple=3.0 * d.consumer_imitation_multiple)
    assert slow_c < 0.6 * base_c and viral_c > 1.2 * base_c
    assert slow_e == pytest.approx(base_e, rel=0.1)  # enterprise adoption barely moves


def test_the_parent_hurdle_gap_decides_which_units_keep_a_growing_budget() -> None:
    """At the review of December 2023 (parents review every December), a wide gap keeps every
    pre-training megatech unit in the race; no gap cuts those behind the leader without a user
    share."""
    from sim.model import GenAIMarket
    from sim.vocab import KINDS

    from .conftest import scenario_with

    def review(gap: float) -> tuple[np.ndarray, np.ndarray]:
        model = GenAIMarket(
            scenario_with(end="2024-01", firms={"parent_hurdle_gap_log10": gap}), seed=1
        )
        while model.month < 35:  # through 2023-12, the review month
            model.step()
        t = model.table
        units = t.parent_backed & t.pretraining & (t.kind == KINDS.index("megatech"))
        return t.meets_hurdle[units], t.budget_m_rmb_per_month[units]

    wide, wide_budgets = review(5.0)
    none, none_budgets = review(0.0)
    assert wide.all()
    assert (~none).sum() >= 2  # megatechs lagging the leader miss the hurdle and are cut
    assert none_budgets.sum() < wide_budgets.sum()


def test_recorder_model_vars_follow_the_recorded_months() -> None:
    """``model_vars`` (what Mesa's tools read) gives each metric's values in recording order and
    is rebuilt when a month is added after it was read."""
    from sim.recorder import Recorder

    rec = Recorder(record_firms=False)
    assert rec.model_vars == {} and rec.n_metric_months == 0
    rec.add_metrics(1.0, {"month": 0, "users_m": 2.5})
    rec.add_metrics(2.0, {"month": 1, "users_m": 4.0})
    assert rec.model_vars == {"month": [0, 1], "users_m": [2.5, 4.0]}
    rec.add_metrics(3.0, {"month": 2, "users_m": 3.0})
    assert rec.model_vars["users_m"] == [2.5, 4.0, 3.0] and rec.n_metric_months == 3
    assert rec.metrics_frame()["month"].tolist() == [0, 1, 2]


def test_recorder_panel_grows_and_keeps_every_month() -> None:
    """The firm panel's buffers grow past their first size and keep every recorded row in order:
    the table's values at recording time (later changes do not reach them), month, status and
    the model's columns."""
    from sim.recorder import _PANEL_START_ROWS, Recorder

    t = FirmTable(n_segments=2)
    rec = Recorder()
    for fid in range(5):
        t.append(fid, cash_m_rmb=float(fid))
        rec.register_firm(fid, f"firm-{fid}", "startup", False)
    months = _PANEL_START_ROWS // 5 + 3  # enough months to fill the first buffers twice over
    for m in range(months):
        t.cash_m_rmb[:] = np.arange(5) + 10.0 * m
        rec.add_firms(
            m,
            t,
            slice(0, 5),
            ("active", "app_layer"),
            {"developer": np.arange(5) < 2, "serving_h100e_per_m_rmb": np.full(5, 0.5 * m)},
            which=np.arange(5) >= 3,
        )
    t.cash_m_rmb[:] = -1.0  # after the run: the panel keeps what was recorded
    cols = rec.firm_columns()
    assert rec.n_panel_months == months and len(cols["month"]) == 5 * months > _PANEL_START_ROWS
    np.testing.assert_array_equal(cols["month"], np.repeat(np.arange(months), 5))
    np.testing.assert_array_equal(
        cols["cash_m_rmb"], np.tile(np.arange(5.0), months) + 10.0 * cols["month"]
    )
    assert list(cols["status"][:5]) == ["active"] * 3 + ["app_layer"] * 2
    assert list(cols["firm"][-5:]) == [f"firm-{i}" for i in range(5)]
    np.testing.assert_array_equal(cols["developer"], np.tile(np.arange(5) < 2, months))
    np.testing.assert_array_equal(cols["serving_h100e_per_m_rmb"], 0.5 * cols["month"])
