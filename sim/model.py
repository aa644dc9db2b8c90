"""The market model: a Mesa 3 ``Model`` whose ``step`` is one month.

``step`` reads as the schedule; each stage is a method below. Agents (firms, funds, government)
make decisions; the pure functions of ``sim.markets`` clear talent, compute and users across all
firms at once. Nothing here forces an outcome: entry, prices and exits follow from the mechanisms.
"""

from __future__ import annotations

import math
from typing import Any

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim.agents import (
    ACTIVE,
    FIRM_CLASSES,
    Firm,
    Government,
    Megatech,
    Startup,
    VentureFund,
    VerticalFirm,
)
from sim.calendar import parse_month
from sim.markets.compute import clear_compute, ration_subsidy, voucher_contracts
from sim.markets.talent import allocate_staff, update_wage
from sim.markets.users import (
    bass_new_adopters,
    bertrand_markup,
    logit_shares,
    reallocate_users,
)
from sim.metrics import concentration_ratio, hhi
from sim.rng import Streams
from sim.scenario import Scenario

REFERENCE_MONTH = 24  # 2023-01: reference date of demand and price parameters
KINDS = ("megatech", "startup", "institute", "vertical")
EXIT_CAUSES = ("bankrupt", "acquired", "pivoted")
SELF_HOSTING_MARKUP = 1.5  # self-hosting open weights costs 1.5x the raw inference compute


def logistic(x: float | np.ndarray) -> Any:
    """The standard logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


class GenAIMarket(mesa.Model):
    """China's generative-AI market, monthly from 2021-01.

    Args:
        scenario: a validated ``Scenario``.
        seed: the replication's seed; every random decision draws from a named stream
            spawned from it (``sim.rng``).
        record_firms: keep the firm-level monthly panel (off for sweeps that need only metrics).
    """

    def __init__(self, scenario: Scenario, seed: int, record_firms: bool = True) -> None:
        self.streams = Streams(seed)
        super().__init__(rng=self.streams.mesa_seed)
        self.scenario_params = scenario
        self.seed = seed
        self.record_firms = record_firms
        self.month = 0
        self.n_months = scenario.n_months
        sc = scenario
        segs = sc.demand.segments
        self.n_segments = len(segs)
        self.seg_potential_2023 = np.array([s.potential_users_m_2023 for s in segs])
        self.seg_spend_2023 = np.array([s.spend_rmb_per_user_month_2023 for s in segs])
        self.seg_elasticity = np.array([s.price_elasticity for s in segs])
        self.seg_eco_weight = np.array([s.ecosystem_weight for s in segs])
        self.seg_consumer = np.array([s.customer == "consumer" for s in segs])
        self.seg_churn_multiplier = np.array(
            [sc.demand.churn_multiplier[s.monetisation] for s in segs]
        )
        self.seg_sectors = [s.sector for s in segs]
        self.sectors = sorted(set(self.seg_sectors))
        self.enterprise_sectors = sorted({s.sector for s in segs if s.customer == "enterprise"})

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
        self.compute_price = c.price_floor_2021_m_rmb_per_h100e_month
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
        self.events: list[dict[str, Any]] = []
        self.metrics_rows: list[dict[str, Any]] = []
        self.firm_rows: list[dict[str, Any]] = []
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

    def active_firms(self) -> AgentSet[Firm]:
        """Active foundation-model developers, in entry order."""
        return self.agents.select(agent_type=Firm)  # exited firms are removed from the model

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

    def spend_share(self, firm: Firm) -> float:
        """A firm's share of all adopters, each weighted by its segment's 2023 spending (0-1)."""
        total = float((self.adopters_m * self.seg_spend_2023).sum())
        return float((firm.users_m * self.seg_spend_2023).sum()) / total if total > 0 else 0.0

    def log_event(
        self, month: int, firm: Firm | None, event: str, amount_m_rmb: float, detail: str = ""
    ) -> None:
        """Append to the event log (entries, rounds, subsidies, exits, policy steps)."""
        self.events.append(
            {
                "month": month,
                "firm_id": -1 if firm is None else firm.unique_id,
                "firm": "" if firm is None else firm.name,
                "kind": "" if firm is None else firm.kind,
                "event": event,
                "amount_m_rmb": float(amount_m_rmb),
                "detail": detail,
            }
        )

    def apply_for_filing(self, firm: Firm) -> None:
        """Start the filing of a consumer service: approval after a random delay."""
        reg = self.scenario_params.policy.regulation
        mean = reg.approval_delay_mean_months
        delay = 0 if mean <= 0 else int(firm.stream.geometric(1.0 / (1.0 + mean))) - 1
        firm.approved = False
        firm.approval_month = self.month + max(delay, 0)

    # ----------------------------------------------------------------------------------------
    # Stages
    # ----------------------------------------------------------------------------------------

    def begin_month(self) -> None:
        """Reset monthly flows; new calendar year resets subsidy budgets."""
        if self.month % 12 == 0:
            self.government.new_year()
        self.active_firms().do(lambda firm: firm.flows.clear())
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
        cap = sc.capital
        m = self.month
        # Hype index: 1 + decaying ChatGPT shock + market growth - recent failures.
        shock = 0.0
        if m >= self.chatgpt_month:
            shock = cap.chatgpt_shock * 0.5 ** (
                (m - self.chatgpt_month) / cap.hype_half_life_months
            )
        growth = 0.0
        if len(self.market_history) >= 13 and self.market_history[-13] > 0:
            growth = min(self.market_history[-1] / self.market_history[-13] - 1.0, 2.0)
        failures = sum(1 for b in self.bankruptcy_months if m - b < 12)
        self.hype = max(
            0.1,
            1.0
            + shock
            + cap.growth_hype_weight * max(growth, 0.0)
            - cap.failure_penalty * failures,
        )
        inflow = (
            cap.inflow_2021_m_rmb_per_month
            * self.hype
            * self.government.vc_inflow_factor
            / len(self.funds)
        )
        self.funds.do("receive_inflow", inflow, cap.vc_runoff_per_month)

        # Frontier-talent pool: attrition, inflow (cut by decoupling), institutes' training,
        # upskilling through high-level projects.
        t = sc.talent
        firms = self.active_firms()
        employed = sum(f.frontier_staff for f in firms)
        institutes = sum(1 for f in firms if f.kind == "institute")
        self.frontier_pool += (
            -t.frontier_attrition_per_month * self.frontier_pool
            + t.frontier_inflow_people_per_month
            * self.government.frontier_inflow_factor
            * (self.frontier_wage / t.frontier_wage_2021_m_rmb_per_year) ** t.inflow_wage_elasticity
            + t.institute_training_people_per_month * institutes
            + t.upskilling_per_frontier_researcher_month * employed
        )
        # Departures leave firms in proportion to their staff.
        if employed > self.frontier_pool and employed > 0:
            scale = self.frontier_pool / employed
            for f in firms:
                f.frontier_staff *= scale

        # Accelerators: retire, then add imported (export controls) and domestic supply.
        c = sc.compute
        years = m / 12.0
        retire = 1.0 / c.chip_lifetime_months
        imported_new = (
            c.imported_supply_2021_h100e_per_month
            * (1 + c.imported_supply_growth_per_year) ** years
            * self.government.imported_supply_factor
        )
        mid = parse_month(c.domestic_supply_midpoint)
        chips = c.domestic_supply_cap_chips_per_month * logistic(
            c.domestic_supply_steepness_per_year * (m - mid) / 12.0
        )
        self.domestic_efficiency = min(
            1.0, c.domestic_efficiency_2021 + c.domestic_efficiency_gain_per_year * years
        )
        self.imported_installed = self.imported_installed * (1 - retire) + imported_new
        self.domestic_installed = (
            self.domestic_installed * (1 - retire) + chips * self.domestic_efficiency
        )
        self.price_floor = (
            c.price_floor_2021_m_rmb_per_h100e_month * (1 - c.price_floor_decline_per_year) ** years
        )

        # Filing approvals come through.
        for f in firms:
            if not f.approved and f.approval_month is not None and m >= f.approval_month:
                f.approved = True
                self.log_event(m, f, "filing_approved", 0.0)

    def enter_firms(self) -> None:
        """Named players enter on their dates; others arrive stochastically with hype and money."""
        sc = self.scenario_params
        m = self.month
        floor = self.open_floor_log10()
        gap = sc.technology.open_weight_adoption_gap_log10
        while self.roster_due and self.roster_due[0][0] <= m:
            _, _, spec = self.roster_due.pop(0)
            cap0 = spec.initial_capability_log10
            firm = FIRM_CLASSES[spec.kind](
                self,
                name=spec.name,
                cash_m_rmb=spec.cash_m_rmb,
                budget_m_rmb_per_month=spec.budget_m_rmb_per_month,
                ecosystem=spec.ecosystem,
                own_chips_share=spec.own_chips_share,
                open_source=spec.open_source,
                home_sectors=tuple(spec.home_sectors),
                efficiency=spec.efficiency,
                efficiency_sd_log=sc.firms.roster_efficiency_sd_log,
                capability_log10=max(floor - gap, 0.0) if cap0 is None else cap0,
                roster=True,
            )
            self._admit(firm)

        if m < self.entry_first_month:
            return
        e = sc.entry
        ref_powder = sc.capital.inflow_2021_m_rmb_per_month * 12.0
        powder = self.funds.agg("dry_powder_m_rmb", sum)
        money = float(np.clip(powder / max(ref_powder, 1e-9), 0.1, 4.0)) ** 0.5
        rate = e.base_rate_per_month * self.hype**e.hype_elasticity * money
        rng_entry = self.streams["entry"]
        for _ in range(int(rng_entry.poisson(rate))):
            self._entrant_counter += 1
            key = (
                f"entrant-{self._entrant_counter}"  # the n-th entrant has the same traits anywhere
            )
            traits = self.streams.firm(key)
            vertical = traits.random() < e.vertical_share
            cls = VerticalFirm if vertical else Startup
            cash = e.seed_cash_median_m_rmb * math.exp(e.seed_cash_sd_log * traits.normal())
            sectors: tuple[str, ...] = ()
            if vertical and self.enterprise_sectors:
                sectors = (self.enterprise_sectors[traits.integers(len(self.enterprise_sectors))],)
            firm = cls(
                self,
                name=f"{cls.kind}-{self._entrant_counter:03d}",
                cash_m_rmb=cash,
                home_sectors=sectors,
                efficiency=None,
                efficiency_sd_log=sc.firms.efficiency_sd_log,
                capability_log10=max(floor - gap, 0.0),
                rng=traits,
            )
            self._admit(firm)

    def _admit(self, firm: Firm) -> None:
        firm.entry_month = self.month
        firm.flows["entry_capital"] += firm.cash_m_rmb
        self.month_flows["entries"] += 1
        if self.government.filing_active:
            self.apply_for_filing(firm)
        self.log_event(self.month, firm, "entry", firm.cash_m_rmb, "roster" if firm.roster else "")

    def raise_capital(self) -> None:
        """Startups short of runway pitch; funds back the best-scored while hype lasts."""
        sc = self.scenario_params
        cap = sc.capital
        m = self.month
        firms = self.active_firms()
        seekers = [
            f
            for f in firms
            if not f.parent_backed
            and f.kind in ("startup", "vertical")
            and f.entry_month < m
            and f.runway_months < cap.raise_below_runway_months
        ]
        if not seekers:
            return
        # Funds judge the team's own research output, not the open weights it builds on.
        median_own = float(np.median([f.own_capability_log10 for f in firms]))
        noise = np.array([f.stream.normal(0.0, cap.screening_noise_sd) for f in seekers])
        scores = (
            np.array(
                [
                    (f.own_capability_log10 - median_own) / 0.3
                    + cap.herding_weight * (m - f.last_funded_month < 12)
                    + np.log10(1.0 + f.revenue_m_rmb)
                    for f in seekers
                ]
            )
            + noise
        )
        threshold = cap.quality_threshold + math.log(1.0 / self.hype)
        equity_progs = self.government.active_programmes("equity_fund")
        for idx in np.argsort(-scores, kind="stable"):
            if scores[idx] < threshold:
                break
            firm = seekers[int(idx)]
            want = cap.round_runway_months * max(firm.net_burn_m_rmb, 1.0)
            fund = max(self.funds, key=lambda f: f.dry_powder_m_rmb)
            paid = fund.invest(want)
            if paid <= 0:
                break
            firm.cash_m_rmb += paid
            firm.flows["vc"] += paid
            firm.last_funded_month = m
            self.month_flows["vc_invested_m_rmb"] += paid
            self.log_event(m, firm, "funding_round", paid, fund.name)
            for prog in equity_progs:
                if firm.kind not in prog.eligible:
                    continue
                want_gov = min(
                    self.government.rate(prog) * paid,
                    self.government.cap_left(prog, firm),
                    self.government.budget_left(prog),
                )
                if want_gov > 0:
                    self.government.pay(prog, firm, want_gov)
                    firm.cash_m_rmb += want_gov
                    firm.flows["gov_equity"] += want_gov
                    self.month_flows["gov_equity_m_rmb"] += want_gov
                    self.log_event(m, firm, "government_equity", want_gov, prog.name)

    def plan_budgets(self) -> None:
        """Each firm sets its R&D budget; committed budgets grow."""
        firms = self.active_firms()
        firms.select(lambda f: f.entry_month < self.month).do("grow_commitment")
        top = firms.agg("rd_budget_m_rmb", max) if firms else 0.0  # last month's budgets
        firms.do("plan_budget", top)

    def clear_talent(self) -> None:
        """Frontier-talent market: desired head-counts at the going wage, then hiring and wage."""
        sc = self.scenario_params
        t = sc.talent
        firms = self.active_firms()
        if not firms:
            return
        monthly_cost = (
            self.frontier_wage + t.basic_per_frontier * t.basic_wage_m_rmb_per_year
        ) / 12
        budgets = np.array([f.rd_budget_m_rmb for f in firms])
        desired = t.talent_budget_share * budgets / monthly_cost
        held = np.array([f.frontier_staff for f in firms])
        new_held, _, _ = allocate_staff(held, desired, self.frontier_pool)
        for f, h in zip(firms, new_held, strict=True):
            f.frontier_staff = float(h)
            f.flows["staff_cost"] += float(h) * monthly_cost
        self.frontier_wage = update_wage(
            self.frontier_wage,
            float(desired.sum()),
            self.frontier_pool,
            t.wage_adjustment,
            floor=t.frontier_wage_2021_m_rmb_per_year,
        )

    def clear_compute(self) -> None:
        """Training compute: own chips first, vouchers stretch budgets, one price clears the rest.

        Own chips are domestic accelerators bought at cost; the rest is rented at the market
        clearing price.
        """
        sc = self.scenario_params
        gov = self.government
        firms = self.active_firms()
        if not firms:
            return
        n = len(firms)
        compute_money = np.array(
            [max(f.rd_budget_m_rmb - f.flows["staff_cost"], 0.0) for f in firms]
        )
        # Own chips are domestic accelerators: firms with their own chips take them at cost, first,
        # out of the domestic capacity open to foundation models (pro rata if short).
        fm_share = sc.compute.fm_share_of_capacity
        own_capacity = fm_share * self.domestic_installed
        own_h100e = compute_money * np.array([f.own_chips_share for f in firms]) / self.price_floor
        if own_h100e.sum() > own_capacity:
            own_h100e *= own_capacity / own_h100e.sum()
        own_money = own_h100e * self.price_floor
        market_money = compute_money - own_money

        contracts = market_money.copy()
        for prog in gov.active_programmes("compute_voucher"):
            eligible = np.array([f.kind in prog.eligible for f in firms])
            cap_left = np.array([gov.cap_left(prog, f) for f in firms])
            _, claims = voucher_contracts(market_money, np.full(n, gov.rate(prog)), cap_left)
            paid = ration_subsidy(np.where(eligible, claims, 0.0), gov.budget_left(prog))
            contracts += paid
            for f, p in zip(firms, paid, strict=True):
                if p > 0:
                    gov.pay(prog, f, float(p))
                    f.flows["subsidy_in"] += float(p)
                    f.flows["compute_cost"] += float(p)  # the voucher is spent on compute
            self._book_subsidy(prog.name, paid, firms)

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
            eligible = np.array([f.kind in gov.public_eligible for f in firms])
            demand = np.where(eligible, market_h100e, 0.0)
            served = demand * min(1.0, gov.public_capacity_h100e / max(demand.sum(), 1e-9))
            rebate = served * self.compute_price * gov.public_discount
            for f, r in zip(firms, rebate, strict=True):
                if r > 0:
                    f.flows["subsidy_in"] += float(r)
            self.month_flows["subsidies_paid_m_rmb"] += float(rebate.sum())

        for f, cm, h in zip(firms, compute_money, market_h100e + own_h100e, strict=True):
            f.compute_h100e = float(h)
            f.flows["compute_cost"] += float(cm)

    def _book_subsidy(self, name: str, paid: np.ndarray, firms: list[Firm]) -> None:
        total = float(paid.sum())
        self.month_flows["subsidies_paid_m_rmb"] += total
        for f, p in zip(firms, paid, strict=True):
            if p > 1e-6:  # at least one RMB: rationing leaves dust that is not an event
                self.log_event(self.month, f, "subsidy", float(p), name)

    def train_models(self) -> None:
        """Capability from compute and talent (Cobb-Douglas), depreciation, data feedback."""
        tech = self.scenario_params.technology
        firms = self.active_firms()
        if not firms:
            self.open_source_history.append(0.0)
            return
        years = self.month / 12.0
        algo = 10.0 ** (tech.algorithmic_progress_log10_per_year * years)
        theta = tech.talent_output_elasticity
        compute = np.array([f.compute_h100e for f in firms])
        staff = np.array([f.frontier_staff for f in firms]) * tech.researcher_h100e_equivalent
        eff = np.array([f.efficiency for f in firms])
        effective = (
            tech.flagship_share_of_compute * algo * eff * compute ** (1 - theta) * staff**theta
        )
        stock = np.array([f.effective_compute for f in firms])
        stock = stock * (1 - tech.capability_obsolescence_per_month) + effective
        users = np.array([f.users_m.sum() for f in firms])
        data_bonus = tech.data_feedback_log10_per_decade_users * np.log10(
            1.0 + users / tech.data_reference_users_m
        )
        floor = self.open_floor_log10() - tech.open_weight_adoption_gap_log10
        own = np.log10(np.maximum(stock, 1e-12)) + data_bonus
        # Building on the best open weights adds the firm's own training to the open base.
        capability = np.log10(10.0**floor + 10.0**own)
        open_best = 0.0
        for f, k, o, c in zip(firms, stock, own, capability, strict=True):
            f.effective_compute = float(k)
            f.own_capability_log10 = float(o)
            f.capability_log10 = float(c)
            if f.open_source:
                open_best = max(open_best, float(c) - tech.open_release_gap_log10)
        self.open_source_history.append(open_best)

    def marginal_cost_index(self) -> float:
        """Compute cost of serving one RMB of usage at the 2023 reference price (price-index units).

        Inference compute is valued at the market price for every firm: chips a firm owns have the
        market rental as their opportunity cost, so own chips secure supply and cheapen training
        but do not lower the marginal cost of serving users.
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
        firms = self.active_firms()
        if not firms:
            return
        mc = np.full(len(firms), self.marginal_cost_index())
        shares = np.array([self.spend_share(f) for f in firms])
        value_share = np.array([sc.pricing.user_value_share[f.kind] for f in firms])
        target = (
            mc
            * (1 - value_share)
            * bertrand_markup(shares, sc.demand.price_sensitivity, sc.pricing.max_markup)
        )
        k = sc.pricing.adjustment_per_month
        for f, tgt, cost in zip(firms, target, mc, strict=True):
            if not np.isfinite(f.price_index):
                f.price_index = float(tgt)
            else:
                f.price_index = float(
                    np.exp(np.log(f.price_index) + k * np.log(tgt / f.price_index))
                )
            f.marginal_cost = float(cost)

    def serve_users(self) -> None:
        """Adoption (Bass) and provider choice (logit) per segment; revenue and inference cost."""
        sc = self.scenario_params
        d = sc.demand
        firms = self.active_firms()
        best = max((f.capability_log10 for f in firms), default=0.0)
        floor = self.open_floor_log10()
        usable = max(best, floor)
        growth = (1 + d.potential_growth_per_year) ** self.years_from_reference()
        usefulness = logistic((usable - d.useful_capability_log10) / d.usefulness_width_log10)
        potential = self.seg_potential_2023 * d.demand_scale * growth * usefulness
        p_eff = d.bass_innovation_per_month * self.hype
        new = bass_new_adopters(self.adopters_m, potential, p_eff, d.bass_imitation_per_month)
        self.adopters_m = self.adopters_m + new
        self.potential_m = potential

        outside_price = max(self.marginal_cost_index() * SELF_HOSTING_MARKUP, 1e-9)
        outside_u = np.full(
            self.n_segments,
            d.capability_weight * (floor - best)
            - d.price_sensitivity * math.log(outside_price)
            + d.outside_option_utility,
        )
        if not firms:
            self.outside_users_m = self.outside_users_m + new + self.orphans_m
            self.orphans_m = np.zeros(self.n_segments)
            return

        shocks = np.array([f.stream.normal(0.0, d.taste_shock_sd) for f in firms])
        cap = np.array([f.capability_log10 for f in firms])
        price = np.array([f.price_index for f in firms])
        eco = np.array([f.ecosystem for f in firms])
        fit = np.array(
            [[s in f.home_sectors for f in firms] for s in self.seg_sectors], dtype=float
        )
        taste = np.array([0.9 * f.taste for f in firms]) + shocks
        for f, tv in zip(firms, taste, strict=True):
            f.taste = float(tv)
        utility = (
            d.capability_weight * (cap - best)[None, :]
            - d.price_sensitivity * np.log(price)[None, :]
            + d.ecosystem_weight * self.seg_eco_weight[:, None] * eco[None, :]
            + d.sector_fit_weight * fit
            + taste[None, :]
        )
        approved = np.array([f.approved for f in firms])
        available = np.where(self.seg_consumer[:, None], approved[None, :], True)
        shares = logit_shares(utility, available, outside_u)
        churn = (d.churn_per_month * self.seg_churn_multiplier)[:, None] * (
            1 - d.ecosystem_churn_reduction * self.seg_eco_weight[:, None] * eco[None, :]
        )
        churn = np.minimum(churn, 1.0)
        users = np.stack([f.users_m for f in firms], axis=1)
        # Users of a provider that may not serve a segment (awaiting filing) all re-choose.
        churn = np.where(available, churn, 1.0)
        users, self.outside_users_m = reallocate_users(
            users, self.outside_users_m, churn, d.churn_per_month, new, self.orphans_m, shares
        )
        self.orphans_m = np.zeros(self.n_segments)

        spend = (
            self.seg_spend_2023
            * d.spend_scale
            * (1 + d.usage_growth_per_year) ** self.years_from_reference()
        )
        el = self.seg_elasticity
        usage_value = spend[:, None] * price[None, :] ** (-el[:, None])  # RMB of usage per user
        revenue = (users * usage_value * price[None, :]).sum(axis=0)  # M RMB (users in millions)
        inference = (users * usage_value).sum(axis=0) * np.array([f.marginal_cost for f in firms])
        for j, f in enumerate(firms):
            f.users_m = users[:, j].copy()
            f.flows["revenue"] += float(revenue[j])
            f.flows["inference_cost"] += float(inference[j])
        # Spending on serving users, which bids for compute capacity next month.
        self.inference_spend_m_rmb = float(inference.sum())

    def settle_accounts(self) -> None:
        """Cash flows: revenue, subsidies and funding in; staff, compute, inference, overheads out.

        Parent-backed firms (megatechs, institutes, roster firms with a committed budget) receive
        their committed budget from the parent and have any shortfall covered.
        """
        sc = self.scenario_params
        gov = self.government
        reg = sc.policy.regulation
        cofund = gov.active_programmes("cofunding")
        for f in self.active_firms():
            fl = f.flows
            fl["overhead"] += sc.firms.overhead_m_rmb_per_month
            if gov.filing_active and f.approved:
                fl["compliance_cost"] += reg.compliance_cost_m_rmb_per_month
            rd = fl["staff_cost"] + fl["compute_cost"] - fl["subsidy_in"]
            for prog in cofund:
                if f.kind in prog.eligible:
                    claim = min(gov.rate(prog) * rd, gov.cap_left(prog, f), gov.budget_left(prog))
                    if claim > 0:
                        gov.pay(prog, f, claim)
                        fl["subsidy_in"] += claim
                        self.month_flows["subsidies_paid_m_rmb"] += claim
                        self.log_event(self.month, f, "subsidy", claim, prog.name)
            costs = (
                fl["staff_cost"]
                + fl["compute_cost"]
                + fl["inference_cost"]
                + fl["overhead"]
                + fl["compliance_cost"]
            )
            if f.parent_backed:
                fl["parent"] += f.budget_m_rmb_per_month
            inflow = fl["revenue"] + fl["subsidy_in"] + fl["parent"]
            f.cash_m_rmb += inflow - costs
            if f.parent_backed and f.cash_m_rmb < 0:
                fl["parent"] += -f.cash_m_rmb
                f.cash_m_rmb = 0.0
            f.revenue_m_rmb = fl["revenue"]
            f.operating_margin_m_rmb = fl["revenue"] - fl["inference_cost"]
            f.net_burn_m_rmb = costs - fl["revenue"] - fl["subsidy_in"]

    def resolve_exits(self) -> None:
        """Bankruptcy (cash out, no rescue), acquisition by a megatech, or pivot to applications."""
        sc = self.scenario_params
        acq = sc.acquisitions
        m = self.month
        firms = self.active_firms()
        if not firms:
            return
        leader = max(f.capability_log10 for f in firms)
        floor = self.open_floor_log10()
        buyers = [f for f in firms if isinstance(f, Megatech)]
        for f in firms:
            if f.parent_backed or f.status != ACTIVE:
                continue
            distressed = f.cash_m_rmb < 0 or f.runway_months < acq.distress_runway_months
            if distressed and buyers:
                candidates = [
                    b
                    for b in buyers
                    if b.status == ACTIVE
                    and f.capability_log10 >= b.capability_log10 - acq.max_capability_gap_log10
                ]
                if candidates and f.stream.random() < acq.probability_per_month:
                    buyer = candidates[int(f.stream.integers(len(candidates)))]
                    self._acquire(buyer, f)
                    continue
            if f.cash_m_rmb < 0:
                self._exit(f, "bankrupt")
                self.bankruptcy_months.append(m)
        for f in self.active_firms():
            b = f.behaviour
            if m - f.entry_month < sc.firms.pivot_grace_months:
                continue
            # Losing money: all costs exceed revenue and subsidies (funding rounds aside).
            if f.net_burn_m_rmb <= 0:
                continue
            # Pressure to stop training: far behind the leader (full pressure), or commoditised,
            # i.e. its own model is below the open weights (graded by how far below) and it has
            # no user base of its own to defend.
            pressure = 1.0 if leader - f.capability_log10 > b.pivot_gap_log10 else 0.0
            if self.spend_share(f) < sc.firms.defend_share:
                below = (floor - f.own_capability_log10) / b.pivot_gap_log10
                pressure = max(pressure, min(max(below, 0.0), 1.0))
            if pressure > 0 and f.stream.random() < b.pivot_probability_per_month * pressure:
                self._exit(f, "pivoted")

    def _acquire(self, buyer: Firm, target: Firm) -> None:
        acq = self.scenario_params.acquisitions
        price = (
            acq.price_to_annual_revenue * 12 * target.revenue_m_rmb
            + acq.talent_value_m_rmb_per_researcher * target.frontier_staff
        )
        # The buyer also assumes the target's debts (negative cash), settling them at once.
        debt = max(-target.cash_m_rmb, 0.0)
        target.flows["debt_settled"] += debt
        target.cash_m_rmb += debt
        buyer.flows["acquisition_cost"] += price + debt
        buyer.cash_m_rmb -= price + debt
        if buyer.cash_m_rmb < 0:
            buyer.flows["parent"] += -buyer.cash_m_rmb
            buyer.cash_m_rmb = 0.0
        buyer.users_m = buyer.users_m + target.users_m
        buyer.frontier_staff += target.frontier_staff
        buyer.effective_compute = max(buyer.effective_compute, target.effective_compute)
        target.users_m = np.zeros(self.n_segments)
        target.frontier_staff = 0.0
        self.month_flows["acquisition_spend_m_rmb"] += price
        self._exit(target, "acquired", detail=buyer.name, amount=price)

    def _exit(self, firm: Firm, cause: str, detail: str = "", amount: float = 0.0) -> None:
        """Leave the foundation-model market: users re-choose, staff return to the pool."""
        self.orphans_m = self.orphans_m + firm.users_m
        firm.users_m = np.zeros(self.n_segments)
        firm.frontier_staff = 0.0
        firm.status = cause
        firm.exit_cause = cause
        firm.exit_month = self.month
        self.month_flows[f"exits_{cause}"] += 1
        self.month_flows["exited_revenue_m_rmb"] += firm.flows["revenue"]
        self.log_event(self.month, firm, cause, amount if amount else firm.cash_m_rmb, detail)
        if self.record_firms:
            self._firm_row(firm)
        firm.remove()

    # ----------------------------------------------------------------------------------------
    # Recording
    # ----------------------------------------------------------------------------------------

    def _firm_row(self, f: Firm) -> None:
        fl = f.flows
        self.firm_rows.append(
            {
                "month": self.month,
                "firm_id": f.unique_id,
                "firm": f.name,
                "kind": f.kind,
                "status": f.status,
                "roster": f.roster,
                "entry_month": f.entry_month,
                "efficiency": f.efficiency,
                "cash_m_rmb": f.cash_m_rmb,
                "capability_log10": f.capability_log10,
                "own_capability_log10": f.own_capability_log10,
                "users_m": float(f.users_m.sum()),
                "revenue_m_rmb": fl["revenue"],
                "price_index": f.price_index,
                "frontier_staff": f.frontier_staff,
                "compute_h100e": f.compute_h100e,
                "rd_budget_m_rmb": f.rd_budget_m_rmb,
                "staff_cost_m_rmb": fl["staff_cost"],
                "compute_cost_m_rmb": fl["compute_cost"],
                "inference_cost_m_rmb": fl["inference_cost"],
                "overhead_m_rmb": fl["overhead"],
                "compliance_cost_m_rmb": fl["compliance_cost"],
                "subsidy_in_m_rmb": fl["subsidy_in"],
                "vc_in_m_rmb": fl["vc"],
                "gov_equity_in_m_rmb": fl["gov_equity"],
                "parent_in_m_rmb": fl["parent"],
                "entry_capital_m_rmb": fl["entry_capital"],
                "acquisition_cost_m_rmb": fl["acquisition_cost"],
                "debt_settled_m_rmb": fl["debt_settled"],
                "approved": f.approved,
            }
        )

    def record(self) -> None:
        """Monthly metrics (one row) and the firm panel (one row per active firm)."""
        firms = self.active_firms()
        m = self.month
        users = np.array([f.users_m.sum() for f in firms]) if firms else np.zeros(0)
        revenue = np.array([f.revenue_m_rmb for f in firms]) if firms else np.zeros(0)
        # Market size counts this month's revenue of firms that exited at its end as well.
        market_m_rmb = float(revenue.sum()) + self.month_flows["exited_revenue_m_rmb"]
        self.market_history.append(market_m_rmb)
        best = max((f.capability_log10 for f in firms), default=0.0)
        installed = self.imported_installed + self.domestic_installed
        by_kind = {k: sum(1 for f in firms if f.kind == k) for k in KINDS}
        mean_price = (
            float(np.average([f.price_index for f in firms], weights=users + 1e-12))
            if firms
            else np.nan
        )
        row: dict[str, Any] = {
            "month": m,
            "active_developers": len(firms),
            **{f"active_{k}": v for k, v in by_kind.items()},
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
            "frontier_employed": float(sum(f.frontier_staff for f in firms)),
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
        self.metrics_rows.append(row)
        if self.record_firms:
            for f in firms:
                self._firm_row(f)
