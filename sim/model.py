"""The market model: a Mesa 3 ``Model`` whose ``step`` is one month.

``step`` reads as the schedule. Firms' numbers live in one struct of arrays (``sim.state``);
each stage calls pure functions of ``sim.stages`` and ``sim.markets`` on whole columns, and asks
the agents (``sim.agents``) for the decisions that draw on their own random streams. Nothing here
forces an outcome: entry, prices and exits follow from the mechanisms.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim.agents import FIRM_CLASSES, Firm, Government, Megatech, Startup, VentureFund, VerticalFirm
from sim.calendar import parse_month
from sim.markets.compute import clear_compute, ration_subsidy, voucher_contracts
from sim.markets.talent import allocate_staff, update_wage
from sim.markets.users import (
    bass_new_adopters,
    bertrand_markup,
    logit_shares,
    reallocate_users,
    usage_by_firm,
)
from sim.metrics import concentration_ratio, hhi
from sim.recorder import Recorder
from sim.rng import Streams
from sim.scenario import Scenario, load_scenario
from sim.stages import environment, finance, training
from sim.state import Account, FirmTable
from sim.vocab import EXIT_CAUSES, KINDS, REFERENCE_MONTH, VENTURE_KINDS

_BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


class GenAIMarket(mesa.Model):
    """China's generative-AI market, monthly from 2021-01.

    Args:
        scenario: a validated ``Scenario``, or the path of a scenario file (default: the baseline;
            a path lets ``mesa.batch_run`` and SolaraViz pass it as a plain parameter).
        seed: the replication's seed; every random decision draws from a named stream spawned
            from it (``sim.rng``).
        record_firms: keep the firm-level monthly panel (off for sweeps that need only metrics).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = _BASELINE,
        seed: int | None = None,
        record_firms: bool = True,
    ) -> None:
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        seed = sc.seed if seed is None else int(seed)
        self.streams = Streams(seed)
        super().__init__(rng=self.streams.mesa_seed)
        self.scenario_params = sc
        self.seed = seed
        self.month = 0
        self.n_months = sc.n_months
        self.datacollector = Recorder(record_firms)
        self.events = self.datacollector.events

        segs = sc.demand.segments
        self.n_segments = len(segs)
        self.seg_potential_2023 = np.array([s.potential_users_m_2023 for s in segs])
        self.seg_spend_2023 = np.array([s.spend_rmb_per_user_month_2023 for s in segs])
        self.seg_elasticity = np.array([s.price_elasticity for s in segs])
        self.seg_eco_weight = np.array([s.ecosystem_weight for s in segs])
        self.seg_consumer = np.array([s.customer == "consumer" for s in segs])
        self.seg_churn = sc.demand.churn_per_month * np.array(
            [sc.demand.churn_multiplier[s.monetisation] for s in segs]
        )
        # Churn of a firm with ecosystem e: seg_churn - e * seg_churn_eco (lock-in lowers it).
        self.seg_churn_eco = (
            sc.demand.ecosystem_churn_reduction * self.seg_churn * self.seg_eco_weight
        )
        self.elasticity_groups, self.seg_elasticity_group = np.unique(
            self.seg_elasticity, return_inverse=True
        )
        self.seg_sectors = [s.sector for s in segs]
        self.enterprise_sectors = sorted({s.sector for s in segs if s.customer == "enterprise"})
        # Behaviour by kind, as arrays indexed by kind (sim.vocab.KINDS).
        kinds = [sc.firms.kinds[k] for k in KINDS]
        self.kind_ambition = np.array([b.ambition_share_of_top_budget for b in kinds])
        self.kind_min_runway = np.array([b.min_runway_months for b in kinds])
        self.kind_reinvest = np.array([b.reinvest_share_of_revenue for b in kinds])
        self.kind_growth = np.array([b.budget_growth_per_year for b in kinds])
        self.kind_pivot_gap = np.array([b.pivot_gap_log10 for b in kinds])
        self.kind_pivot_prob = np.array([b.pivot_probability_per_month for b in kinds])
        self.kind_value_share = np.array([sc.pricing.user_value_share[k] for k in KINDS])
        self.kind_venture = np.array([k in VENTURE_KINDS for k in KINDS])

        self.table = FirmTable(self.n_segments)
        self._buffers: dict[str, np.ndarray] = {}
        self.firm_agents: list[Firm] = []  # aligned with the table's rows
        # Market state
        self.adopters_m = np.zeros(self.n_segments)
        self.potential_m = np.zeros(self.n_segments)
        self.outside_users_m = np.zeros(self.n_segments)
        self.orphans_m = np.zeros(self.n_segments)
        self.frontier_wage = sc.talent.frontier_wage_2021_m_rmb_per_year
        self.frontier_pool = sc.talent.frontier_pool_2021_people
        c = sc.compute
        self.imported_installed = c.initial_installed_h100e * (1 - c.domestic_share_of_initial)
        self.domestic_installed = c.initial_installed_h100e * c.domestic_share_of_initial
        self.domestic_midpoint = parse_month(c.domestic_supply_midpoint)
        self.compute_price = c.price_floor_2021_m_rmb_per_h100e_month
        self.price_floor = self.compute_price
        self.inference_spend_m_rmb = 0.0
        self.open_source_history: list[float] = []
        self.market_history: list[float] = []
        self.bankruptcy_months: list[int] = []
        self.hype = 1.0
        self.chatgpt_month = parse_month(sc.capital.chatgpt_release)
        self.entry_first_month = parse_month(sc.entry.first_month)
        self.roster_due = sorted(
            ((parse_month(f.entry), i, f) for i, f in enumerate(sc.roster)),
            key=lambda t: (t[0], t[1]),
        )
        self._entrant_counter = 0
        self.month_flows: dict[str, float] = {}

        self.government = Government(self)
        base_powder = sc.capital.inflow_2021_m_rmb_per_month * 12.0
        for name in sc.capital.funds:
            VentureFund(self, name, base_powder / len(sc.capital.funds))
        self.funds = self.agents_by_type[VentureFund]

    # ----------------------------------------------------------------------------------------
    # Schedule
    # ----------------------------------------------------------------------------------------

    def step(self) -> None:
        """One month, in this order."""
        self.month = self.steps - 1
        self.begin_month()
        self.update_environment()
        self.enter_firms()
        self.raise_capital()
        self.plan_budgets()
        self.clear_talent()
        self.clear_compute()
        self.train_models()
        self.set_prices()
        self.serve_users()
        self.settle_accounts()
        self.resolve_exits()
        self.record()

    def run(self) -> GenAIMarket:
        """Run to the scenario's end month."""
        self.run_until(self.n_months)
        return self

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def active_firms(self) -> list[Firm]:
        """Active foundation-model developers' agents, in entry order (the table's rows)."""
        return self.firm_agents

    def years_from_reference(self, month: int | None = None) -> float:
        """Years since 2023-01 (negative before)."""
        return ((self.month if month is None else month) - REFERENCE_MONTH) / 12.0

    def global_frontier_log10(self, month: int | None = None) -> float:
        """Capability of the global frontier (log10 effective H100e-months)."""
        t = self.month if month is None else month
        tech = self.scenario_params.technology
        return tech.global_frontier_2021_log10 + tech.global_frontier_growth_log10_per_year * t / 12

    def open_floor_log10(self) -> float:
        """Best capability available as open weights now (exogenous releases and open labs)."""
        lag = self.scenario_params.technology.open_source_lag_months
        hist = self.open_source_history
        endogenous = hist[-1 - lag] if len(hist) > lag else 0.0
        return max(self.government.exogenous_open_floor, endogenous)

    def spend_shares(self) -> np.ndarray:
        """Each firm's share of all adopters, weighted by segments' 2023 spending (0-1), (n,)."""
        total = float((self.adopters_m * self.seg_spend_2023).sum())
        if total <= 0:
            return np.zeros(self.table.n)
        return self.table.users_spend_weight / total

    def _scratch(self, name: str) -> np.ndarray:
        """A reusable (n_firms, n_segments) work array (contents undefined)."""
        buf = self._buffers.get(name)
        cap = self.table.capacity
        if buf is None or buf.shape[0] < cap:
            buf = self._buffers[name] = np.empty((cap, self.n_segments))
        return buf[: self.table.n]

    def log_event(
        self, month: int, firm: Firm | None, event: str, amount_m_rmb: float, detail: str = ""
    ) -> None:
        """Append to the event log (entries, rounds, subsidies, exits, policy steps)."""
        self.datacollector.log_event(month, firm, event, amount_m_rmb, detail)

    def apply_for_filing(self, firms: list[Firm]) -> None:
        """File consumer services: each is approved after the firm's own random delay."""
        mean = self.scenario_params.policy.regulation.approval_delay_mean_months
        t = self.table
        for firm in firms:
            i = firm.row
            t.approved[i] = False
            t.approval_month[i] = self.month + firm.filing_delay(mean)

    # ----------------------------------------------------------------------------------------
    # Stages
    # ----------------------------------------------------------------------------------------

    def begin_month(self) -> None:
        """Reset monthly flows; a new calendar year resets subsidy budgets."""
        if self.month % 12 == 0:
            self.government.new_year()
        self.table.flows = 0.0
        self.month_flows = {
            "entries": 0.0,
            "exited_revenue_m_rmb": 0.0,
            "vc_invested_m_rmb": 0.0,
            "gov_equity_m_rmb": 0.0,
            "subsidies_paid_m_rmb": 0.0,
            "acquisition_spend_m_rmb": 0.0,
            **{f"exits_{c}": 0.0 for c in EXIT_CAUSES},
        }

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
        self.funds.do("receive_inflow", inflow, sc.capital.vc_runoff_per_month)

        employed = float(t.frontier_staff.sum())
        institutes = int((t.kind == KINDS.index("institute")).sum())
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

        supply = environment.chip_supply_step(
            m,
            self.imported_installed,
            self.domestic_installed,
            gov.imported_supply_factor,
            self.domestic_midpoint,
            sc.compute,
        )
        self.imported_installed = supply.imported_installed
        self.domestic_installed = supply.domestic_installed
        self.domestic_efficiency = supply.domestic_efficiency
        self.price_floor = supply.price_floor

        due = ~t.approved & (t.approval_month >= 0) & (m >= t.approval_month)
        for i in np.flatnonzero(due):
            t.approved[i] = True
            self.log_event(m, self.firm_agents[i], "filing_approved", 0.0)

    def enter_firms(self) -> None:
        """Named players enter on their dates; others arrive stochastically with hype and money."""
        sc = self.scenario_params
        m = self.month
        floor = self.open_floor_log10()
        gap = sc.technology.open_weight_adoption_gap_log10
        while self.roster_due and self.roster_due[0][0] <= m:
            _, _, spec = self.roster_due.pop(0)
            firm = FIRM_CLASSES[spec.kind](self, name=spec.name, roster=True)
            eff = spec.efficiency
            if eff is None:
                eff = firm.draw_efficiency(sc.firms.roster_efficiency_sd_log)
            cap0 = spec.initial_capability_log10
            self._admit(
                firm,
                spec.home_sectors,
                cash_m_rmb=spec.cash_m_rmb,
                budget_m_rmb_per_month=spec.budget_m_rmb_per_month,
                parent_backed=spec.budget_m_rmb_per_month > 0,
                ecosystem=spec.ecosystem,
                own_chips_share=spec.own_chips_share,
                open_source=spec.open_source,
                efficiency=eff,
                capability=max(floor - gap, 0.0) if cap0 is None else cap0,
            )

        if m < self.entry_first_month:
            return
        e = sc.entry
        ref_powder = sc.capital.inflow_2021_m_rmb_per_month * 12.0
        powder = self.funds.agg("dry_powder_m_rmb", sum)
        ratio = float(np.clip(powder / max(ref_powder, 1e-9), e.money_ratio_min, e.money_ratio_max))
        rate = e.base_rate_per_month * self.hype**e.hype_elasticity * ratio**e.money_elasticity
        for _ in range(int(self.streams["entry"].poisson(rate))):
            self._entrant_counter += 1
            # The n-th entrant has the same traits in every scenario (common random numbers).
            traits = self.streams.firm(f"entrant-{self._entrant_counter}")
            vertical = traits.random() < e.vertical_share
            cls = VerticalFirm if vertical else Startup
            cash = e.seed_cash_median_m_rmb * math.exp(e.seed_cash_sd_log * traits.normal())
            sectors: list[str] = []
            if vertical and self.enterprise_sectors:
                sectors = [self.enterprise_sectors[traits.integers(len(self.enterprise_sectors))]]
            firm = cls(self, name=f"{cls.kind}-{self._entrant_counter:03d}", rng=traits)
            self._admit(
                firm,
                sectors,
                cash_m_rmb=cash,
                efficiency=firm.draw_efficiency(sc.firms.efficiency_sd_log),
                capability=max(floor - gap, 0.0),
            )

    def _admit(self, firm: Firm, home_sectors: list[str], capability: float, **values: Any) -> None:
        """Give an entrant its row in the firm table and file it if the filing duty applies."""
        t = self.table
        i = t.append(
            firm.unique_id,
            kind=firm.kind_index,
            entry_month=self.month,
            effective_compute=10.0**capability,
            own_capability_log10=capability,
            capability_log10=capability,
            approved=not self.government.filing_active,
            **values,
        )
        fit = self.scenario_params.demand.sector_fit_weight
        t.fit[i] = [fit if s in home_sectors else 0.0 for s in self.seg_sectors]
        t.flows[i, Account.ENTRY_CAPITAL] += t.cash_m_rmb[i]
        self.firm_agents.append(firm)
        self.datacollector.register_firm(firm.unique_id, firm.name, firm.kind, firm.roster)
        self.month_flows["entries"] += 1
        if self.government.filing_active:
            self.apply_for_filing([firm])
        detail = "roster" if firm.roster else ""
        self.log_event(self.month, firm, "entry", float(t.cash_m_rmb[i]), detail)

    def raise_capital(self) -> None:
        """Startups short of runway pitch; funds back the best-scored while hype lasts."""
        cap = self.scenario_params.capital
        m, t, gov = self.month, self.table, self.government
        if t.n == 0:
            return
        venture = self.kind_venture[t.kind]
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        seeking = np.flatnonzero(
            ~t.parent_backed
            & venture
            & (t.entry_month < m)
            & (runway < cap.raise_below_runway_months)
        )
        if seeking.size == 0:
            return
        noise = np.array([self.firm_agents[i].pitch_noise(cap.screening_noise_sd) for i in seeking])
        scores = finance.funding_scores(
            t.own_capability_log10[seeking],
            float(np.median(t.own_capability_log10)),
            m - t.last_funded_month[seeking],
            t.revenue_m_rmb[seeking],
            noise,
            cap.screening_scale_log10,
            cap.herding_weight,
            cap.herding_window_months,
        )
        threshold = cap.quality_threshold + math.log(1.0 / self.hype)
        equity = [(p, gov.rate(p)) for p in gov.active_programmes("equity_fund")]
        funds = list(self.funds)
        cash, flows, last_funded = t.cash_m_rmb, t.flows, t.last_funded_month  # views
        for k in np.argsort(-scores, kind="stable"):
            if scores[k] < threshold:
                break
            i = int(seeking[k])
            firm = self.firm_agents[i]
            want = cap.round_runway_months * max(t.net_burn_m_rmb[i], cap.min_round_burn_m_rmb)
            fund = max(funds, key=lambda f: f.dry_powder_m_rmb)
            paid = fund.invest(want)
            if paid <= 0:
                break
            cash[i] += paid
            flows[i, Account.VC] += paid
            last_funded[i] = m
            self.month_flows["vc_invested_m_rmb"] += paid
            self.log_event(m, firm, "funding_round", paid, fund.name)
            for prog, rate in equity:
                if firm.kind not in prog.eligible:
                    continue
                amount = min(
                    rate * paid, gov.cap_left_one(prog, firm.unique_id), gov.budget_left(prog)
                )
                if amount > 0:
                    gov.pay_one(prog, firm.unique_id, amount)
                    cash[i] += amount
                    flows[i, Account.GOV_EQUITY] += amount
                    self.month_flows["gov_equity_m_rmb"] += amount
                    self.log_event(m, firm, "government_equity", amount, prog.name)

    def plan_budgets(self) -> None:
        """Each firm sets its R&D budget; committed budgets grow."""
        t = self.table
        t.budget_m_rmb_per_month = finance.grow_commitments(
            t.budget_m_rmb_per_month, self.kind_growth[t.kind], t.entry_month < self.month
        )
        top = float(t.rd_budget_m_rmb.max()) if t.n else 0.0  # last month's budgets
        t.rd_budget_m_rmb = finance.plan_budgets(
            t.budget_m_rmb_per_month,
            t.cash_m_rmb,
            t.operating_margin_m_rmb,
            top,
            self.kind_ambition[t.kind],
            self.kind_min_runway[t.kind],
            self.kind_reinvest[t.kind],
        )

    def clear_talent(self) -> None:
        """Frontier-talent market: desired head-counts at the going wage, then hiring and wage."""
        tal = self.scenario_params.talent
        t = self.table
        if t.n == 0:
            return
        monthly_cost = (
            self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year
        ) / 12
        desired = tal.talent_budget_share * t.rd_budget_m_rmb / monthly_cost
        t.frontier_staff, _, _ = allocate_staff(t.frontier_staff, desired, self.frontier_pool)
        t.flows[:, Account.STAFF_COST] += t.frontier_staff * monthly_cost
        self.frontier_wage = update_wage(
            self.frontier_wage,
            float(desired.sum()),
            self.frontier_pool,
            tal.wage_adjustment,
            floor=tal.frontier_wage_2021_m_rmb_per_year,
        )

    def clear_compute(self) -> None:
        """Training compute: own chips first, vouchers stretch budgets, one price clears the rest.

        Own chips are domestic accelerators taken at cost; the rest is rented at the market
        clearing price.
        """
        sc = self.scenario_params
        gov, t = self.government, self.table
        if t.n == 0:
            return
        compute_money = np.maximum(t.rd_budget_m_rmb - t.flows[:, Account.STAFF_COST], 0.0)
        # Own chips come out of the domestic capacity open to foundation models (pro rata if short).
        fm_share = sc.compute.fm_share_of_capacity
        own_capacity = fm_share * self.domestic_installed
        own_h100e = compute_money * t.own_chips_share / self.price_floor
        if own_h100e.sum() > own_capacity:
            own_h100e *= own_capacity / own_h100e.sum()
        market_money = compute_money - own_h100e * self.price_floor

        contracts = market_money.copy()
        for prog in gov.active_programmes("compute_voucher"):
            eligible = gov.eligible(prog.eligible, t.kind)
            _, claims = voucher_contracts(
                market_money, np.full(t.n, gov.rate(prog)), gov.cap_left(prog, t.firm_id)
            )
            paid = ration_subsidy(np.where(eligible, claims, 0.0), gov.budget_left(prog))
            contracts += paid
            gov.pay(prog, t.firm_id, paid)
            t.flows[:, Account.SUBSIDY_IN] += paid
            t.flows[:, Account.COMPUTE_COST] += paid  # the voucher is spent on compute
            self._book_subsidy(prog.name, paid)

        # Serving users bids for the same capacity as training: last month's inference spending
        # (lagged, so the price need not solve a fixed point) joins this month's contracts.
        capacity = (
            fm_share * (self.imported_installed + self.domestic_installed)
            - own_h100e.sum()
            + gov.public_capacity_h100e
        )
        self.compute_price, market_h100e = clear_compute(
            contracts,
            capacity,
            self.price_floor,
            other_demand_m_rmb=self.inference_spend_m_rmb,
            previous_price_m_rmb=self.compute_price,
            adjustment=sc.compute.price_adjustment_per_month,
        )
        # Public compute: eligible firms get the platform's discount on their share of it.
        if gov.public_capacity_h100e > 0 and gov.public_discount > 0:
            demand = np.where(gov.eligible(gov.public_eligible, t.kind), market_h100e, 0.0)
            served = demand * min(1.0, gov.public_capacity_h100e / max(demand.sum(), 1e-9))
            rebate = served * self.compute_price * gov.public_discount
            t.flows[:, Account.SUBSIDY_IN] += rebate
            self.month_flows["subsidies_paid_m_rmb"] += float(rebate.sum())
        t.compute_h100e = market_h100e + own_h100e
        t.flows[:, Account.COMPUTE_COST] += compute_money

    def _book_subsidy(self, name: str, paid: np.ndarray) -> None:
        self.month_flows["subsidies_paid_m_rmb"] += float(paid.sum())
        for i in np.flatnonzero(paid > 1e-6):  # at least one RMB: rationing dust is no event
            self.log_event(self.month, self.firm_agents[i], "subsidy", float(paid[i]), name)

    def train_models(self) -> None:
        """Capability from compute and talent (Cobb-Douglas), depreciation, data feedback."""
        tech = self.scenario_params.technology
        t = self.table
        if t.n == 0:
            self.open_source_history.append(0.0)
            return
        t.effective_compute, t.own_capability_log10, t.capability_log10 = training.train(
            self.month,
            t.compute_h100e,
            t.frontier_staff,
            t.efficiency,
            t.effective_compute,
            t.users_total_m,
            self.open_floor_log10(),
            tech,
        )
        released = t.capability_log10[t.open_source] - tech.open_release_gap_log10
        self.open_source_history.append(max(0.0, float(released.max(initial=0.0))))

    def marginal_cost_index(self) -> float:
        """Compute cost of serving one RMB of usage at the 2023 reference price (price-index units).

        Inference compute is valued at the market price for every firm: chips a firm owns have the
        market rental as their opportunity cost.
        """
        c = self.scenario_params.compute
        ref_price = c.price_floor_2021_m_rmb_per_h100e_month * (
            1 - c.price_floor_decline_per_year
        ) ** (REFERENCE_MONTH / 12)
        efficiency = (1 - c.inference_efficiency_gain_per_year) ** self.years_from_reference()
        return c.inference_cost_share_2023 * self.compute_price / ref_price * efficiency

    def set_prices(self) -> None:
        """Partial adjustment towards a logit-Bertrand markup over (strategic) marginal cost."""
        sc = self.scenario_params
        t = self.table
        if t.n == 0:
            return
        mc = self.marginal_cost_index()
        target = (
            mc
            * (1 - self.kind_value_share[t.kind])
            * bertrand_markup(
                self.spend_shares(), sc.demand.price_sensitivity, sc.pricing.max_markup
            )
        )
        price = t.price_index
        k = sc.pricing.adjustment_per_month
        new = np.isnan(price)
        adjusted = np.exp(
            np.log(np.where(new, 1.0, price)) + k * np.log(target / np.where(new, 1.0, price))
        )
        t.price_index = np.where(new, target, adjusted)
        t.marginal_cost = mc

    def serve_users(self) -> None:
        """Adoption (Bass) and provider choice (logit) per segment; revenue and inference cost."""
        d = self.scenario_params.demand
        t = self.table
        best = float(t.capability_log10.max()) if t.n else 0.0
        floor = self.open_floor_log10()
        growth = (1 + d.potential_growth_per_year) ** self.years_from_reference()
        usefulness = environment.logistic(
            (max(best, floor) - d.useful_capability_log10) / d.usefulness_width_log10
        )
        potential = self.seg_potential_2023 * d.demand_scale * growth * usefulness
        p_eff = d.bass_innovation_per_month * self.hype
        new = bass_new_adopters(self.adopters_m, potential, p_eff, d.bass_imitation_per_month)
        self.adopters_m = self.adopters_m + new
        self.potential_m = potential

        outside_price = max(self.marginal_cost_index() * d.self_hosting_cost_multiple, 1e-9)
        outside_u = np.full(
            self.n_segments,
            d.capability_weight * (floor - best)
            - d.price_sensitivity * math.log(outside_price)
            + d.outside_option_utility,
        )
        if t.n == 0:
            self.outside_users_m = self.outside_users_m + new + self.orphans_m
            self.orphans_m = np.zeros(self.n_segments)
            return

        shocks = np.array([f.stream.normal(0.0, d.taste_shock_sd) for f in self.firm_agents])
        t.taste = d.taste_persistence * t.taste + shocks
        firm_u = (
            d.capability_weight * (t.capability_log10 - best)
            - d.price_sensitivity * np.log(t.price_index)
            + t.taste
        )
        # (firms, segments) utilities: own appeal + ecosystem where it matters + sector fit.
        # Built in scratch buffers kept across months: fresh (n, S) arrays cost page faults.
        utility = self._scratch("utility")
        np.multiply.outer(d.ecosystem_weight * t.ecosystem, self.seg_eco_weight, out=utility)
        utility += firm_u[:, None]
        utility += t.fit
        # Awaiting filing approval: a firm may not serve consumer segments (utility -inf).
        waiting = np.ix_(~t.approved, self.seg_consumer)
        utility[waiting] = -np.inf
        inside, outside = logit_shares(utility, None, outside_u, overwrite=True)
        # Churn: the segment's rate, lowered by an ecosystem where the segment values it.
        churn = self._scratch("churn")
        np.multiply.outer(t.ecosystem, -self.seg_churn_eco, out=churn)
        churn += self.seg_churn
        if self.seg_churn.max() > 1:
            np.minimum(churn, 1.0, out=churn)
        churn[waiting] = 1.0  # users of a provider that may not serve them all re-choose
        t.users_m, self.outside_users_m = reallocate_users(
            t.users_m,
            self.outside_users_m,
            churn,
            d.churn_per_month,
            new,
            self.orphans_m,
            inside,
            outside,
            overwrite=True,
        )
        self.orphans_m = np.zeros(self.n_segments)
        t.users_total_m = t.users_m.sum(axis=1)
        t.users_spend_weight = t.users_m @ self.seg_spend_2023

        spend = (
            self.seg_spend_2023
            * d.spend_scale
            * (1 + d.usage_growth_per_year) ** self.years_from_reference()
        )
        usage = usage_by_firm(
            t.users_m, t.price_index, spend, self.elasticity_groups, self.seg_elasticity_group
        )
        revenue = usage * t.price_index  # M RMB (users in millions)
        inference = usage * t.marginal_cost
        t.flows[:, Account.REVENUE] += revenue
        t.flows[:, Account.INFERENCE_COST] += inference
        # Spending on serving users, which bids for compute capacity next month.
        self.inference_spend_m_rmb = float(inference.sum())

    def settle_accounts(self) -> None:
        """Cash flows: revenue, subsidies and funding in; staff, compute, inference, overheads out.

        Parent-backed firms (megatechs, institutes, roster firms with a committed budget) receive
        their committed budget from the parent and have any shortfall covered.
        """
        sc = self.scenario_params
        gov, t = self.government, self.table
        if t.n == 0:
            return
        fl = t.flows
        fl[:, Account.OVERHEAD] += sc.firms.overhead_m_rmb_per_month
        if gov.filing_active:
            fl[:, Account.COMPLIANCE_COST] += np.where(
                t.approved, sc.policy.regulation.compliance_cost_m_rmb_per_month, 0.0
            )
        # R&D spending net of compute vouchers; each programme co-funds a share of it.
        rd = fl[:, Account.STAFF_COST] + fl[:, Account.COMPUTE_COST] - fl[:, Account.SUBSIDY_IN]
        payments: list[tuple[int, int, str, float]] = []
        for k, prog in enumerate(gov.active_programmes("cofunding")):
            claims = np.where(
                gov.eligible(prog.eligible, t.kind),
                np.minimum(gov.rate(prog) * rd, gov.cap_left(prog, t.firm_id)),
                0.0,
            )
            paid = finance.first_come_claims(claims, gov.budget_left(prog))
            gov.pay(prog, t.firm_id, paid)
            fl[:, Account.SUBSIDY_IN] += paid
            self.month_flows["subsidies_paid_m_rmb"] += float(paid.sum())
            payments += [
                (int(i), k, prog.name, float(paid[i])) for i in np.flatnonzero(paid > 1e-6)
            ]
        for i, _, name, amount in sorted(payments):  # logged firm by firm
            self.log_event(self.month, self.firm_agents[i], "subsidy", amount, name)
        t.cash_m_rmb, t.net_burn_m_rmb = finance.settle(
            fl, t.cash_m_rmb, t.budget_m_rmb_per_month, t.parent_backed
        )
        t.revenue_m_rmb = fl[:, Account.REVENUE]
        t.operating_margin_m_rmb = fl[:, Account.REVENUE] - fl[:, Account.INFERENCE_COST]

    def resolve_exits(self) -> None:
        """Bankruptcy (cash out, no rescue), acquisition by a megatech, or pivot to applications."""
        sc = self.scenario_params
        acq = sc.acquisitions
        m, t = self.month, self.table
        if t.n == 0:
            return
        leader = float(t.capability_log10.max())
        floor = self.open_floor_log10()
        # Megatechs buy; their capability does not change in this stage (only their rows move).
        buyers = [f for f in self.firm_agents if isinstance(f, Megatech)]
        reach = np.array([t.capability_log10[b.row] for b in buyers]) - acq.max_capability_gap_log10
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        at_risk = ~t.parent_backed & ((t.cash_m_rmb < 0) | (runway < acq.distress_runway_months))
        for firm in [self.firm_agents[i] for i in np.flatnonzero(at_risk)]:
            i = firm.row
            if buyers:
                candidates = [
                    b for b, r in zip(buyers, reach, strict=True) if t.capability_log10[i] >= r
                ]
                buyer = (
                    firm.accept_offer(candidates, acq.probability_per_month) if candidates else None
                )
                if buyer is not None:
                    self._acquire(buyer, firm)
                    continue
            if t.cash_m_rmb[i] < 0:
                self._exit(firm, "bankrupt")
                self.bankruptcy_months.append(m)
        if t.n == 0:
            return
        # Pressure to stop training: far behind the leader (full pressure), or commoditised, i.e.
        # its own model is below the open weights (graded by how far below) and it has no user
        # base of its own to defend. Only firms past their grace period and losing money decide.
        gap = self.kind_pivot_gap[t.kind]
        pressure = np.where(leader - t.capability_log10 > gap, 1.0, 0.0)
        below = np.clip((floor - t.own_capability_log10) / gap, 0.0, 1.0)
        undefended = self.spend_shares() < sc.firms.defend_share
        pressure = np.where(undefended, np.maximum(pressure, below), pressure)
        deciding = (
            (m - t.entry_month >= sc.firms.pivot_grace_months)
            & (t.net_burn_m_rmb > 0)
            & (pressure > 0)
        )
        prob = self.kind_pivot_prob[t.kind]
        for firm, p, q in [
            (self.firm_agents[i], pressure[i], prob[i]) for i in np.flatnonzero(deciding)
        ]:
            if firm.stop_pretraining(float(p), float(q)):
                self._exit(firm, "pivoted")

    def _acquire(self, buyer: Firm, target: Firm) -> None:
        acq = self.scenario_params.acquisitions
        t = self.table
        i, b = target.row, buyer.row
        price = (
            acq.price_to_annual_revenue * 12 * t.revenue_m_rmb[i]
            + acq.talent_value_m_rmb_per_researcher * t.frontier_staff[i]
        )
        # The buyer also assumes the target's debts (negative cash), settling them at once.
        debt = max(-t.cash_m_rmb[i], 0.0)
        t.flows[i, Account.DEBT_SETTLED] += debt
        t.cash_m_rmb[i] += debt
        t.flows[b, Account.ACQUISITION_COST] += price + debt
        t.cash_m_rmb[b] -= price + debt
        if t.cash_m_rmb[b] < 0:
            t.flows[b, Account.PARENT] += -t.cash_m_rmb[b]
            t.cash_m_rmb[b] = 0.0
        t.users_m[b] += t.users_m[i]
        t.users_total_m[b] = t.users_m[b].sum()
        t.users_spend_weight[b] = t.users_m[b] @ self.seg_spend_2023
        t.frontier_staff[b] += t.frontier_staff[i]
        t.effective_compute[b] = max(t.effective_compute[b], t.effective_compute[i])
        t.users_m[i] = 0.0
        t.users_total_m[i] = t.users_spend_weight[i] = 0.0
        t.frontier_staff[i] = 0.0
        self.month_flows["acquisition_spend_m_rmb"] += price
        self._exit(target, "acquired", detail=buyer.name, amount=price)

    def _exit(self, firm: Firm, cause: str, detail: str = "", amount: float = 0.0) -> None:
        """Leave the foundation-model market: users re-choose, staff return to the pool."""
        t = self.table
        i = firm.row
        self.orphans_m = self.orphans_m + t.users_m[i]
        t.users_m[i] = 0.0
        t.users_total_m[i] = t.users_spend_weight[i] = 0.0
        t.frontier_staff[i] = 0.0
        firm.status = cause
        self.month_flows[f"exits_{cause}"] += 1
        self.month_flows["exited_revenue_m_rmb"] += float(t.flows[i, Account.REVENUE])
        self.log_event(
            self.month, firm, cause, amount if amount else float(t.cash_m_rmb[i]), detail
        )
        self.datacollector.add_firms(self.month, t, slice(i, i + 1), cause)
        t.remove(firm.unique_id)
        del self.firm_agents[i]
        firm.remove()

    # ----------------------------------------------------------------------------------------
    # Recording
    # ----------------------------------------------------------------------------------------

    def record(self) -> None:
        """Monthly metrics (one row) and the firm panel (one row per active firm)."""
        t, m = self.table, self.month
        users = t.users_total_m
        revenue = t.revenue_m_rmb
        # Market size counts this month's revenue of firms that exited at its end as well.
        market_m_rmb = float(revenue.sum()) + self.month_flows["exited_revenue_m_rmb"]
        self.market_history.append(market_m_rmb)
        best = float(t.capability_log10.max()) if t.n else 0.0
        installed = self.imported_installed + self.domestic_installed
        counts = np.bincount(t.kind, minlength=len(KINDS))
        mean_price = float(np.average(t.price_index, weights=users + 1e-12)) if t.n else np.nan
        row: dict[str, Any] = {
            "month": m,
            "active_developers": t.n,
            **{f"active_{k}": int(counts[j]) for j, k in enumerate(KINDS)},
            "entries": int(self.month_flows["entries"]),
            **{f"exits_{c}": int(self.month_flows[f"exits_{c}"]) for c in EXIT_CAUSES},
            "hhi_users": hhi(users),
            "cr3_users": concentration_ratio(users, 3),
            "hhi_revenue": hhi(revenue),
            "cr3_revenue": concentration_ratio(revenue, 3),
            "market_size_bn_rmb_annualised": market_m_rmb * 12 / 1000,
            "revenue_m_rmb": market_m_rmb,
            "users_m": float(users.sum()),
            "outside_users_m": float(self.outside_users_m.sum()),
            "users_awaiting_choice_m": float(self.orphans_m.sum()),
            "adopters_m": float(self.adopters_m.sum()),
            "potential_adopters_m": float(self.potential_m.sum()),
            "mean_price_index": mean_price,
            "frontier_wage_m_rmb_per_year": self.frontier_wage,
            "frontier_pool": self.frontier_pool,
            "frontier_employed": float(t.frontier_staff.sum()),
            "compute_price_m_rmb_per_h100e_month": self.compute_price,
            "installed_h100e": installed,
            "inference_h100e": self.inference_spend_m_rmb / self.compute_price,
            "domestic_chip_share": self.domestic_installed / installed if installed > 0 else 0.0,
            "imported_supply_factor": self.government.imported_supply_factor,
            "vc_inflow_factor": self.government.vc_inflow_factor,
            "subsidies_paid_m_rmb": self.month_flows["subsidies_paid_m_rmb"],
            "gov_equity_m_rmb": self.month_flows["gov_equity_m_rmb"],
            "vc_invested_m_rmb": self.month_flows["vc_invested_m_rmb"],
            "acquisition_spend_m_rmb": self.month_flows["acquisition_spend_m_rmb"],
            "vc_dry_powder_m_rmb": float(self.funds.agg("dry_powder_m_rmb", sum)),
            "hype_index": self.hype,
            "best_capability_log10": best,
            "open_floor_log10": self.open_floor_log10(),
            "global_frontier_log10": self.global_frontier_log10(),
            "capability_gap_log10": self.global_frontier_log10() - best,
        }
        self.datacollector.add_metrics(self.time, row)
        self.datacollector.add_firms(m, t, slice(0, t.n), "active")
        if self.month + 1 >= self.n_months:
            self.running = False
