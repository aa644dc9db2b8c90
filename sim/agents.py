"""Agents: the few rich actors of the market.

* ``Firm`` and its four kinds (the report's classification): ``Megatech``, ``Startup``,
  ``ResearchInstitute``, ``VerticalFirm``. Their state is scalar (cash, staff, capability, price)
  plus one small array of users by segment; the model gathers these into arrays each month and
  clears the markets with the pure functions of ``sim.markets``.
* ``VentureFund``: a pool of dry powder fed by the hype index; funds screen and back startups.
* ``Government``: applies the scenario's dated policy timeline through Mesa scheduled events and
  pays subsidies within each programme's yearly budget and per-firm caps.

Agents decide; markets clear; the model orders the stages (see ``GenAIMarket.step``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, ClassVar

import mesa
import numpy as np

from sim.calendar import parse_month

if TYPE_CHECKING:
    from sim.model import GenAIMarket
    from sim.scenario import KindBehaviour, SubsidyProgramme

ACTIVE = "active"


class Firm(mesa.Agent):
    """A foundation-model developer.

    Units: money in M RMB, staff in people, compute in H100e-months per month, capability in log10
    of effective H100e-months, users in millions (by segment), price as an index (1 = the 2023
    reference price).
    """

    kind: ClassVar[str] = "firm"
    model: GenAIMarket

    def __init__(
        self,
        model: GenAIMarket,
        *,
        name: str,
        cash_m_rmb: float,
        budget_m_rmb_per_month: float = 0.0,
        ecosystem: float = 0.0,
        own_chips_share: float = 0.0,
        open_source: bool = False,
        home_sectors: tuple[str, ...] = (),
        efficiency: float | None = None,
        efficiency_sd_log: float = 0.0,
        capability_log10: float = 0.0,
        roster: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(model)
        # The firm's own random stream (sim.rng): the same luck in every scenario it exists in.
        # (Not `rng`: mesa.Agent.rng is the model's generator.)
        self.stream = rng if rng is not None else model.streams.firm(name)
        if efficiency is None:  # execution is uncertain ex ante: lognormal around 1
            efficiency = math.exp(efficiency_sd_log * self.stream.normal())
        self.name = name
        self.roster = roster
        self.entry_month = model.month
        self.cash_m_rmb = float(cash_m_rmb)
        self.budget_m_rmb_per_month = float(budget_m_rmb_per_month)
        self.parent_backed = budget_m_rmb_per_month > 0
        self.ecosystem = float(ecosystem)
        self.own_chips_share = float(own_chips_share)
        self.open_source = bool(open_source)
        self.home_sectors = frozenset(home_sectors)
        self.efficiency = float(efficiency)
        self.effective_compute = 10.0**capability_log10
        self.own_capability_log10 = float(capability_log10)  # from its own training
        self.capability_log10 = float(capability_log10)  # what users get: max(own, open floor)
        self.frontier_staff = 0.0
        self.users_m = np.zeros(model.n_segments)
        self.price_index = np.nan  # set on the first pricing stage
        self.taste = 0.0
        self.status = ACTIVE
        self.exit_cause: str | None = None
        self.approved = not model.government.filing_active
        self.approval_month: int | None = None
        self.last_funded_month = -10_000
        # Flows of the current month (M RMB), reset by the model each month.
        self.flows: dict[str, float] = defaultdict(float)
        self.revenue_m_rmb = 0.0
        self.operating_margin_m_rmb = 0.0
        self.net_burn_m_rmb = 0.0
        self.rd_budget_m_rmb = 0.0
        self.compute_h100e = 0.0
        self.marginal_cost = 0.0

    # -- behaviour ------------------------------------------------------------------------------

    @property
    def behaviour(self) -> KindBehaviour:
        """This kind's behaviour parameters from the scenario."""
        return self.model.scenario_params.firms.kinds[self.kind]  # type: ignore[index]

    @property
    def runway_months(self) -> float:
        """Months of cash left at last month's net burn (infinite when not burning)."""
        if self.net_burn_m_rmb <= 1e-9:
            return np.inf
        return max(self.cash_m_rmb, 0.0) / self.net_burn_m_rmb

    def plan_budget(self, top_budget_m_rmb: float) -> None:
        """Set this month's R&D budget (M RMB).

        Committed budget (parent or grant) + ambition (a share of the largest committed budget in
        the market, i.e. keeping up with the frontier spenders, paid from cash but never more than
        cash / min_runway_months) + reinvested operating margin.
        """
        b = self.behaviour
        ambition = min(
            b.ambition_share_of_top_budget * top_budget_m_rmb,
            max(self.cash_m_rmb, 0.0) / b.min_runway_months,
        )
        self.rd_budget_m_rmb = (
            self.budget_m_rmb_per_month
            + ambition
            + b.reinvest_share_of_revenue * max(self.operating_margin_m_rmb, 0.0)
        )

    def grow_commitment(self) -> None:
        """Committed budgets (parents' AI capex, grants) grow at the kind's yearly rate."""
        g = self.behaviour.budget_growth_per_year
        self.budget_m_rmb_per_month *= (1.0 + g) ** (1.0 / 12.0)


class Megatech(Firm):
    """Internet platform with own ecosystem, data and often own chips (Baidu, Alibaba, ...)."""

    kind = "megatech"


class Startup(Firm):
    """Venture-backed start-up, often founded by an industry leader; lives on its runway."""

    kind = "startup"


class ResearchInstitute(Firm):
    """University or state research institute on grants; often open source (BAAI, Tsinghua)."""

    kind = "institute"


class VerticalFirm(Firm):
    """Industry-specialised service firm (iFlytek, SenseTime, a bank, a medical platform)."""

    kind = "vertical"


FIRM_CLASSES: dict[str, type[Firm]] = {
    cls.kind: cls for cls in (Megatech, Startup, ResearchInstitute, VerticalFirm)
}


class VentureFund(mesa.Agent):
    """A venture fund: dry powder (M RMB) fed by the hype index, deployed in rounds."""

    def __init__(self, model: GenAIMarket, name: str, dry_powder_m_rmb: float) -> None:
        super().__init__(model)
        self.name = name
        self.dry_powder_m_rmb = float(dry_powder_m_rmb)
        self.invested_m_rmb = 0.0

    def receive_inflow(self, amount_m_rmb: float, runoff_share: float) -> float:
        """Add new commitments, let a share of idle money leave; return the amount that left."""
        left = self.dry_powder_m_rmb * runoff_share
        self.dry_powder_m_rmb += amount_m_rmb - left
        return left

    def invest(self, amount_m_rmb: float) -> float:
        """Invest up to ``amount`` from dry powder; return what was invested."""
        paid = min(amount_m_rmb, self.dry_powder_m_rmb)
        self.dry_powder_m_rmb -= paid
        self.invested_m_rmb += paid
        return paid


class Government(mesa.Agent):
    """Central and local government: export-control exposure, subsidies, public compute, filing.

    The scenario's dated measures are registered as Mesa events (``model.schedule_event``) that
    fire at the start of their month; this agent holds the resulting policy state.
    """

    def __init__(self, model: GenAIMarket) -> None:
        super().__init__(model)
        policy = model.scenario_params.policy
        self.imported_supply_factor = 1.0
        self.frontier_inflow_factor = 1.0
        self.vc_inflow_factor = 1.0
        reg = policy.regulation
        self.filing_required_from = (
            None if reg.filing_start is None else parse_month(reg.filing_start)
        )
        self.filing_active = False
        self.subsidy_scale = policy.subsidy_scale
        self.programmes: list[SubsidyProgramme] = []
        self.public_capacity_h100e = 0.0
        self.public_discount = 0.0
        self.public_eligible: set[str] = set()
        self.exogenous_open_floor = 0.0
        # Yearly spending counters (reset every January): by programme, and by (programme, firm).
        self.spent_this_year: dict[str, float] = defaultdict(float)
        self.firm_spent_this_year: dict[tuple[str, int], float] = defaultdict(float)
        self._due: dict[int, list[tuple[str, object]]] = defaultdict(list)
        self._register(policy)

    # -- timeline -------------------------------------------------------------------------------

    def _register(self, policy) -> None:
        for step in policy.export_controls:
            self._due[parse_month(step.date)].append(("export_control", step))
        for step in policy.decoupling:
            self._due[parse_month(step.date)].append(("decoupling", step))
        for step in policy.capital_flows:
            self._due[parse_month(step.date)].append(("capital_flow", step))
        for prog in policy.subsidies:
            self._due[parse_month(prog.date)].append(("subsidy_start", prog))
            if prog.end is not None:
                self._due[parse_month(prog.end) + 1].append(("subsidy_end", prog))
        for plat in policy.public_compute:
            self._due[parse_month(plat.date)].append(("public_compute", plat))
        for rel in policy.open_weight_releases:
            self._due[parse_month(rel.date)].append(("open_release", rel))
        if self.filing_required_from is not None:
            self._due[self.filing_required_from].append(("filing", None))
        from mesa.time import Priority

        for month in sorted({max(m, 0) for m in self._due}):
            # Fire after the step that closes the previous month, before the step of this month.
            self.model.schedule_event(
                self.apply_due_measures, at=float(month), priority=Priority.LOW
            )

    def apply_due_measures(self) -> None:
        """Apply every measure dated in the current month (called by a Mesa scheduled event)."""
        month = round(self.model.time)
        for what, item in self._due.get(month, []) if month > 0 else self._due_before_start():
            self._apply(what, item, month)

    def _due_before_start(self) -> list[tuple[str, object]]:
        """Measures dated at or before 2021-01 all apply at the start, in date order."""
        out: list[tuple[str, object]] = []
        for month in sorted(m for m in self._due if m <= 0):
            out.extend(self._due[month])
        return out

    def _apply(self, what: str, item, month: int) -> None:
        model = self.model
        if what == "export_control":
            cut = (
                1.0 - item.imported_supply_factor
            ) * model.scenario_params.policy.export_control_scale
            self.imported_supply_factor = max(0.0, 1.0 - cut)
        elif what == "decoupling":
            self.frontier_inflow_factor = item.frontier_inflow_factor
        elif what == "capital_flow":
            self.vc_inflow_factor = item.vc_inflow_factor
        elif what == "subsidy_start":
            self.programmes.append(item)
        elif what == "subsidy_end":
            self.programmes = [p for p in self.programmes if p is not item]
        elif what == "public_compute":
            self.public_capacity_h100e += item.capacity_h100e
            self.public_discount = max(self.public_discount, item.discount)
            self.public_eligible |= set(item.eligible)
        elif what == "open_release":
            level = model.global_frontier_log10(month) - item.gap_to_frontier_log10
            self.exogenous_open_floor = max(self.exogenous_open_floor, level)
        elif what == "filing":
            self.filing_active = True
            for firm in model.active_firms():
                model.apply_for_filing(firm)
        model.log_event(month, None, f"policy:{what}", 0.0, getattr(item, "name", "filing duty"))

    # -- subsidies ------------------------------------------------------------------------------

    def new_year(self) -> None:
        """Reset yearly budgets and per-firm caps."""
        self.spent_this_year.clear()
        self.firm_spent_this_year.clear()

    def active_programmes(self, kind: str) -> list[SubsidyProgramme]:
        """Programmes of one kind (compute_voucher, cofunding, equity_fund) in force now."""
        return [p for p in self.programmes if p.kind == kind]

    def budget_left(self, prog: SubsidyProgramme) -> float:
        """Money left in the programme's yearly budget, M RMB (scaled by the subsidy lever)."""
        return max(
            prog.budget_m_rmb_per_year * self.subsidy_scale - self.spent_this_year[prog.name], 0.0
        )

    def cap_left(self, prog: SubsidyProgramme, firm: Firm) -> float:
        """Money a firm may still receive from the programme this year, M RMB."""
        cap = prog.cap_per_firm_m_rmb_per_year * self.subsidy_scale
        return max(cap - self.firm_spent_this_year[(prog.name, firm.unique_id)], 0.0)

    def rate(self, prog: SubsidyProgramme) -> float:
        """The programme's rate, scaled by the subsidy lever and kept below one."""
        return min(prog.rate * self.subsidy_scale, 0.95)

    def pay(self, prog: SubsidyProgramme, firm: Firm, amount: float) -> None:
        """Book a payment against the programme's budget and the firm's cap."""
        if amount <= 0:
            return
        self.spent_this_year[prog.name] += amount
        self.firm_spent_this_year[(prog.name, firm.unique_id)] += amount
