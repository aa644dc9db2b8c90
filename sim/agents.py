"""Agents: the few rich actors of the market.

* ``Firm`` and its four kinds (the report's classification): ``Megatech``, ``Startup``,
  ``ResearchInstitute``, ``VerticalFirm``. A firm agent holds its identity (name, kind, roster
  membership), its own random stream (``sim.rng``) and its *decisions*; its numbers live in one row
  of the model's firm table (``sim.state.FirmTable``), which the stages read and write as arrays.
* ``VentureFund``: a pool of dry powder fed by the hype index; funds back startups in rounds.
* ``Government``: applies the scenario's dated policy timeline through Mesa scheduled events and
  pays subsidies within each programme's yearly budget and per-firm caps.

Agents decide; markets clear; the model orders the stages (see ``GenAIMarket.step``).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import mesa
import numpy as np

from sim.calendar import parse_month
from sim.state import LUCK_BLOCK_MONTHS, Luck
from sim.vocab import ACTIVE, APP_LAYER, KINDS

if TYPE_CHECKING:
    from sim.model import GenAIMarket
    from sim.scenario import SubsidyProgramme

#: Shape of a firm's block of luck: one row per kind of luck, one column per month.
_LUCK_SHAPE = (len(Luck), LUCK_BLOCK_MONTHS)

__all__ = [
    "ACTIVE",
    "FIRM_CLASSES",
    "Firm",
    "Government",
    "Megatech",
    "ResearchInstitute",
    "Startup",
    "VentureFund",
    "VerticalFirm",
]


class Firm(mesa.Agent):
    """A foundation-model developer: identity, random stream and decisions.

    Its numbers (cash, staff, capability, users by segment, price, ...) are one row of
    ``model.table``; ``firm.get("cash_m_rmb")`` reads it. Units: money in M RMB, staff in people,
    compute in H100e-months, capability in log10 effective H100e-months, users in millions, price as
    an index (1 = the 2023 reference price).

    Args:
        model: the market.
        name: unique name (roster name or ``<kind>-<n>`` for stochastic entrants).
        roster: a named player of the source report.
        rng: the firm's own stream (default: keyed by ``name``).
    """

    kind: ClassVar[str] = "firm"
    model: GenAIMarket

    def __init__(
        self,
        model: GenAIMarket,
        *,
        name: str,
        roster: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(model)
        # The firm's own random stream (sim.rng): the same luck in every scenario it exists in.
        # (Not `rng`: mesa.Agent.rng is the model's generator.)
        self.stream = rng if rng is not None else model.streams.firm(name)
        self.name = name
        self.roster = roster
        self.status = ACTIVE

    @property
    def kind_index(self) -> int:
        """Index of this firm's kind in ``sim.vocab.KINDS``."""
        return KINDS.index(self.kind)  # type: ignore[arg-type]

    @property
    def row(self) -> int:
        """This firm's row in the model's firm table."""
        return self.model.table.row(self.unique_id)

    def get(self, column: str) -> Any:
        """One of this firm's numbers from the firm table."""
        return getattr(self.model.table, column)[self.row]

    # -- decisions (each draws only from the firm's own stream) ---------------------------------

    def draw_efficiency(self, sd_log: float) -> float:
        """Research efficiency, uncertain ex ante: lognormal around 1 with ``sd_log``."""
        return math.exp(sd_log * self.stream.normal())

    def filing_delay(self, mean_months: float) -> int:
        """Months until a filed consumer service is approved (geometric, mean ``mean_months``)."""
        if mean_months <= 0:
            return 0
        return max(int(self.stream.geometric(1.0 / (1.0 + mean_months))) - 1, 0)

    def draw_luck(self, out: np.ndarray | None = None) -> np.ndarray:
        """The firm's luck for its next ``LUCK_BLOCK_MONTHS`` months: standard-normal draws,
        one row per kind of luck (``sim.state.Luck``: users' taste, funds' reading of its pitch).

        Drawn by the calendar rather than on use, so the luck a firm has in a month is the same
        whatever it did before (whether it sought money last year, say): common random numbers
        hold across scenarios that change what firms do. ``out``: an array to fill (the firm's
        rows of the table's luck) instead of a new one; the same draws.
        """
        return self.stream.standard_normal(_LUCK_SHAPE, out=out)

    def stop_pretraining(self, reason: str) -> None:
        """Stop pre-training its own base model and build on others' (join the application
        layer): research budget and frontier researchers go; users and revenue stay."""
        model, t = self.model, self.model.table
        i = self.row
        t.pretraining[i] = False
        # A parent keeps an operating budget for the product (its loss cover follows it).
        t.budget_m_rmb_per_month[i] *= model.scenario_params.firms.app_layer_budget_share
        t.rd_budget_m_rmb[i] = 0.0
        t.frontier_staff[i] = 0.0  # researchers return to the pool
        self.status = APP_LAYER
        model.log_event(model.month, self, "pivoted", float(t.cash_m_rmb[i]), reason)


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


@functools.lru_cache(maxsize=64)
def _kind_mask(kinds: frozenset[str]) -> np.ndarray:
    """Whether each kind of ``sim.vocab.KINDS`` is among ``kinds`` (read-only, cached)."""
    mask = np.array([k in kinds for k in KINDS])
    mask.flags.writeable = False
    return mask


@dataclass(frozen=True)
class ProgrammeSet:
    """Subsidy programmes in force together, as arrays (one row per programme)."""

    rows: np.ndarray  # rows in the government's (programme x firm id) ledger
    caps: np.ndarray  # per-firm cap a year, M RMB, scaled by the subsidy lever
    rates: np.ndarray  # rates, scaled by the subsidy lever and capped (``Government.rate``)
    eligible: np.ndarray  # (programmes, kinds): whether each funds each kind
    names: list[str]
    programmes: tuple[SubsidyProgramme, ...]


#: Subsidy programmes as a list, or as the arrays of a set of them.
Programmes = list["SubsidyProgramme"] | ProgrammeSet


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
        self.max_rate = policy.max_subsidy_rate
        self.programmes: list[SubsidyProgramme] = []
        self._active: dict[str, list[SubsidyProgramme]] = {}  # active_programmes, by kind
        self.public_capacity_h100e = 0.0
        self.public_discount = 0.0
        self.public_eligible: set[str] = set()
        self.exogenous_open_floor = 0.0
        # Yearly spending counters (reset every January): by programme, and by (programme, firm).
        self.spent_this_year: dict[str, float] = defaultdict(float)
        # Paid this year by (programme, firm id): one row per programme of the scenario.
        self._programme_row = {id(p): k for k, p in enumerate(policy.subsidies)}
        self._ledger = np.zeros((len(policy.subsidies), 64))
        self._sets: dict[tuple[int, ...], ProgrammeSet] = {}
        self._due: dict[int, list[tuple[str, object]]] = defaultdict(list)
        self._register(policy)

    # -- timeline -------------------------------------------------------------------------------

    def _register(self, policy) -> None:
        self.announced_windows: list[tuple[int, int]] = []
        shift = policy.export_control_shift_months
        for step in policy.export_controls:
            effective = parse_month(step.date) + shift
            self._due[effective].append(("export_control", step))
            if step.announced is not None:
                self.announced_windows.append((parse_month(step.announced) + shift, effective))
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
            self._active.clear()
        elif what == "subsidy_end":
            self.programmes = [p for p in self.programmes if p is not item]
            self._active.clear()
        elif what == "public_compute":
            self.public_capacity_h100e += item.capacity_h100e
            self.public_discount = max(self.public_discount, item.discount)
            self.public_eligible |= set(item.eligible)
        elif what == "open_release":
            level = model.global_frontier_log10(month) - item.gap_to_frontier_log10
            self.exogenous_open_floor = max(self.exogenous_open_floor, level)
        elif what == "filing":
            self.filing_active = True
            model.apply_for_filing(list(model.active_firms()))
        model.log_event(month, None, f"policy:{what}", 0.0, getattr(item, "name", "filing duty"))

    # -- subsidies ------------------------------------------------------------------------------

    def new_year(self) -> None:
        """Reset yearly budgets and per-firm caps."""
        self.spent_this_year.clear()
        self._ledger[:] = 0.0

    def active_programmes(self, kind: str) -> list[SubsidyProgramme]:
        """Programmes of one kind (compute_voucher, cofunding, equity_fund) in force now (a list
        kept until programmes start or end: read it, do not change it)."""
        found = self._active.get(kind)
        if found is None:
            found = self._active[kind] = [p for p in self.programmes if p.kind == kind]
        return found

    def budgets_left(self, ps: ProgrammeSet, month: int) -> np.ndarray:
        """``budget_left`` of each programme of the set, (programmes,)."""
        return np.array([self.budget_left(p, month) for p in ps.programmes])

    def budget_left(self, prog: SubsidyProgramme, month: int) -> float:
        """Money the programme can still pay this month, M RMB (scaled by the subsidy lever).

        Programmes pay as they run: the yearly budget is released month by month (a twelfth a
        month, what was not claimed carrying over within the year), so early claimants cannot
        take a whole year's budget in January.
        """
        released = prog.budget_m_rmb_per_year * self.subsidy_scale * ((month % 12) + 1) / 12
        return max(released - self.spent_this_year[prog.name], 0.0)

    def tightening_ahead(self, month: int) -> bool:
        """Whether an announced export-control tightening has not yet taken effect."""
        return any(a <= month < d for a, d in self.announced_windows)

    def programme_set(self, progs: Programmes) -> ProgrammeSet:
        """The arrays describing ``progs`` (ledger rows, caps, rates, eligibility), built once
        per combination of programmes in force (a set given is returned as it is)."""
        if isinstance(progs, ProgrammeSet):
            return progs
        key = tuple(map(id, progs))
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = ProgrammeSet(
                rows=np.array([self._programme_row[k] for k in key], dtype=np.intp),
                caps=np.array([p.cap_per_firm_m_rmb_per_year for p in progs]) * self.subsidy_scale,
                rates=np.array([self.rate(p) for p in progs]),
                eligible=np.stack([_kind_mask(frozenset(p.eligible)) for p in progs]),
                names=[p.name for p in progs],
                programmes=tuple(progs),
            )
        return found

    def _ledger_cells(
        self, progs: Programmes, firm_ids: np.ndarray
    ) -> tuple[ProgrammeSet, tuple[np.ndarray, np.ndarray]]:
        """The set of ``progs`` and the index of its (programme, firm id) cells in the per-firm
        ledger, grown to hold ``firm_ids``."""
        ids = np.asarray(firm_ids, dtype=np.int64)
        if ids.size:
            self._hold(int(np.maximum.reduce(ids)))
        ps = self.programme_set(progs)
        return ps, (ps.rows[:, None], ids[None, :])

    def _hold(self, firm_id: int) -> None:
        """Grow the per-firm ledger to hold ``firm_id`` (doubling its columns)."""
        width = self._ledger.shape[1]
        if width <= firm_id:
            grown = np.zeros((self._ledger.shape[0], max(firm_id + 1, 2 * width)))
            grown[:, :width] = self._ledger
            self._ledger = grown

    def caps_left(self, progs: Programmes, firm_ids: np.ndarray) -> np.ndarray:
        """(programmes, firms): money each firm (by id) may still receive from each programme
        this year, M RMB."""
        ps, (_, ids) = self._ledger_cells(progs, firm_ids)
        # self._ledger[cells], gathered a dimension at a time (a third of the cost)
        paid = self._ledger.take(ps.rows, axis=0).take(ids[0], axis=1)
        return np.maximum(ps.caps[:, None] - paid, 0.0)

    def ledger_for(self, firm_ids: np.ndarray) -> np.ndarray:
        """The per-firm ledger itself, grown to hold ``firm_ids``: paid this year by (ledger row
        of a programme, ``ProgrammeSet.rows``; firm id), M RMB. For compiled kernels that read
        the caps left and book payments in place (``caps_left`` and ``pay`` are their
        reference); with ``book_spent`` for the programmes' totals."""
        ids = np.asarray(firm_ids, dtype=np.int64)
        if ids.size:
            self._hold(int(np.maximum.reduce(ids)))
        return self._ledger

    def book_spent(self, ps: ProgrammeSet, totals: list[float]) -> None:
        """Add each programme's total paid (M RMB) to its spending this year: for ``pay``,
        ``co_invest`` and the compiled clearing's payments booked in ``ledger_for``."""
        for name, paid in zip(ps.names, totals, strict=True):
            self.spent_this_year[name] += paid

    def rate(self, prog: SubsidyProgramme) -> float:
        """The programme's rate, scaled by the subsidy lever and kept below the policy maximum."""
        return min(prog.rate * self.subsidy_scale, self.max_rate)

    def pay(self, progs: Programmes, firm_ids: np.ndarray, amounts: np.ndarray) -> list[float]:
        """Book (programmes, firms) payments (M RMB, >= 0) against each programme's budget
        and each firm's cap (firm ids are unique). Returns each programme's total paid."""
        ps, cells = self._ledger_cells(progs, firm_ids)
        shape = (cells[0].shape[0], cells[1].shape[1])
        amounts = np.maximum(np.asarray(amounts, dtype=float).reshape(shape), 0.0)
        self._ledger[cells] += amounts  # (programme, firm) pairs
        totals = np.add.reduce(amounts, axis=1).tolist()
        self.book_spent(ps, totals)
        return totals

    def co_invest(
        self, ps: ProgrammeSet, firm_id: int, round_m_rmb: float, month: int
    ) -> list[float]:
        """What each programme of ``ps`` co-invests in one firm's round of ``round_m_rmb``
        (M RMB): its rate of the round, within the firm's cap left and the programme's budget
        left this month, booked against both as ``pay`` would. The one-firm case of
        ``caps_left``, ``budgets_left`` and ``pay``, in scalars (a round is one firm at a time)."""
        self._hold(firm_id)
        ledger = self._ledger
        rows = ps.rows.tolist()
        amounts = [
            min(rate * round_m_rmb, max(cap - float(ledger[row, firm_id]), 0.0), budget)
            for row, cap, rate, budget in zip(
                rows,
                ps.caps.tolist(),
                ps.rates.tolist(),
                [self.budget_left(p, month) for p in ps.programmes],
                strict=True,
            )
        ]
        paid = [a if (a > 0.0 or a != a) else 0.0 for a in amounts]  # np.maximum(amounts, 0)
        for row, amount in zip(rows, paid, strict=True):
            ledger[row, firm_id] += amount
        self.book_spent(ps, paid)
        return amounts

    def eligible(self, kinds: list[str] | set[str], kind_codes: np.ndarray) -> np.ndarray:
        """Whether each firm (by kind index, ``sim.vocab.KINDS``) is among ``kinds``."""
        return _kind_mask(frozenset(kinds))[kind_codes]
