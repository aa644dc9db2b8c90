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

from sim.agents import FIRM_CLASSES, Firm, Government, Startup, VentureFund, VerticalFirm
from sim.calendar import parse_month
from sim.markets.compute import (
    clear_compute,
    ration_subsidy,
    ration_supply,
    serving_split,
    voucher_contracts,
)
from sim.markets.talent import adjust_wage, allocate_staff, clearing_wage
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
from sim.stages import decisions, environment, finance
from sim.stages.demand import potential_adopters, usage_growth
from sim.stages.training import train
from sim.state import Account, FirmTable
from sim.vocab import ACTIVE, APP_LAYER, EXIT_CAUSES, KINDS, REFERENCE_MONTH, VENTURE_KINDS

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
        self.kind_horizon = np.array([b.catch_up_horizon_months for b in kinds])
        self.kind_venture = np.array([k in VENTURE_KINDS for k in KINDS])

        self.window = sc.firms.pretraining_window_months
        self.table = FirmTable(self.n_segments, window=self.window)
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
        self.new_supply_h100e = 0.0  # this month's new accelerators open to foundation models
        self.rental_pool_h100e = 0.0
        # Serving compute per M RMB of usage at reference prices in 2023 (H100e-months): the 2023
        # inference cost share over the 2023 cost-based price.
        self.serving_intensity_2023 = c.inference_cost_share_2023 / (
            c.price_floor_2021_m_rmb_per_h100e_month
            * (1 - c.price_floor_decline_per_year) ** (REFERENCE_MONTH / 12)
        )
        self.floor_trend = 0.0
        self.floor_history: list[float] = []
        self.open_source_history: list[float] = []
        self.ipo_from = (
            None if sc.capital.ipo_open_from is None else parse_month(sc.capital.ipo_open_from)
        )
        self.backers = {f.name: f.backer for f in sc.roster if f.backer is not None}
        self.agent_by_name: dict[str, Firm] = {}
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
        self.decide_exits()
        self.record()

    def run(self) -> GenAIMarket:
        """Run to the scenario's end month."""
        self.run_until(self.n_months)
        return self

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def active_firms(self) -> list[Firm]:
        """Firms in the market (developers and the application layer), in entry order."""
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

    def serving_intensity(self) -> np.ndarray:
        """Serving compute per M RMB of usage at reference prices, H100e-months, (n,).

        Falls with shared inference efficiency gains and with each firm's own efficiency.
        """
        c = self.scenario_params.compute
        shared = (1 - c.inference_efficiency_gain_per_year) ** self.years_from_reference()
        own = self.table.efficiency**c.serving_efficiency_elasticity
        return self.serving_intensity_2023 * shared / own

    def developers(self) -> np.ndarray:
        """Active foundation-model developers: pre-training, with at least the schema's training
        compute within the window, (n,) bool."""
        t = self.table
        scale = self.scenario_params.firms.pretraining_min_h100e_months
        return t.pretraining & (t.train_window.sum(axis=1) >= scale)

    def _panel_columns(self, rows: slice) -> dict[str, np.ndarray]:
        """Firm-panel columns computed by the model, for the table rows ``rows``."""
        if not self.datacollector.record_firms:
            return {}
        t, c = self.table, self.scenario_params.compute
        scale = self.scenario_params.firms.pretraining_min_h100e_months
        shared = (1 - c.inference_efficiency_gain_per_year) ** self.years_from_reference()
        own = t.efficiency[rows] ** c.serving_efficiency_elasticity
        return {
            "developer": t.pretraining[rows] & (t.train_window[rows].sum(axis=1) >= scale),
            "serving_h100e_per_m_rmb": self.serving_intensity_2023 * shared / own,
        }

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
        self.table.train_window[:, self.month % self.window] = 0.0
        self.month_flows = {
            "entries": 0.0,
            "exited_revenue_m_rmb": 0.0,
            "vc_invested_m_rmb": 0.0,
            "gov_equity_m_rmb": 0.0,
            "strategic_m_rmb": 0.0,
            "ipo_m_rmb": 0.0,
            "subsidies_paid_m_rmb": 0.0,
            "acquisition_spend_m_rmb": 0.0,
            "chip_purchases_h100e": 0.0,
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
        institutes = int(((t.kind == KINDS.index("institute")) & t.pretraining).sum())
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
        for i in np.flatnonzero(due):
            t.approved[i] = True
            self.log_event(m, self.firm_agents[i], "filing_approved", 0.0)

    def enter_firms(self) -> None:
        """Named players enter on their dates; others arrive when entry is expected to pay and
        investors have money."""
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
                own_h100e=min(spec.compute_h100e, self._free_pool()),
            )

        if m < self.entry_first_month:
            return
        e = sc.entry
        ref_powder = sc.capital.inflow_2021_m_rmb_per_month * 12.0
        powder = self.funds.agg("dry_powder_m_rmb", sum)
        ratio = float(np.clip(powder / max(ref_powder, 1e-9), e.money_ratio_min, e.money_ratio_max))
        rate = (
            e.base_rate_per_month
            * self.hype**e.hype_elasticity
            * ratio**e.money_elasticity
            * self.entry_attractiveness() ** e.profit_elasticity
        )
        for _ in range(int(self.streams["entry"].poisson(rate))):
            self._entrant_counter += 1
            # The n-th entrant has the same traits in every scenario (common random numbers).
            traits = self.streams.firm(f"entrant-{self._entrant_counter}")
            vertical = traits.random() < e.vertical_share
            cls = VerticalFirm if vertical else Startup
            wanted = e.seed_cash_median_m_rmb * math.exp(e.seed_cash_sd_log * traits.normal())
            # Founders bring their share; the seed round comes from the funds' dry powder. A team
            # that cannot raise enough to run a pre-training team for its minimum runway does
            # not start (the n-th would-be entrant keeps its traits either way).
            powder = float(self.funds.agg("dry_powder_m_rmb", sum))
            seed_want = wanted * (1 - e.founder_share)
            if wanted * e.founder_share + min(seed_want, powder) < self._viable_cash():
                continue
            seed_round = self._syndicate(seed_want)
            cash = wanted * e.founder_share + seed_round
            self.month_flows["vc_invested_m_rmb"] += seed_round
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
            i = self.table.row(firm.unique_id)  # the seed round is venture money, not founders'
            self.table.flows[i, Account.ENTRY_CAPITAL] -= seed_round
            self.table.flows[i, Account.VC] += seed_round

    def _viable_cash(self) -> float:
        """Cash a start-up needs to run a minimum pre-training team for its minimum runway (M RMB):
        the team's cost over the Cobb-Douglas staff share, for ``min_runway_months``."""
        sc = self.scenario_params
        tal = sc.talent
        team = (
            tal.min_pretraining_team
            * (self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year)
            / 12
        )
        runway = sc.firms.kinds["startup"].min_runway_months
        return team / sc.technology.talent_output_elasticity * runway

    def _syndicate(self, want_m_rmb: float) -> float:
        """Raise up to ``want_m_rmb`` from the funds, the one with most dry powder leading."""
        paid = 0.0
        for fund in sorted(self.funds, key=lambda f: -f.dry_powder_m_rmb):
            if paid >= want_m_rmb:
                break
            paid += fund.invest(want_m_rmb - paid)
        return paid

    def entry_attractiveness(self) -> float:
        """Expected payoff of entering over the cost of keeping a model at the open floor (0-1)."""
        sc = self.scenario_params
        tech, tal = sc.technology, sc.talent
        algo = 10.0 ** (tech.algorithmic_progress_log10_per_year * (self.month / 12.0))
        researcher_cost = (
            self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year
        ) / 12
        keep_up = decisions.keep_up_cost_m_rmb_per_month(
            self.open_floor_log10(),
            tech.capability_obsolescence_per_month,
            tech.flagship_share_of_compute * algo,
            tech.talent_output_elasticity,
            self.compute_price,
            researcher_cost,
            tech.researcher_h100e_equivalent,
        )
        # Reaching the floor from nothing costs what holding it costs over one depreciation
        # lifetime (the stock a firm must build is keep-up output / depreciation).
        catch_up = keep_up / tech.capability_obsolescence_per_month
        spend = self.seg_spend_2023 * sc.demand.spend_scale
        potential_spend = float((self.potential_m * spend).sum())  # M RMB a month
        return decisions.entry_attractiveness(
            potential_spend,
            int(self.developers().sum()),
            sc.entry.margin_share,
            sc.entry.horizon_months,
            catch_up,
            keep_up + tal.min_pretraining_team * researcher_cost,
        )

    def _free_pool(self) -> float:
        """Accelerators open to foundation models that no firm owns (H100e)."""
        installed = self.imported_installed + self.domestic_installed
        return max(
            self.scenario_params.compute.fm_share_of_capacity * installed
            - float(self.table.own_h100e.sum()),
            0.0,
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
        self.agent_by_name[firm.name] = firm
        self.datacollector.register_firm(firm.unique_id, firm.name, firm.kind, firm.roster)
        self.month_flows["entries"] += 1
        if self.government.filing_active:
            self.apply_for_filing([firm])
        detail = "roster" if firm.roster else ""
        self.log_event(self.month, firm, "entry", float(t.cash_m_rmb[i]), detail)

    def raise_capital(self) -> None:
        """Start-ups short of runway pitch; funds back the best-scored while hype lasts, with
        strategic backers and government funds alongside; grown start-ups list."""
        cap = self.scenario_params.capital
        m, t, gov = self.month, self.table, self.government
        if t.n == 0:
            return
        self._list_firms()
        venture = self.kind_venture[t.kind]
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        seeking = np.flatnonzero(
            ~t.parent_backed
            & venture
            & (t.entry_month < m)
            & (runway < cap.raise_below_runway_months)
            & (m - t.last_funded_month >= cap.min_months_between_rounds)
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
            # A syndicate: the fund with the most dry powder leads, others fill the round.
            fund = max(funds, key=lambda f: f.dry_powder_m_rmb)
            paid = self._syndicate(want)
            if paid <= 0:
                break
            cash[i] += paid
            flows[i, Account.VC] += paid
            last_funded[i] = m
            self.month_flows["vc_invested_m_rmb"] += paid
            self.log_event(m, firm, "funding_round", paid, fund.name)
            self._strategic_stake(firm, i, paid)
            for prog, rate in equity:
                if firm.kind not in prog.eligible:
                    continue
                amount = min(
                    rate * paid, gov.cap_left_one(prog, firm.unique_id), gov.budget_left(prog, m)
                )
                if amount > 0:
                    gov.pay_one(prog, firm.unique_id, amount)
                    cash[i] += amount
                    flows[i, Account.GOV_EQUITY] += amount
                    self.month_flows["gov_equity_m_rmb"] += amount
                    self.log_event(m, firm, "government_equity", amount, prog.name)

    def _strategic_stake(self, firm: Firm, i: int, round_m_rmb: float) -> None:
        """A start-up's strategic backer (a megatech) takes its share of a round, from its cash."""
        backer = self.agent_by_name.get(self.backers.get(firm.name, ""))
        if backer is None or backer.status not in (ACTIVE, APP_LAYER):
            return
        t = self.table
        b = backer.row
        share = self.scenario_params.capital.strategic_stake_share
        amount = min(share / (1 - share) * round_m_rmb, max(t.cash_m_rmb[b], 0.0))
        if amount <= 0:
            return
        t.cash_m_rmb[b] -= amount
        t.flows[b, Account.STRATEGIC] -= amount
        t.cash_m_rmb[i] += amount
        t.flows[i, Account.STRATEGIC] += amount
        self.month_flows["strategic_m_rmb"] += amount
        self.log_event(self.month, firm, "strategic_stake", amount, backer.name)

    def _list_firms(self) -> None:
        """Start-ups with enough revenue and age go public, raising money on their revenue."""
        cap = self.scenario_params.capital
        t, m = self.table, self.month
        if self.ipo_from is None or m < self.ipo_from:
            return
        ready = np.flatnonzero(
            ~t.parent_backed
            & ~t.public
            & t.pretraining
            & self.kind_venture[t.kind]
            & (m - t.entry_month >= cap.ipo_min_age_months)
            & (12 * t.revenue_m_rmb >= cap.ipo_min_annual_revenue_m_rmb)
        )
        for i in ready:
            raised = min(
                cap.ipo_revenue_multiple * 12 * t.revenue_m_rmb[i], cap.ipo_max_raise_m_rmb
            )
            t.public[i] = True
            t.cash_m_rmb[i] += raised
            t.flows[i, Account.IPO] += raised
            self.month_flows["ipo_m_rmb"] += raised
            self.log_event(m, self.firm_agents[i], "ipo", raised)

    def plan_budgets(self) -> None:
        """Each pre-training firm sets its R&D budget; parents grow budgets that meet their
        hurdle. The application layer does no research."""
        t = self.table
        growth = np.where(t.meets_hurdle, self.kind_growth[t.kind], 0.0)
        t.budget_m_rmb_per_month = finance.grow_commitments(
            t.budget_m_rmb_per_month, growth, t.entry_month < self.month
        )
        top = float(t.rd_budget_m_rmb.max()) if t.n else 0.0  # last month's budgets
        budget = finance.plan_budgets(
            t.budget_m_rmb_per_month,
            t.cash_m_rmb,
            t.operating_margin_m_rmb,
            top,
            self.kind_ambition[t.kind],
            self.kind_min_runway[t.kind],
            self.kind_reinvest[t.kind],
        )
        t.rd_budget_m_rmb = np.where(t.pretraining, budget, 0.0)

    def clear_talent(self) -> None:
        """Frontier-talent market: firms spend the Cobb-Douglas share of their R&D budgets on
        researchers; the wage moves toward the level at which those budgets hire the pool."""
        sc = self.scenario_params
        tal = sc.talent
        t = self.table
        if t.n == 0:
            return
        basic = tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year
        staff_budget = sc.technology.talent_output_elasticity * t.rd_budget_m_rmb
        target = clearing_wage(
            float(staff_budget.sum()),
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
        rents the rest from the pool no firm owns, which one price clears. Vouchers stretch
        rental budgets; public compute rebates part of the price.
        """
        sc = self.scenario_params
        c = sc.compute
        gov, t = self.government, self.table
        if t.n == 0:
            return
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
        funds = np.maximum(t.cash_m_rmb, 0.0) + parent_capex
        wanted = np.minimum(wanted, funds / chip_price)
        bought = ration_supply(wanted, self.new_supply_h100e)
        spend = bought * chip_price
        from_parent = np.minimum(
            np.maximum(spend - np.maximum(t.cash_m_rmb, 0.0), 0.0), parent_capex
        )
        t.flows[:, Account.PARENT] += from_parent
        t.cash_m_rmb += from_parent - spend
        t.own_h100e += bought
        t.flows[:, Account.CHIP_PURCHASE] += spend
        self.month_flows["chip_purchases_h100e"] += float(bought.sum())

        # Rentals: what own chips do not cover, bid at last month's price; vouchers add money.
        rent_want = np.maximum(plan - t.own_h100e, 0.0)
        money = rent_want * price_guess
        contracts = money.copy()
        # Vouchers pay a share of the rented *training* compute of firms that pre-train.
        train_rent = np.minimum(money, train_money) * t.pretraining
        for prog in gov.active_programmes("compute_voucher"):
            eligible = gov.eligible(prog.eligible, t.kind)
            _, claims = voucher_contracts(
                train_rent, np.full(t.n, gov.rate(prog)), gov.cap_left(prog, t.firm_id)
            )
            paid = ration_subsidy(
                np.where(eligible, claims, 0.0), gov.budget_left(prog, self.month)
            )
            contracts += paid
            gov.pay(prog, t.firm_id, paid)
            t.flows[:, Account.SUBSIDY_IN] += paid
            self._book_subsidy(prog.name, paid)
        self.rental_pool_h100e = self._free_pool() + gov.public_capacity_h100e
        self.compute_price, rented = clear_compute(
            contracts,
            self.rental_pool_h100e,
            self.price_floor,
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
        self.inference_spend_m_rmb = float(serve_cost.sum())

    def _book_subsidy(self, name: str, paid: np.ndarray) -> None:
        self.month_flows["subsidies_paid_m_rmb"] += float(paid.sum())
        rows = np.flatnonzero(paid > 1e-6)  # at least one RMB: rationing dust is no event
        self.datacollector.log_events(
            self.month,
            [self.firm_agents[i] for i in rows],
            "subsidy",
            paid[rows].tolist(),
            [name] * rows.size,
        )

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
        t.own_trend = 0.8 * t.own_trend + 0.2 * (t.own_capability_log10 - before)
        released = t.capability_log10[t.open_source & t.pretraining] - tech.open_release_gap_log10
        self.open_source_history.append(max(0.0, float(released.max(initial=0.0))))
        self.floor_history.append(self.open_floor_log10())
        # The floor's long-run pace (log10 a month over a year), not the jump of one release.
        past = self.floor_history[-13] if len(self.floor_history) > 12 else self.floor_history[0]
        self.floor_trend = (self.floor_history[-1] - past) / 12

    def set_prices(self) -> None:
        """Prices as strategy: the logit-Bertrand markup over each firm's own serving cost, or a
        penetration price below cost by firms that can fund losses and want users."""
        sc = self.scenario_params
        pr = sc.pricing
        t = self.table
        if t.n == 0:
            return
        mc = self.serving_intensity() * self.compute_price
        shares = self.spend_shares()
        markup = bertrand_markup(shares, sc.demand.price_sensitivity, pr.max_markup)
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        bertrand = mc * markup
        penetrate = decisions.prices_for_penetration(
            shares,
            runway,
            t.parent_backed,
            np.nan_to_num(t.price_index, nan=np.inf),
            mc,
            pr.penetration_target_share,
            pr.penetration_min_runway_months,
            pr.war_undercut,
        )
        target = np.where(penetrate, mc * (1 - pr.penetration_discount), bertrand)
        price = t.price_index
        k = pr.adjustment_per_month
        new = np.isnan(price)
        base = np.where(new, 1.0, price)
        adjusted = np.exp(np.log(base) + k * np.log(target / base))
        t.price_index = np.where(new, target, adjusted)
        t.marginal_cost = mc

    def serve_users(self) -> None:
        """Adoption (Bass) under ceilings and provider choice (logit) per segment; usage served
        within each firm's serving capacity; revenue. Unserved demand costs appeal and users."""
        d = self.scenario_params.demand
        t = self.table
        best = float(t.capability_log10.max()) if t.n else 0.0
        floor = self.open_floor_log10()
        usefulness = float(
            environment.logistic(
                (max(best, floor) - d.useful_capability_log10) / d.usefulness_width_log10
            )
        )
        potential = potential_adopters(
            self.seg_potential_2023, self.seg_consumer, self.years_from_reference(), usefulness, d
        )
        p_eff = d.bass_innovation_per_month * self.hype
        new = bass_new_adopters(self.adopters_m, potential, p_eff, d.bass_imitation_per_month)
        self.adopters_m = self.adopters_m + new
        self.potential_m = potential

        intensity = self.serving_intensity()
        outside_cost = float(self.serving_intensity_2023 * self.compute_price) * (
            (1 - self.scenario_params.compute.inference_efficiency_gain_per_year)
            ** self.years_from_reference()
        )
        outside_price = max(outside_cost * d.self_hosting_cost_multiple, 1e-9)
        # The outside option: self-hosting open weights, or doing without (log-sum of the two).
        self_host = (
            d.capability_weight * (floor - best)
            - d.price_sensitivity * math.log(outside_price)
            + d.outside_option_utility
        )
        outside_u = np.full(self.n_segments, np.logaddexp(self_host, d.no_ai_utility))
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
            - d.rationing_utility_penalty * (1 - t.served_share)
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
        # Churn: the segment's rate, lowered by an ecosystem where the segment values it, raised
        # for a provider that could not serve its users last month.
        churn = self._scratch("churn")
        np.multiply.outer(t.ecosystem, -self.seg_churn_eco, out=churn)
        churn += self.seg_churn
        churn += (d.rationing_churn * (1 - t.served_share))[:, None]
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

        spend = self.seg_spend_2023 * d.spend_scale * usage_growth(self.years_from_reference(), d)
        own_use = environment.logistic(
            (t.capability_log10 - d.useful_capability_log10) / d.usefulness_width_log10
        ) / max(usefulness, 1e-12)  # a weaker model is used less than the best available
        demanded = own_use * usage_by_firm(
            t.users_m,
            t.price_index,
            spend,
            self.elasticity_groups,
            self.seg_elasticity_group,
            d.usage_satiation_multiple,
        )
        # Serving capacity binds: usage beyond what a firm's compute can serve is not served.
        served = np.minimum(demanded, t.serve_h100e / intensity)
        t.demand_usage_m_rmb = demanded
        t.served_usage_m_rmb = served
        safe = np.where(demanded > 0, demanded, 1.0)
        t.served_share = np.where(demanded > 0, served / safe, 1.0)
        t.flows[:, Account.REVENUE] += served * t.price_index  # M RMB (users in millions)

    def settle_accounts(self) -> None:
        """Cash flows: revenue, subsidies and funding in; staff, compute, overheads out.

        Co-funding programmes pay monthly out of budgets spread over the year, pro rata when
        claims exceed what is left. Parents pay committed budgets and cover losses up to
        ``firms.parent_loss_cover_multiple`` times the budget; beyond that cash falls.
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
                gov.eligible(prog.eligible, t.kind) & t.pretraining,
                np.minimum(gov.rate(prog) * np.maximum(rd, 0.0), gov.cap_left(prog, t.firm_id)),
                0.0,
            )
            paid = ration_subsidy(claims, gov.budget_left(prog, self.month))
            gov.pay(prog, t.firm_id, paid)
            fl[:, Account.SUBSIDY_IN] += paid
            self.month_flows["subsidies_paid_m_rmb"] += float(paid.sum())
            payments += [
                (int(i), k, prog.name, float(paid[i])) for i in np.flatnonzero(paid > 1e-6)
            ]
        payments.sort()  # logged firm by firm
        self.datacollector.log_events(
            self.month,
            [self.firm_agents[i] for i, _, _, _ in payments],
            "subsidy",
            [a for _, _, _, a in payments],
            [name for _, _, name, _ in payments],
        )
        t.cash_m_rmb, t.net_burn_m_rmb = finance.settle(
            fl,
            t.cash_m_rmb,
            t.budget_m_rmb_per_month,
            t.parent_backed,
            sc.firms.parent_loss_cover_multiple,
        )
        t.revenue_m_rmb = fl[:, Account.REVENUE]
        t.operating_margin_m_rmb = fl[:, Account.REVENUE] - fl[:, Account.INFERENCE_COST]

    def decide_exits(self) -> None:
        """Firms decide: parents review their units; a firm whose model no longer earns its keep
        stops pre-training (joins the application layer); a distressed firm sells to the buyer
        that values it most if one values it above its price and can pay; a firm out of cash
        with no buyer goes bankrupt."""
        sc = self.scenario_params
        m, t = self.month, self.table
        if t.n == 0:
            return
        if m % 12 == 11:
            self._parent_review()
        self._stop_pretraining()
        self._sell_distressed()
        for firm in [self.firm_agents[i] for i in np.flatnonzero(t.cash_m_rmb < 0)]:
            self._exit(firm, "bankrupt")
            self.bankruptcy_months.append(m)
        del sc

    def _parent_review(self) -> None:
        """January budgets: a parent keeps growing a unit's budget while it meets the hurdle
        (a user share, or a model near the leader); otherwise it cuts the budget."""
        f = self.scenario_params.firms
        t = self.table
        leader = float(t.own_capability_log10.max())
        meets = (self.spend_shares() >= f.parent_hurdle_share) | (
            t.pretraining & (t.own_capability_log10 >= leader - 0.5)
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
        keeps = decisions.keeps_pretraining(
            t.own_capability_log10,
            float(np.mean(self.floor_history[-w:])),
            t.own_trend,
            self.floor_trend,
            self.kind_horizon[t.kind],
            self.spend_shares(),
            sc.firms.defend_share,
        )
        # Money: a firm whose R&D budget can no longer pay a pre-training team (and that has no
        # round in prospect this quarter) stops, whatever its age, rather than burn out.
        tal = sc.talent
        team_cost = (
            tal.min_pretraining_team
            * (self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year)
            / 12
        )
        starving = (
            (sc.technology.talent_output_elasticity * t.rd_budget_m_rmb < team_cost)
            & (m - t.last_funded_month > 3)
            & (m > t.entry_month)
        )
        review = t.pretraining & (m - t.entry_month >= sc.firms.pivot_grace_months)
        for i in np.flatnonzero(t.pretraining & ((review & ~keeps) | starving)):
            reason = "cash" if starving[i] else "below the open-weight floor"
            self.firm_agents[i].stop_pretraining(reason)
            self.month_flows["exits_pivoted"] += 1

    def _sell_distressed(self) -> None:
        """Acquisitions and acqui-hires as decisions: the buyer that values a distressed firm
        most buys it if that value exceeds the seller's price and the buyer can pay."""
        sc = self.scenario_params
        acq, tal = sc.acquisitions, sc.talent
        t = self.table
        # Distress is judged on the burn a firm cannot cut: without its discretionary research.
        discretionary = np.maximum(t.rd_budget_m_rmb - t.budget_m_rmb_per_month, 0.0)
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb - discretionary)
        sellers = [
            self.firm_agents[i]
            for i in np.flatnonzero(
                ~t.parent_backed & ((t.cash_m_rmb < 0) | (runway < acq.distress_runway_months))
            )
        ]
        monthly_cost = (
            self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year
        ) / 12

        def buyers_state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Who can buy (pre-training, not distressed), user shares, researcher shortfalls."""
            runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
            can = t.pretraining & (t.parent_backed | (runway >= acq.distress_runway_months))
            shortfall = np.maximum(
                sc.technology.talent_output_elasticity * t.rd_budget_m_rmb / monthly_cost
                - t.frontier_staff,
                0.0,
            )
            return can, self.spend_shares(), shortfall

        can, shares, shortfall = buyers_state()
        for seller in sellers:
            # No deal is possible unless some buyer has the cash for the deal cost alone.
            if not (can & (t.cash_m_rmb >= acq.integration_cost_m_rmb)).any():
                break
            i = seller.row
            price = max(-t.cash_m_rmb[i], 0.0) + acq.fire_sale_share * (
                acq.talent_value_years_of_wage * self.frontier_wage * t.frontier_staff[i]
            )
            value = decisions.acquisition_value(
                float(t.operating_margin_m_rmb[i]),
                shares,
                float(t.frontier_staff[i]),
                float(t.own_capability_log10[i]),
                t.own_capability_log10,
                t.revenue_m_rmb,
                shortfall,
                self.frontier_wage,
                acq.price_to_annual_revenue,
                acq.talent_value_years_of_wage,
                acq.capability_value_per_log10,
            )
            # A buyer pays the price and the deal's cost, and must not be distressed itself.
            cost = price + acq.integration_cost_m_rmb
            able = can & (t.cash_m_rmb >= cost) & (value > cost)
            able[i] = False
            if not able.any():
                continue
            b = int(np.argmax(np.where(able, value - cost, -np.inf)))
            self._acquire(self.firm_agents[b], seller, price, acq.integration_cost_m_rmb)
            can, shares, shortfall = buyers_state()  # rows moved and the buyer changed

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
        t.users_total_m[b] = t.users_m[b].sum()
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
        """Leave the market: users re-choose, staff return to the pool, chips to the clouds."""
        t = self.table
        i = firm.row
        self.orphans_m = self.orphans_m + t.users_m[i]
        t.users_m[i] = 0.0
        t.users_total_m[i] = t.users_spend_weight[i] = 0.0
        t.frontier_staff[i] = 0.0
        was_developer = bool(t.pretraining[i])
        firm.status = cause
        if was_developer or cause != "pivoted":
            self.month_flows[f"exits_{cause}"] += 1
        self.month_flows["exited_revenue_m_rmb"] += float(t.flows[i, Account.REVENUE])
        self.log_event(
            self.month, firm, cause, amount if amount else float(t.cash_m_rmb[i]), detail
        )
        row = slice(i, i + 1)
        self.datacollector.add_firms(self.month, t, row, cause, self._panel_columns(row))
        t.remove(firm.unique_id)
        del self.firm_agents[i]
        self.agent_by_name.pop(firm.name, None)
        firm.remove()

    # ----------------------------------------------------------------------------------------
    # Recording
    # ----------------------------------------------------------------------------------------

    def record(self) -> None:
        """Monthly metrics (one row) and the firm panel (one row per firm in the market)."""
        t, m = self.table, self.month
        d = self.scenario_params.demand
        users = t.users_total_m
        revenue = t.revenue_m_rmb
        dev = self.developers()
        # Market size counts this month's revenue of firms that exited at its end as well.
        market_m_rmb = float(revenue.sum()) + self.month_flows["exited_revenue_m_rmb"]
        self.market_history.append(market_m_rmb)
        best = float(t.capability_log10.max()) if t.n else 0.0
        installed = self.imported_installed + self.domestic_installed
        counts = np.bincount(t.kind[dev], minlength=len(KINDS))
        mean_price = float(np.average(t.price_index, weights=users + 1e-12)) if t.n else np.nan
        demanded = float(t.demand_usage_m_rmb.sum())
        served = float(t.served_usage_m_rmb.sum())
        row: dict[str, Any] = {
            "month": m,
            "active_developers": int(dev.sum()),
            **{f"active_{k}": int(counts[j]) for j, k in enumerate(KINDS)},
            "app_layer_firms": int((~t.pretraining).sum()),
            "pretraining_firms": int(t.pretraining.sum()),
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
            "consumer_adopters_m": float(self.adopters_m[self.seg_consumer].sum()),
            "potential_adopters_m": float(self.potential_m.sum()),
            "usage_demanded_m_rmb": demanded,
            "usage_served_m_rmb": served,
            "served_share": served / demanded if demanded > 0 else 1.0,
            "usage_tokens_tn_per_month": served * 1e6 / d.reference_rmb_per_k_tokens * 1e3 / 1e12,
            "mean_price_index": mean_price,
            "frontier_wage_m_rmb_per_year": self.frontier_wage,
            "frontier_pool": self.frontier_pool,
            "frontier_employed": float(t.frontier_staff.sum()),
            "compute_price_m_rmb_per_h100e_month": self.compute_price,
            "compute_price_floor_m_rmb": self.price_floor,
            "installed_h100e": installed,
            "firm_owned_h100e": float(t.own_h100e.sum()),
            "firm_capacity_h100e": float(t.capacity_h100e.sum()),
            "rental_pool_h100e": self.rental_pool_h100e,
            "serving_h100e": float(t.serve_h100e.sum()),
            "inference_h100e": float(t.serve_h100e.sum()),
            "chip_purchases_h100e": self.month_flows["chip_purchases_h100e"],
            "domestic_chip_share": self.domestic_installed / installed if installed > 0 else 0.0,
            "imported_supply_factor": self.government.imported_supply_factor,
            "vc_inflow_factor": self.government.vc_inflow_factor,
            "subsidies_paid_m_rmb": self.month_flows["subsidies_paid_m_rmb"],
            "gov_equity_m_rmb": self.month_flows["gov_equity_m_rmb"],
            "vc_invested_m_rmb": self.month_flows["vc_invested_m_rmb"],
            "strategic_invested_m_rmb": self.month_flows["strategic_m_rmb"],
            "ipo_raised_m_rmb": self.month_flows["ipo_m_rmb"],
            "acquisition_spend_m_rmb": self.month_flows["acquisition_spend_m_rmb"],
            "vc_dry_powder_m_rmb": float(self.funds.agg("dry_powder_m_rmb", sum)),
            "hype_index": self.hype,
            "entry_attractiveness": self.entry_attractiveness(),
            "best_capability_log10": best,
            "open_floor_log10": self.open_floor_log10(),
            "global_frontier_log10": self.global_frontier_log10(),
            "capability_gap_log10": self.global_frontier_log10() - best,
        }
        self.datacollector.add_metrics(self.time, row)
        status = np.where(t.pretraining, ACTIVE, APP_LAYER)
        rows = slice(0, t.n)
        self.datacollector.add_firms(m, t, rows, status, self._panel_columns(rows))
        if self.month + 1 >= self.n_months:
            self.running = False
