"""Entry, funding and budgets: the stages through which firms come in and get money."""

from __future__ import annotations

import math
import operator
import statistics
from typing import Any

import numpy as np

from sim.agents import FIRM_CLASSES, Firm, ProgrammeSet, Startup, VerticalFirm
from sim.kernels import finance as finance_kernels
from sim.stages import decisions, environment, finance
from sim.state import LUCK_BLOCK_MONTHS, Account, Luck
from sim.vocab import ACTIVE, APP_LAYER

_DRY_POWDER = operator.attrgetter("dry_powder_m_rmb")  # a fund's


class FirmLifecycle:
    """Entry, funding and budgets: the stages through which firms come in and get money."""

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
        powder = self.dry_powder_m_rmb()
        ratio = min(max(powder / max(ref_powder, 1e-9), e.money_ratio_min), e.money_ratio_max)
        rate = (
            e.base_rate_per_month
            * self.hype**e.hype_elasticity
            * ratio**e.money_elasticity
            * self.entry_attractiveness() ** e.profit_elasticity
        )
        viable_cash = self._viable_cash()  # (the same for every entrant of the month)
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
            powder = float(self.dry_powder_m_rmb())
            seed_want = wanted * (1 - e.founder_share)
            if wanted * e.founder_share + min(seed_want, powder) < viable_cash:
                continue
            seed_round = self._syndicate(seed_want)
            cash = wanted * e.founder_share + seed_round
            self.month_flows["vc_invested_m_rmb"] += seed_round
            sectors: list[str] = []
            if vertical and self.enterprise_sectors:
                sectors = [self.enterprise_sectors[traits.integers(len(self.enterprise_sectors))]]
            firm = cls(self, name=f"{cls.kind}-{self._entrant_counter:03d}", rng=traits)
            i = self._admit(
                firm,
                sectors,
                cash_m_rmb=cash,
                efficiency=firm.draw_efficiency(sc.firms.efficiency_sd_log),
                capability=max(floor - gap, 0.0),
            )
            # The seed round is venture money, not founders'.
            self.table.flows[i, Account.ENTRY_CAPITAL] -= seed_round
            self.table.flows[i, Account.VC] += seed_round

    def _viable_cash(self) -> float:
        """Cash a start-up needs to run a minimum pre-training team for its minimum runway (M RMB):
        the team's cost over the Cobb-Douglas staff share, for ``min_runway_months``."""
        runway = self.scenario_params.firms.kinds["startup"].min_runway_months
        return self.team_rd_m_rmb() * runway

    def _syndicate(self, want_m_rmb: float) -> float:
        """Raise up to ``want_m_rmb`` from the funds, the one with most dry powder leading."""
        paid = 0.0
        for fund in sorted(self.funds, key=_DRY_POWDER, reverse=True):  # stable: ties in order
            if paid >= want_m_rmb:
                break
            paid += fund.invest(want_m_rmb - paid)
        return paid

    def entry_attractiveness(self, n_developers: int | None = None) -> float:
        """Expected payoff of entering over the cost of keeping a model at the open floor (0-1),
        given the number of active developers (counted now when not given)."""
        sc = self.scenario_params
        tech, tal = sc.technology, sc.talent
        algo = 10.0 ** (tech.algorithmic_progress_log10_per_year * (self.month / 12.0))
        researcher_cost = self.researcher_cost_m_rmb_per_year() / 12
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
        potential_spend = float(
            np.add.reduce(self.potential_m * self.seg_layer_spend_2023)
        )  # M RMB/month
        # What the entrant expects to earn over its horizon: today's spending, grown at the
        # weight it puts on the market's observed growth (1 with no weight: today's throughout).
        potential_spend *= decisions.expected_spend_multiple(
            environment.market_growth(self.market_history, sc.capital),
            sc.capital.growth_window_months,
            sc.entry.expected_growth_weight,
            sc.entry.horizon_months,
        )
        return decisions.entry_attractiveness(
            potential_spend,
            int(np.count_nonzero(self.developers())) if n_developers is None else n_developers,
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
            - float(np.add.reduce(self.table.own_h100e)),
            0.0,
        )

    def draw_luck(self, rows: np.ndarray | list[int]) -> None:
        """Firms at ``rows`` draw their luck for the next block of months (``Firm.draw_luck``)."""
        agents, luck = self.firm_agents, self.table.luck
        for i in np.asarray(rows).tolist():
            agents[i].draw_luck(out=luck[i])

    def luck(self, kind: Luck, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """This month's standard-normal luck of ``kind`` for the firms at ``rows``."""
        t = self.table
        slot = (self.month - t.entry_month[rows]) % LUCK_BLOCK_MONTHS
        index = np.arange(t.n)[rows] if isinstance(rows, slice) else rows
        return t.luck[index, int(kind), slot]

    def _admit(self, firm: Firm, home_sectors: list[str], capability: float, **values: Any) -> int:
        """Give an entrant its row in the firm table and file it if the filing duty applies;
        return the row."""
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
        if home_sectors:  # (a new row's fit is zero)
            fit = self.scenario_params.demand.sector_fit_weight
            t.fit[i] = [fit if s in home_sectors else 0.0 for s in self.seg_sectors]
        t.flows[i, Account.ENTRY_CAPITAL] += t.cash_m_rmb[i]
        self.firm_agents.append(firm)
        firm.draw_luck(out=t.luck[i])
        self.agent_by_name[firm.name] = firm
        self.datacollector.register_firm(firm.unique_id, firm.name, firm.kind, firm.roster)
        self.month_flows["entries"] += 1
        if self.government.filing_active:
            self.apply_for_filing([firm])
        detail = "roster" if firm.roster else ""
        self.log_event(self.month, firm, "entry", float(t.cash_m_rmb[i]), detail)
        return i

    def raise_capital(self) -> None:
        """Start-ups short of runway pitch; funds back the best-scored while hype lasts, with
        strategic backers and government funds alongside; grown start-ups list."""
        cap = self.scenario_params.capital
        m, t = self.month, self.table
        if t.n == 0:
            return
        threshold = cap.quality_threshold + math.log(1.0 / self.hype)
        if self.kernels:
            # Kernel sim.kernels.finance.screen_rounds: listings, who pitches, scores, ranking.
            rows, raised = np.empty(2 * t.n, dtype=np.int64), np.empty(t.n)
            n_listed, _, n_pass = finance_kernels.screen_rounds(
                m,
                self.ipo_from is not None and m >= self.ipo_from,
                cap.ipo_min_annual_revenue_m_rmb,
                cap.ipo_min_age_months,
                cap.ipo_revenue_multiple,
                cap.ipo_max_raise_m_rmb,
                t.revenue_m_rmb,
                t.parent_backed,
                t.public,
                t.pretraining,
                t.kind,
                self.kind_venture,
                t.entry_month,
                t.cash_m_rmb,
                t.flows,
                t.net_burn_m_rmb,
                t.last_funded_month,
                cap.raise_below_runway_months,
                cap.min_months_between_rounds,
                t.luck,
                cap.screening_noise_sd,
                t.own_capability_log10,
                cap.screening_scale_log10,
                cap.herding_weight,
                cap.herding_window_months,
                threshold,
                rows,
                raised,
            )
            if n_listed:
                listed = zip(rows[:n_listed].tolist(), raised[:n_listed].tolist(), strict=True)
                for i, amount in listed:
                    self.month_flows["ipo_m_rmb"] += amount
                    self.log_event(m, self.firm_agents[i], "ipo", amount)
            if n_pass:
                self._fund_rounds(rows[n_listed : n_listed + n_pass].tolist())
            return
        self._list_firms()
        venture = self.kind_venture[t.kind]
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        seeking = (
            ~t.parent_backed
            & venture
            & (t.entry_month < m)
            & (runway < cap.raise_below_runway_months)
            & (t.last_funded_month <= m - cap.min_months_between_rounds)
        ).nonzero()[0]
        if seeking.size == 0:
            return
        noise = cap.screening_noise_sd * self.luck(Luck.PITCH, seeking)
        scores = finance.funding_scores(
            t.own_capability_log10[seeking],
            statistics.median(t.own_capability_log10.tolist()),
            m - t.last_funded_month[seeking],
            t.revenue_m_rmb[seeking],
            noise,
            cap.screening_scale_log10,
            cap.herding_weight,
            cap.herding_window_months,
        )
        rows = []  # the seekers that pass the screen, best first
        for k in np.argsort(-scores, kind="stable").tolist():
            if scores[k] < threshold:
                break
            rows.append(int(seeking[k]))
        self._fund_rounds(rows)

    def _fund_rounds(self, rows: list[int]) -> None:
        """Rounds for the start-ups at ``rows``, in order, until the funds run dry: a syndicate
        led by the fund with most dry powder, a strategic backer's stake, government funds'
        co-investment."""
        cap = self.scenario_params.capital
        m, t, gov = self.month, self.table, self.government
        equity = gov.active_programmes("equity_fund")
        backers: dict[str, ProgrammeSet | None] = {}  # the equity programmes backing a kind
        funds = self.funds
        cash, flows, last_funded = t.cash_m_rmb, t.flows, t.last_funded_month  # views
        for i in rows:
            firm = self.firm_agents[i]
            want = cap.round_runway_months * max(t.net_burn_m_rmb[i], cap.min_round_burn_m_rmb)
            # A syndicate: the fund with the most dry powder leads, others fill the round.
            fund = max(funds, key=_DRY_POWDER)
            paid = self._syndicate(want)
            if paid <= 0:
                break
            cash[i] += paid
            flows[i, Account.VC] += paid
            last_funded[i] = m
            self.month_flows["vc_invested_m_rmb"] += paid
            self.log_event(m, firm, "funding_round", paid, fund.name)
            self._strategic_stake(firm, i, paid)
            if firm.kind not in backers:
                progs = [p for p in equity if firm.kind in p.eligible]
                backers[firm.kind] = gov.programme_set(progs) if progs else None
            ps = backers[firm.kind]
            if ps is None:
                continue
            # Government funds co-invest a share of the round, within caps and budgets.
            amounts = gov.co_invest(ps, firm.unique_id, paid, m)
            for name, amount in zip(ps.names, amounts, strict=True):
                if amount > 0:
                    cash[i] += amount
                    flows[i, Account.GOV_EQUITY] += amount
                    self.month_flows["gov_equity_m_rmb"] += amount
                    self.log_event(m, firm, "government_equity", amount, name)

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
        big = 12 * t.revenue_m_rmb >= cap.ipo_min_annual_revenue_m_rmb
        if not big.any():  # (most months, no firm has the revenue)
            return
        ready = (
            big
            & ~t.parent_backed
            & ~t.public
            & t.pretraining
            & self.kind_venture[t.kind]
            & (t.entry_month <= m - cap.ipo_min_age_months)
        ).nonzero()[0]
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
        if self.kernels:
            # Kernel sim.kernels.finance.plan_budgets: the numpy path below, in one call.
            finance_kernels.plan_budgets(
                t.budget_m_rmb_per_month,
                t.meets_hurdle,
                t.kind,
                self.kind_growth,
                t.entry_month,
                self.month,
                t.rd_budget_m_rmb,
                t.cash_m_rmb,
                t.operating_margin_m_rmb,
                self.kind_ambition,
                self.kind_min_runway,
                self.kind_reinvest,
                self.team_rd_m_rmb(),
                self.scenario_params.firms.stop_runway_months,
                t.pretraining,
            )
            return
        growth = np.where(t.meets_hurdle, self.kind_growth[t.kind], 0.0)
        t.budget_m_rmb_per_month = finance.grow_commitments(
            t.budget_m_rmb_per_month, growth, t.entry_month < self.month
        )
        top = float(np.maximum.reduce(t.rd_budget_m_rmb)) if t.n else 0.0  # last month's budgets
        budget = finance.plan_budgets(
            t.budget_m_rmb_per_month,
            t.cash_m_rmb,
            t.operating_margin_m_rmb,
            top,
            self.kind_ambition[t.kind],
            self.kind_min_runway[t.kind],
            self.kind_reinvest[t.kind],
        )
        # A firm keeps at least a minimum pre-training team while its cash covers that team for
        # longer than the runway at which it would stop (see ``ExitDecisions``).
        team_rd = self.team_rd_m_rmb()
        keeps_team = t.cash_m_rmb >= self.scenario_params.firms.stop_runway_months * team_rd
        budget = np.where(keeps_team, np.maximum(budget, team_rd), budget)
        t.rd_budget_m_rmb = np.where(t.pretraining, budget, 0.0)

    def team_rd_m_rmb(self) -> float:
        """Monthly R&D that pays a minimum pre-training team (its staff at the Cobb-Douglas
        share), M RMB."""
        sc = self.scenario_params
        team = sc.talent.min_pretraining_team * self.researcher_cost_m_rmb_per_year() / 12
        return team / sc.technology.talent_output_elasticity
