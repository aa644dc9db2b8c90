"""Market-clearing functions against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.markets.compute import (
    clear_compute,
    outside_compute_money,
    ration_subsidy,
    voucher_contracts,
)
from sim.markets.talent import allocate_staff, update_wage
from sim.markets.users import bass_new_adopters, bertrand_markup, logit_shares, reallocate_users


class TestTalent:
    def test_wage_rises_with_excess_demand(self) -> None:
        # 1.0 * (200 / 100) ** 0.5 = sqrt(2)
        assert update_wage(1.0, 200.0, 100.0, 0.5, floor=0.8) == pytest.approx(math.sqrt(2))

    def test_wage_unchanged_when_demand_equals_pool(self) -> None:
        assert update_wage(1.3, 100.0, 100.0, 0.5, floor=0.8) == pytest.approx(1.3)

    def test_wage_never_below_reservation(self) -> None:
        # 1.0 * 0.25 ** 0.5 = 0.5 < floor 0.8
        assert update_wage(1.0, 25.0, 100.0, 0.5, floor=0.8) == pytest.approx(0.8)

    def test_allocation_rations_shortfalls_pro_rata(self) -> None:
        held = np.array([10.0, 5.0, 0.0])
        desired = np.array([6.0, 10.0, 8.0])
        new, hires, releases = allocate_staff(held, desired, pool=20.0)
        # Firm 0 releases 4; 20 - (6 + 5) = 9 unemployed share shortfalls 5 and 8 as 9/13.
        np.testing.assert_allclose(releases, [4.0, 0.0, 0.0])
        np.testing.assert_allclose(hires, [0.0, 5 * 9 / 13, 8 * 9 / 13])
        np.testing.assert_allclose(new, [6.0, 5 + 45 / 13, 72 / 13])
        assert new.sum() == pytest.approx(20.0)
        np.testing.assert_allclose(new, held - releases + hires)

    def test_allocation_fills_demand_when_pool_is_large(self) -> None:
        new, _, _ = allocate_staff(np.array([1.0, 2.0]), np.array([3.0, 2.0]), pool=100.0)
        np.testing.assert_allclose(new, [3.0, 2.0])


class TestCompute:
    def test_scarcity_price(self) -> None:
        price, h = clear_compute(
            np.array([10.0, 30.0]), capacity_h100e=100.0, price_floor_m_rmb=0.3
        )
        assert price == pytest.approx(0.4)  # 40 M RMB on 100 H100e
        np.testing.assert_allclose(h, [25.0, 75.0])
        assert h.sum() == pytest.approx(100.0)

    def test_other_demand_bids_for_the_same_capacity(self) -> None:
        # 40 M RMB of contracts and 60 of inference on 100 H100e: price 1, contracts get 10 and 30.
        price, h = clear_compute(np.array([10.0, 30.0]), 100.0, 0.3, other_demand_m_rmb=60.0)
        assert price == pytest.approx(1.0)
        np.testing.assert_allclose(h, [10.0, 30.0])
        assert h.sum() + 60.0 / price == pytest.approx(100.0)

    def test_outside_buyers_bid_a_share_of_the_spending_the_model_layer_misses(self) -> None:
        # End spending 75 M RMB, 20 % of it reaching the model layer: 60 stays outside, and at 1.5
        # RMB of compute per RMB outside buyers bid 90.
        assert outside_compute_money(75.0, 0.2, 1.5) == pytest.approx(90.0)
        # Every yuan in the model layer: no outside buyers, whatever the ratio (exactly zero, so
        # the baseline's clearing is unchanged).
        assert outside_compute_money(75.0, 1.0, 1.5) == 0.0
        assert outside_compute_money(0.0, 0.2, 1.5) == 0.0

    def test_outside_buyers_raise_the_price_and_take_capacity_from_the_firms(self) -> None:
        # Firms bid 40 M RMB for 100 H100e at floor 0.3: alone, price 0.4 and 25 + 75 H100e.
        # Outside buyers add 90 (previous test): price 130 / 100 = 1.3, firms 10/1.3 and 30/1.3,
        # outside buyers the other 90/1.3 = 69.2 H100e.
        outside = outside_compute_money(75.0, 0.2, 1.5)
        price, h = clear_compute(np.array([10.0, 30.0]), 100.0, 0.3, other_demand_m_rmb=outside)
        assert price == pytest.approx(1.3)
        np.testing.assert_allclose(h, [10 / 1.3, 30 / 1.3])
        assert h.sum() + outside / price == pytest.approx(100.0)
        alone, h_alone = clear_compute(np.array([10.0, 30.0]), 100.0, 0.3)
        assert alone == pytest.approx(0.4) and (h < h_alone).all()

    def test_partial_price_adjustment_rations_quantities(self) -> None:
        # p* = 100 / 100 = 1; from 0.5 halfway in logs: 0.5 * 2 ** 0.5. Demand at that price,
        # 100 / 0.7071 = 141.4 H100e, exceeds capacity: everyone gets 100 / 141.4 of it, so the
        # firms end with what they would get at p* (10 and 30).
        price, h = clear_compute(
            np.array([10.0, 30.0]),
            100.0,
            0.3,
            other_demand_m_rmb=60.0,
            previous_price_m_rmb=0.5,
            adjustment=0.5,
        )
        assert price == pytest.approx(0.5 * 2**0.5)
        np.testing.assert_allclose(h, [10.0, 30.0])

    def test_floor_price_when_capacity_is_ample(self) -> None:
        price, h = clear_compute(
            np.array([10.0, 30.0]), capacity_h100e=1000.0, price_floor_m_rmb=0.3
        )
        assert price == pytest.approx(0.3)
        np.testing.assert_allclose(h, [10 / 0.3, 100.0])

    def test_no_capacity_gives_no_compute(self) -> None:
        price, h = clear_compute(np.array([5.0]), capacity_h100e=0.0, price_floor_m_rmb=0.3)
        assert math.isfinite(price) and price == pytest.approx(0.3)  # no inf leaks into metrics
        np.testing.assert_allclose(h, [0.0])

    def test_voucher_stretches_own_money_until_cap(self) -> None:
        # Own money 7 at rate 0.3: contract 10, voucher 3; with a cap of 1: contract 8.
        x, claims = voucher_contracts(
            np.array([7.0, 7.0]), np.array([0.3, 0.3]), np.array([10.0, 1.0])
        )
        np.testing.assert_allclose(x, [10.0, 8.0])
        np.testing.assert_allclose(claims, [3.0, 1.0])

    def test_budget_rationing(self) -> None:
        np.testing.assert_allclose(ration_subsidy(np.array([3.0, 1.0]), 2.0), [1.5, 0.5])
        np.testing.assert_allclose(ration_subsidy(np.array([3.0, 1.0]), 10.0), [3.0, 1.0])

    def test_budget_rationing_per_programme(self) -> None:
        # Rows are programmes with their own budgets: short, ample, empty claims, no money left.
        claims = np.array([[3.0, 1.0], [3.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
        paid = ration_subsidy(claims, np.array([2.0, 10.0, 5.0, -1.0]))
        np.testing.assert_allclose(paid, [[1.5, 0.5], [3.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
        for k, budget in enumerate([2.0, 10.0, 5.0, -1.0]):
            np.testing.assert_allclose(ration_subsidy(claims[k], budget), paid[k])


class TestUsers:
    """User-market arrays are (providers, segments): one row per firm, as in the firm table."""

    def test_logit_shares(self) -> None:
        # exp(0) : exp(ln 2) : exp(0) = 1 : 2 : 1
        inside, outside = logit_shares(
            np.array([[0.0], [math.log(2)]]), np.array([[True], [True]]), np.array([0.0])
        )
        np.testing.assert_allclose(inside, [[0.25], [0.5]])
        np.testing.assert_allclose(outside, [0.25])

    def test_unavailable_provider_gets_nothing(self) -> None:
        inside, outside = logit_shares(
            np.array([[0.0], [5.0]]), np.array([[True], [False]]), np.array([0.0])
        )
        np.testing.assert_allclose(inside, [[0.5], [0.0]])
        np.testing.assert_allclose(outside, [0.5])

    def test_logit_is_stable_for_large_utilities(self) -> None:
        inside, outside = logit_shares(
            np.array([[1000.0], [999.0]]), np.array([[True], [True]]), np.array([-1e6])
        )
        assert np.isfinite(inside).all() and np.isfinite(outside).all()
        assert inside.sum() + outside.sum() == pytest.approx(1.0)

    def test_segments_are_independent(self) -> None:
        # Two segments: in the second, provider 1 is unavailable and the outside option is better.
        inside, outside = logit_shares(
            np.array([[0.0, 0.0], [0.0, 0.0]]),
            np.array([[True, True], [True, False]]),
            np.array([0.0, math.log(3)]),
        )
        np.testing.assert_allclose(inside[:, 0], [1 / 3, 1 / 3])
        np.testing.assert_allclose(inside[:, 1], [0.25, 0.0])
        np.testing.assert_allclose(outside, [1 / 3, 0.75])

    def test_bass(self) -> None:
        # (0.01 + 0.5 * 10 / 100) * (100 - 10) = 0.06 * 90 = 5.4
        new = bass_new_adopters(np.array([10.0, 120.0]), np.array([100.0, 100.0]), 0.01, 0.5)
        np.testing.assert_allclose(new, [5.4, 0.0])

    def test_reallocation_by_hand(self) -> None:
        users = np.array([[10.0], [20.0]])
        outside = np.array([5.0])
        churn = np.array([[0.1], [0.5]])
        new_users, new_outside = reallocate_users(
            users,
            outside,
            churn,
            outside_churn=0.2,
            new_adopters=np.array([4.0]),
            orphans=np.array([2.0]),
            inside_shares=np.array([[0.5], [0.25]]),
            outside_share=np.array([0.25]),
        )
        # pool = 1 + 10 + 1 + 4 + 2 = 18 -> 9, 4.5, 4.5
        np.testing.assert_allclose(new_users, [[9.0 + 9.0], [10.0 + 4.5]])
        np.testing.assert_allclose(new_outside, [4.0 + 4.5])
        assert new_users.sum() + new_outside.sum() == pytest.approx(35.0 + 4.0 + 2.0)

    @pytest.mark.parametrize(
        ("share", "sensitivity", "expected"),
        [
            (0.0, 3.0, 1.5),  # 3 / (3 - 1)
            (0.5, 3.0, 3.0),  # 1.5 / 0.5
            (0.5, 2.0, 20.0),  # a(1-s) = 1: no finite optimum, capped
            (0.99, 3.0, 20.0),  # near monopoly: capped, never falling towards zero
        ],
    )
    def test_bertrand_markup(self, share: float, sensitivity: float, expected: float) -> None:
        assert bertrand_markup(np.array([share]), sensitivity, 20.0)[0] == pytest.approx(expected)

    def test_markup_cap(self) -> None:
        # s = 0.5, a = 3: 1.5 / 0.5 = 3 is below a cap of 4 but above a cap of 2.
        assert bertrand_markup(np.array([0.5]), 3.0, max_markup=4.0)[0] == pytest.approx(3.0)
        assert bertrand_markup(np.array([0.5]), 3.0, max_markup=2.0)[0] == pytest.approx(2.0)

    def test_markup_rises_with_share(self) -> None:
        m = bertrand_markup(np.linspace(0, 1, 101), 2.5, 20.0)
        assert (np.diff(m) >= -1e-12).all()
        assert m.max() == pytest.approx(20.0)
