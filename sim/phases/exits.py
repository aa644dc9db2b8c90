"""Decisions to stop pre-training, sell or fail, and the exits they cause."""

from __future__ import annotations

import statistics

import numpy as np

from sim.agents import Firm
from sim.kernels import exits as kx
from sim.stages import decisions, finance
from sim.state import Account
from sim.vocab import QUARTER_MONTHS


class ExitDecisions:
    """Decisions to stop pre-training, sell or fail, and the exits they cause."""

    def decide_exits(self) -> None:
        """Firms decide: parents review their units; a firm whose model no longer earns its keep
        stops pre-training (joins the application layer); a distressed firm sells to the buyer
        that values it most if one values it above its price and can pay; a firm out of cash
        with no buyer goes bankrupt."""
        m, t = self.month, self.table
        if t.n == 0:
            return
        if m % 12 == 11:
            self._parent_review()
        self._stop_pretraining()
        self._sell_distressed()
        broke = (t.cash_m_rmb < 0).nonzero()[0]
        if broke.size:
            self._exit_rows(broke, "bankrupt", t.cash_m_rmb[broke], "")
            self.bankruptcy_months.extend([m] * broke.size)

    def _parent_review(self) -> None:
        """January budgets: a parent keeps growing a unit's budget while it meets the hurdle
        (a user share, or a model within ``firms.parent_hurdle_gap_log10`` of the leader's);
        otherwise it cuts the budget."""
        f = self.scenario_params.firms
        t = self.table
        leader = float(np.maximum.reduce(t.own_capability_log10))
        meets = (self.spend_shares() >= f.parent_hurdle_share) | (
            t.pretraining & (t.own_capability_log10 >= leader - f.parent_hurdle_gap_log10)
        )
        t.meets_hurdle = meets
        t.budget_m_rmb_per_month = np.where(
            t.parent_backed & ~meets,
            t.budget_m_rmb_per_month * (1 - f.parent_cut_per_year),
            t.budget_m_rmb_per_month,
        )

    def _stop_pretraining(self) -> None:
        """Pre-training firms past their grace period review whether their model earns its keep."""
        sc = self.scenario_params
        m, t = self.month, self.table
        w = sc.firms.floor_smoothing_months
        if self.kernels:  # kernel: sim.kernels.exits.stopping_rows
            team_rd = self.team_rd_m_rmb()
            starving = np.empty(t.n, dtype=bool)
            stopping = kx.stopping_rows(
                t.own_capability_log10,
                statistics.fmean(self.floor_history[-w:]),
                t.own_trend,
                self.floor_trend,
                t.kind,
                self.kind_horizon,
                t.users_spend_weight,
                self.spend_total(),
                sc.firms.defend_share,
                t.parent_backed,
                t.rd_budget_m_rmb,
                t.cash_m_rmb,
                team_rd,
                sc.firms.stop_runway_months * team_rd,
                t.last_funded_month,
                t.entry_month,
                t.pretraining,
                m,
                sc.firms.pivot_grace_months,
                starving,
            )
            for i in stopping.tolist():
                reason = "cash" if starving[i] else "below the open-weight floor"
                self.firm_agents[i].stop_pretraining(reason)
                self.month_flows["exits_pivoted"] += 1
            return
        keeps = decisions.keeps_pretraining(
            t.own_capability_log10,
            statistics.fmean(self.floor_history[-w:]),
            t.own_trend,
            self.floor_trend,
            self.kind_horizon[t.kind],
            self.spend_shares(),
            sc.firms.defend_share,
        )
        # Money: a firm that can no longer pay a pre-training team stops, whatever its age,
        # rather than burn out: without a parent, when its cash covers a minimum team for less
        # than ``firms.stop_runway_months`` and it raised no round this quarter; with a parent,
        # when its budget no longer pays one.
        team_rd = self.team_rd_m_rmb()
        short = np.where(
            t.parent_backed,
            t.rd_budget_m_rmb < team_rd,
            np.maximum(t.cash_m_rmb, 0.0) < sc.firms.stop_runway_months * team_rd,
        )
        starving = short & (t.last_funded_month < m - QUARTER_MONTHS) & (t.entry_month < m)
        review = t.pretraining & (t.entry_month <= m - sc.firms.pivot_grace_months)
        for i in (t.pretraining & ((review & ~keeps) | starving)).nonzero()[0].tolist():
            reason = "cash" if starving[i] else "below the open-weight floor"
            self.firm_agents[i].stop_pretraining(reason)
            self.month_flows["exits_pivoted"] += 1

    def _sell_distressed(self) -> None:
        """Acquisitions and acqui-hires as decisions: the buyer that values a distressed firm
        most buys it if that value exceeds the seller's price and the buyer can pay."""
        sc = self.scenario_params
        acq = sc.acquisitions
        t = self.table
        if self.kernels:  # kernels: sim.kernels.exits.distressed_rows and best_deal
            self._sell_distressed_kernel()
            return
        # Distress is judged on the burn a firm cannot cut: without its discretionary research.
        discretionary = np.maximum(t.rd_budget_m_rmb - t.budget_m_rmb_per_month, 0.0)
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb - discretionary)
        sellers = (
            ~t.parent_backed & ((t.cash_m_rmb < 0) | (runway < acq.distress_runway_months))
        ).nonzero()[0]
        if sellers.size == 0:
            return
        monthly_cost = self.researcher_cost_m_rmb_per_year() / 12

        rows = sellers  # the sellers still in the queue, in table order
        while rows.size:
            # Who can buy: pre-training and not distressed, with at least the deal cost in cash.
            runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
            buyers = (
                t.pretraining
                & (t.parent_backed | (runway >= acq.distress_runway_months))
                & (t.cash_m_rmb >= acq.integration_cost_m_rmb)
            ).nonzero()[0]
            if buyers.size == 0:
                return
            price = np.maximum(-t.cash_m_rmb[rows], 0.0) + acq.fire_sale_share * (
                acq.talent_value_years_of_wage * self.frontier_wage * t.frontier_staff[rows]
            )
            # A buyer pays the price and the deal's cost, and must not be distressed itself; no
            # firm buys itself. Every remaining seller (rows of the matrices) against every
            # possible buyer (columns).
            cost = (price + acq.integration_cost_m_rmb)[:, None]
            payable = (t.cash_m_rmb[buyers] >= cost) & (rows[:, None] != buyers)
            if not payable.any():
                return
            shortfall = np.maximum(
                sc.technology.talent_output_elasticity * t.rd_budget_m_rmb[buyers] / monthly_cost
                - t.frontier_staff[buyers],
                0.0,
            )
            value = decisions.acquisition_value(
                t.operating_margin_m_rmb[rows][:, None],
                self.spend_shares()[buyers],
                t.frontier_staff[rows][:, None],
                t.own_capability_log10[rows][:, None],
                t.own_capability_log10[buyers],
                t.revenue_m_rmb[buyers],
                shortfall,
                self.frontier_wage,
                acq.price_to_annual_revenue,
                acq.talent_value_years_of_wage,
                acq.capability_value_per_log10,
            )
            able = payable & (value > cost)
            deals = able.any(axis=1).nonzero()[0]
            if deals.size == 0:
                return
            k = int(deals[0])  # sellers decide in table order; the first with a buyer sells
            b = int(buyers[np.argmax(np.where(able[k], value[k] - cost[k], -np.inf))])
            seller = self.firm_agents[rows[k]]
            queue = [self.firm_agents[i] for i in rows[k + 1 :]]  # rows move; agents do not
            self._acquire(self.firm_agents[b], seller, float(price[k]), acq.integration_cost_m_rmb)
            rows = np.array([f.row for f in queue], dtype=np.intp)

    def _sell_distressed_kernel(self) -> None:
        """``_sell_distressed`` with the sellers and each round's best deal found by the kernels
        ``sim.kernels.exits.distressed_rows`` and ``best_deal`` (the numpy path is their
        reference)."""
        acq = self.scenario_params.acquisitions
        tech = self.scenario_params.technology
        t = self.table
        rows = kx.distressed_rows(
            t.cash_m_rmb,
            t.net_burn_m_rmb,
            t.rd_budget_m_rmb,
            t.budget_m_rmb_per_month,
            t.parent_backed,
            acq.distress_runway_months,
        )
        if rows.size == 0:
            return
        monthly_cost = self.researcher_cost_m_rmb_per_year() / 12
        while rows.size:
            k, b, price = kx.best_deal(
                rows,
                t.cash_m_rmb,
                t.net_burn_m_rmb,
                t.pretraining,
                t.parent_backed,
                t.frontier_staff,
                t.rd_budget_m_rmb,
                t.operating_margin_m_rmb,
                t.own_capability_log10,
                t.revenue_m_rmb,
                t.users_spend_weight,
                self.spend_total(),
                acq.distress_runway_months,
                acq.integration_cost_m_rmb,
                acq.fire_sale_share,
                acq.talent_value_years_of_wage * self.frontier_wage,
                tech.talent_output_elasticity,
                monthly_cost,
                acq.price_to_annual_revenue * 12,
                acq.capability_value_per_log10 * 12,
            )
            if k < 0:
                return
            seller = self.firm_agents[rows[k]]
            queue = [self.firm_agents[i] for i in rows[k + 1 :]]  # rows move; agents do not
            self._acquire(self.firm_agents[b], seller, price, acq.integration_cost_m_rmb)
            rows = np.array([f.row for f in queue], dtype=np.intp)

    def _acquire(self, buyer: Firm, target: Firm, price: float, deal_cost: float) -> None:
        t = self.table
        i, b = target.row, buyer.row
        t.flows[b, Account.ACQUISITION_COST] += deal_cost
        t.cash_m_rmb[b] -= deal_cost
        # The price settles the target's debts first; the rest goes to its owners.
        debt = max(-t.cash_m_rmb[i], 0.0)
        t.flows[i, Account.DEBT_SETTLED] += debt
        t.cash_m_rmb[i] += debt
        t.flows[b, Account.ACQUISITION_COST] += price
        t.cash_m_rmb[b] -= price
        t.users_m[b] += t.users_m[i]
        t.users_total_m[b] = np.add.reduce(t.users_m[b])
        t.users_spend_weight[b] = t.users_m[b] @ self.seg_spend_2023
        t.frontier_staff[b] += t.frontier_staff[i]
        t.own_h100e[b] += t.own_h100e[i]
        t.effective_compute[b] = max(t.effective_compute[b], t.effective_compute[i])
        t.users_m[i] = 0.0
        t.users_total_m[i] = t.users_spend_weight[i] = 0.0
        t.frontier_staff[i] = 0.0
        t.own_h100e[i] = 0.0
        self.month_flows["acquisition_spend_m_rmb"] += price
        self._exit(target, "acquired", detail=buyer.name, amount=price)

    def _exit(self, firm: Firm, cause: str, detail: str = "", amount: float = 0.0) -> None:
        """One firm leaves the market (see ``_exit_rows``); ``amount`` defaults to its cash."""
        i = firm.row
        value = amount if amount else float(self.table.cash_m_rmb[i])
        self._exit_rows(np.array([i]), cause, np.array([value]), detail)

    def _exit_rows(self, rows: np.ndarray, cause: str, amounts: np.ndarray, detail: str) -> None:
        """Firms at table ``rows`` (ascending) leave the market together: users re-choose,
        staff return to the pool, chips to the clouds; one event and panel row each."""
        t = self.table
        agents = self.firm_agents
        firms = [agents[i] for i in rows.tolist()]
        self.orphans_m = self.orphans_m + np.add.reduce(t.users_m[rows], axis=0)
        t.users_m[rows] = 0.0
        t.users_total_m[rows] = 0.0
        t.users_spend_weight[rows] = 0.0
        t.frontier_staff[rows] = 0.0
        self.month_flows[f"exits_{cause}"] += rows.size
        self.month_flows["exited_revenue_m_rmb"] += float(
            np.add.reduce(t.flows[:, Account.REVENUE][rows])
        )
        self.datacollector.log_events(self.month, t.firm_id[rows], cause, amounts, detail)
        self.datacollector.add_firms(self.month, t, rows, cause, self._panel_columns(rows))
        t.remove_rows(rows)
        for i in reversed(rows.tolist()):
            del agents[i]
        for firm in firms:
            firm.status = cause
            self.agent_by_name.pop(firm.name, None)
            firm.remove()
