"""The environment and the input markets: talent, compute and training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.agents import _kind_mask
from sim.kernels import inputs as kern
from sim.markets.compute import (
    clear_compute,
    outside_compute_money,
    outside_compute_money_for_need,
    ration_subsidy,
    ration_supply,
    serving_split,
    voucher_contracts,
)
from sim.markets.talent import adjust_wage, allocate_staff, clearing_wage
from sim.stages import environment
from sim.stages.training import train
from sim.state import Account
from sim.vocab import KINDS, ONE_RMB_M

_INSTITUTE = KINDS.index("institute")
# The compiled clear_compute's voucher arrays when no programme is in force.
_NO_RATES = np.empty(0)
_NO_ROWS = np.empty(0, dtype=np.intp)
_NO_LEDGER = np.empty((0, 0))
_NO_ELIGIBLE = np.empty((0, len(KINDS)), dtype=bool)

if TYPE_CHECKING:
    from sim.agents import ProgrammeSet


class InputMarkets:
    """The environment and the input markets: talent, compute and training."""

    def update_environment(self) -> None:
        """Hype, VC inflows, talent pool, chip supply, filing approvals."""
        sc = self.scenario_params
        m, t, gov = self.month, self.table, self.government
        self.hype = environment.hype_index(
            m, self.chatgpt_month, self.market_history, self.bankruptcy_months, sc.capital
        )
        inflow = (sc.capital.inflow_2021_m_rmb_per_month * self.hype * gov.vc_inflow_factor) / len(
            self.funds
        )
        for fund in self.funds:
            fund.receive_inflow(inflow, sc.capital.vc_runoff_per_month)

        employed = float(np.add.reduce(t.frontier_staff))
        institutes = int(np.count_nonzero((t.kind == _INSTITUTE) & t.pretraining))
        self.frontier_pool = environment.frontier_pool_step(
            self.frontier_pool,
            employed,
            institutes,
            self.frontier_wage,
            gov.frontier_inflow_factor,
            sc.talent,
        )
        if employed > self.frontier_pool and employed > 0:  # departures leave pro rata
            t.frontier_staff *= self.frontier_pool / employed

        before = self.imported_installed + self.domestic_installed
        # Between an export control's announcement and its effect, buyers rush orders that
        # sellers still fill: imports run above their controlled path.
        rush = 1 + sc.compute.stockpile_multiple if gov.tightening_ahead(m) else 1.0
        supply = environment.chip_supply_step(
            m,
            self.imported_installed,
            self.domestic_installed,
            gov.imported_supply_factor * rush,
            self.domestic_midpoint,
            sc.compute,
        )
        retire = 1.0 / sc.compute.chip_lifetime_months
        self.new_supply_h100e = sc.compute.fm_share_of_capacity * max(
            supply.imported_installed + supply.domestic_installed - before * (1 - retire), 0.0
        )
        self.imported_installed = supply.imported_installed
        self.domestic_installed = supply.domestic_installed
        self.domestic_efficiency = supply.domestic_efficiency
        self.price_floor = supply.price_floor
        t.own_h100e *= 1 - retire  # firms' own accelerators age like everyone's

        due = ~t.approved & (t.approval_month >= 0) & (m >= t.approval_month)
        for i in due.nonzero()[0]:
            t.approved[i] = True
            self.log_event(m, self.firm_agents[i], "filing_approved", 0.0)

    def clear_talent(self) -> None:
        """Frontier-talent market: firms spend the Cobb-Douglas share of their R&D budgets on
        researchers; the wage moves toward the level at which those budgets hire the pool."""
        sc = self.scenario_params
        tal = sc.talent
        t = self.table
        if t.n == 0:
            return
        basic = tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year
        if self.kernels:
            # Budgets, wage and staff: sim.kernels.inputs.clear_talent.
            self.frontier_wage = kern.clear_talent(
                t.rd_budget_m_rmb,
                t.frontier_staff,
                t.flows,
                sc.technology.talent_output_elasticity,
                self.frontier_pool,
                basic,
                tal.frontier_wage_2021_m_rmb_per_year,
                self.frontier_wage,
                tal.wage_adjustment,
            )
            return
        staff_budget = sc.technology.talent_output_elasticity * t.rd_budget_m_rmb
        target = clearing_wage(
            float(np.add.reduce(staff_budget)),
            self.frontier_pool,
            basic,
            tal.frontier_wage_2021_m_rmb_per_year,
        )
        self.frontier_wage = adjust_wage(self.frontier_wage, target, tal.wage_adjustment)
        monthly_cost = (self.frontier_wage + basic) / 12
        desired = staff_budget / monthly_cost
        t.frontier_staff, _, _ = allocate_staff(t.frontier_staff, desired, self.frontier_pool)
        t.flows[:, Account.STAFF_COST] += t.frontier_staff * monthly_cost

    def clear_compute(self) -> None:
        """Compute as a stock each firm plans and holds.

        Each firm plans capacity for serving (last month's demand plus headroom) and for training
        (what its compute budget rents). It buys accelerators toward the share it wants to own,
        from this month's new supply (more while an announced export control approaches), and
        rents the rest from the pool no firm owns, which one price clears; buyers outside the model
        layer (applications, integrators, enterprises) bid for the same pool with a share of the
        end spending that does not reach it (``compute.outside_compute_basis`` ``end_spending``)
        or for the compute they need to serve it (``serving_need``). Vouchers stretch rental
        budgets; public compute rebates part of the price.
        """
        sc = self.scenario_params
        c = sc.compute
        gov, t = self.government, self.table
        if t.n == 0:
            return
        if self.kernels:
            return self._clear_compute_compiled()
        price_guess = self.compute_price
        intensity = self.serving_intensity()
        serve_need = t.demand_usage_m_rmb * intensity * (1 + c.serving_headroom)
        train_money = np.maximum(t.rd_budget_m_rmb - t.flows[:, Account.STAFF_COST], 0.0)
        plan = serve_need + train_money / price_guess

        # Purchases toward the owned share of the plan, as cash allows; pro rata if supply is short.
        chip_price = self.price_floor * c.chip_price_months
        wanted = np.maximum(t.own_chips_share * plan - t.own_h100e, 0.0)
        if gov.tightening_ahead(self.month):
            wanted *= 1 + c.stockpile_multiple
        # Funds: own cash, and for a unit with a parent the parent's capital budget (up to the
        # loss-cover multiple of its committed budget a month), booked as a parent transfer.
        parent_capex = np.where(
            t.parent_backed, sc.firms.parent_loss_cover_multiple * t.budget_m_rmb_per_month, 0.0
        )
        cash = np.maximum(t.cash_m_rmb, 0.0)
        funds = cash + parent_capex
        wanted = np.minimum(wanted, funds / chip_price)
        bought = ration_supply(wanted, self.new_supply_h100e)
        spend = bought * chip_price
        from_parent = np.minimum(np.maximum(spend - cash, 0.0), parent_capex)
        t.flows[:, Account.PARENT] += from_parent
        t.cash_m_rmb += from_parent - spend
        t.own_h100e += bought
        t.flows[:, Account.CHIP_PURCHASE] += spend
        self.month_flows["chip_purchases_h100e"] += float(np.add.reduce(bought))

        # Rentals: what own chips do not cover, bid at last month's price; vouchers add money.
        rent_want = np.maximum(plan - t.own_h100e, 0.0)
        money = rent_want * price_guess
        contracts = money.copy()
        # Vouchers pay a share of the rented *training* compute of firms that pre-train.
        train_rent = np.minimum(money, train_money) * t.pretraining
        progs = gov.active_programmes("compute_voucher")
        if progs:
            ps = gov.programme_set(progs)
            _, claims = voucher_contracts(train_rent, ps.rates[:, None], self._caps_left(ps))
            for paid in self._pay_programmes(ps, claims):
                contracts += paid
        self.rental_pool_h100e = self._free_pool() + gov.public_capacity_h100e
        # Buyers outside the model layer bid in the same clearing (nothing while the model layer
        # earns the whole market, share 1).
        outside = self._outside_bid(float(np.add.reduce(serve_need)), price_guess)
        self.compute_price, rented = clear_compute(
            contracts,
            self.rental_pool_h100e,
            self.price_floor,
            other_demand_m_rmb=outside,
            previous_price_m_rmb=self.compute_price,
            adjustment=c.price_adjustment_per_month,
        )
        if gov.public_capacity_h100e > 0 and gov.public_discount > 0:
            demand = np.where(gov.eligible(gov.public_eligible, t.kind), rented, 0.0)
            served = demand * min(1.0, gov.public_capacity_h100e / max(demand.sum(), 1e-9))
            rebate = served * self.compute_price * gov.public_discount
            t.flows[:, Account.SUBSIDY_IN] += rebate
            self.month_flows["subsidies_paid_m_rmb"] += float(rebate.sum())

        t.rented_h100e = rented
        t.capacity_h100e = t.own_h100e + rented
        serve, train, serve_rented = serving_split(t.capacity_h100e, t.own_h100e, serve_need)
        t.serve_h100e = serve
        t.compute_h100e = train
        serve_cost = serve_rented * self.compute_price
        t.flows[:, Account.INFERENCE_COST] += serve_cost
        t.flows[:, Account.COMPUTE_COST] += (
            np.maximum(rented - serve_rented, 0.0) * self.compute_price
        )
        self.inference_spend_m_rmb = float(np.add.reduce(serve_cost))

    def _clear_compute_compiled(self) -> None:
        """``clear_compute`` in two compiled kernels (``sim.kernels.inputs.compute_plan`` and
        ``compute_clear``) around the Python parts: the voucher ledger, events, the free pool and
        the outside bid. The numpy path of ``clear_compute`` is the reference."""
        sc = self.scenario_params
        c = sc.compute
        gov, t = self.government, self.table
        n = t.n
        price_guess = self.compute_price
        progs = gov.active_programmes("compute_voucher")
        if progs:
            ps = gov.programme_set(progs)
            rates, caps, rows, eligible = ps.rates, ps.caps, ps.rows, ps.eligible
            ledger = gov.ledger_for(t.firm_id)
            budgets = gov.budgets_left(ps, self.month)
        else:
            ps = None
            rates, caps, rows, eligible = _NO_RATES, _NO_RATES, _NO_ROWS, _NO_ELIGIBLE
            ledger, budgets = _NO_LEDGER, _NO_RATES
        n_prog = rates.shape[0]
        serve_need = np.empty(n)
        contracts = np.empty(n)
        paid = np.empty((n_prog, n))
        totals = np.empty(n_prog)
        ev_firm = np.empty(n_prog * n, dtype=np.int64)
        ev_prog = np.empty(n_prog * n, dtype=np.int64)
        ev_amount = np.empty(n_prog * n)
        # Plans, purchases, rental bids and vouchers: sim.kernels.inputs.compute_plan.
        bought, serve_total, n_events = kern.compute_plan(
            t.demand_usage_m_rmb,
            self.serving_intensity(),
            c.serving_headroom,
            t.rd_budget_m_rmb,
            t.flows,
            price_guess,
            t.own_chips_share,
            t.own_h100e,
            t.cash_m_rmb,
            self.price_floor * c.chip_price_months,
            gov.tightening_ahead(self.month),
            c.stockpile_multiple,
            t.parent_backed,
            sc.firms.parent_loss_cover_multiple,
            t.budget_m_rmb_per_month,
            self.new_supply_h100e,
            t.pretraining,
            t.kind,
            t.firm_id,
            rates,
            caps,
            rows,
            ledger,
            eligible,
            budgets,
            serve_need,
            contracts,
            paid,
            totals,
            ev_firm,
            ev_prog,
            ev_amount,
        )
        if n_events < 0:
            raise ValueError(
                "voucher rates must lie in [0, 1) (policy.max_subsidy_rate keeps them so)"
            )
        self.month_flows["chip_purchases_h100e"] += bought
        if ps is not None:
            spent = totals.tolist()
            gov.book_spent(ps, spent)
            for total in spent:
                self.month_flows["subsidies_paid_m_rmb"] += total
            self.datacollector.log_events(
                self.month,
                ev_firm[:n_events],
                "subsidy",
                ev_amount[:n_events],
                ps.names,
                which=ev_prog[:n_events],
            )
        self.rental_pool_h100e = self._free_pool() + gov.public_capacity_h100e
        outside = self._outside_bid(serve_total, price_guess)
        # Clearing, public rebate, serving split: sim.kernels.inputs.compute_clear.
        self.compute_price, rebate, self.inference_spend_m_rmb = kern.compute_clear(
            contracts,
            self.rental_pool_h100e,
            self.price_floor,
            outside,
            self.compute_price,
            c.price_adjustment_per_month,
            gov.public_capacity_h100e,
            gov.public_discount,
            _kind_mask(frozenset(gov.public_eligible)),
            t.kind,
            t.own_h100e,
            serve_need,
            t.rented_h100e,
            t.capacity_h100e,
            t.serve_h100e,
            t.compute_h100e,
            t.flows,
        )
        if gov.public_capacity_h100e > 0 and gov.public_discount > 0:
            self.month_flows["subsidies_paid_m_rmb"] += rebate

    def _outside_bid(self, serve_need_m_rmb: float, price_guess: float) -> float:
        """Money buyers outside the model layer bid in this month's compute clearing (M RMB),
        from the model layer's summed serving plan or from last month's market, as the scenario's
        ``outside_compute_basis`` says; nothing while the model layer earns the whole market."""
        sc = self.scenario_params
        c = sc.compute
        if c.outside_compute_basis == "serving_need":
            outside = outside_compute_money_for_need(
                serve_need_m_rmb,
                sc.demand.model_layer_share,
                c.outside_serving_multiple,
                c.outside_price_elasticity,
                price_guess,
                self.price_floor,
            )
        else:
            outside = outside_compute_money(
                self.market_history[-1] if self.market_history else 0.0,
                sc.demand.model_layer_share,
                c.outside_compute_per_rmb,
            )
        self.outside_compute_bid_m_rmb = outside
        return outside

    def _caps_left(self, ps: ProgrammeSet) -> np.ndarray:
        """(programmes, firms): what each firm may still receive from each programme this year,
        zero where the programme does not fund the firm's kind."""
        gov, t = self.government, self.table
        eligible = ps.eligible.take(t.kind, axis=1)  # (programmes, kinds) -> (programmes, firms)
        return np.where(eligible, gov.caps_left(ps, t.firm_id), 0.0)

    def _pay_programmes(self, ps: ProgrammeSet, claims: np.ndarray) -> np.ndarray:
        """Pay (programmes, firms) ``claims`` within each programme's budget left this month (pro
        rata when short): book them against budgets and caps, as subsidy income and as one
        event per payment, firm by firm. Returns what was paid, same shape."""
        gov, t = self.government, self.table
        paid = ration_subsidy(claims, gov.budgets_left(ps, self.month))  # (>= 0)
        totals = gov.pay(ps, t.firm_id, paid)  # by programme
        subsidy_in = t.flows[:, Account.SUBSIDY_IN]
        for row, total in zip(paid, totals, strict=True):
            subsidy_in += row
            self.month_flows["subsidies_paid_m_rmb"] += total
        # At least one RMB: rationing dust is no event.
        firm_rows, prog_rows = np.nonzero(paid.T > ONE_RMB_M)
        self.datacollector.log_events(
            self.month,
            t.firm_id[firm_rows],
            "subsidy",
            paid[prog_rows, firm_rows],
            ps.names,
            which=prog_rows,
        )
        return paid

    def train_models(self) -> None:
        """Capability from compute and talent (Cobb-Douglas), depreciation, data feedback.

        Only firms that pre-train and can field a team of at least ``talent.min_pretraining_team``
        researchers make progress; everyone's stock depreciates; the application layer builds on
        the open weights.
        """
        sc = self.scenario_params
        tech = sc.technology
        t = self.table
        if t.n == 0:
            self.open_source_history.append(0.0)
            return
        floor = self.open_floor_log10()
        if self.kernels:
            # Training through the release: sim.kernels.inputs.train_models.
            best = kern.train_models(
                self.month,
                self.month % self.window,
                t.pretraining,
                t.frontier_staff,
                sc.talent.min_pretraining_team,
                t.compute_h100e,
                t.efficiency,
                t.effective_compute,
                t.own_capability_log10,
                t.capability_log10,
                t.users_total_m,
                t.own_trend,
                t.train_window,
                t.open_source,
                tech.algorithmic_progress_log10_per_year,
                tech.flagship_share_of_compute,
                tech.talent_output_elasticity,
                tech.researcher_h100e_equivalent,
                tech.capability_obsolescence_per_month,
                tech.spillover_per_month,
                tech.data_feedback_log10_per_decade_users,
                tech.data_reference_users_m,
                floor,
                tech.open_weight_adoption_gap_log10,
                tech.open_release_gap_log10,
                tech.capability_trend_weight,
            )
        else:
            best = self._train_models_numpy(floor)
        self.open_source_history.append(max(0.0, best))
        self.floor_history.append(self.open_floor_log10())
        # The floor's long-run pace (log10 a month over a year), not the jump of one release.
        past = self.floor_history[-13] if len(self.floor_history) > 12 else self.floor_history[0]
        self.floor_trend = (self.floor_history[-1] - past) / 12

    def _train_models_numpy(self, floor: float) -> float:
        """``train_models``' array pipeline in numpy (the compiled kernel's reference); returns
        the best open release, log10."""
        sc = self.scenario_params
        tech = sc.technology
        t = self.table
        training = t.pretraining & (t.frontier_staff >= sc.talent.min_pretraining_team)
        compute = np.where(training, t.compute_h100e, 0.0)
        before = t.own_capability_log10.copy()
        t.effective_compute, t.own_capability_log10, t.capability_log10 = train(
            self.month,
            compute,
            np.where(training, t.frontier_staff, 0.0),
            t.efficiency,
            t.effective_compute,
            t.users_total_m,
            floor,
            tech,
            learning=training.astype(float),
        )
        t.train_window[:, self.month % self.window] = compute
        w = tech.capability_trend_weight
        t.own_trend = (1 - w) * t.own_trend + w * (t.own_capability_log10 - before)
        released = t.capability_log10[t.open_source & t.pretraining] - tech.open_release_gap_log10
        return float(np.maximum.reduce(released, initial=0.0))
