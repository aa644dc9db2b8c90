"""The market model: a Mesa 3 ``Model`` whose ``step`` is one month.

``step`` reads as the schedule. Firms' numbers live in one struct of arrays (``sim.state``);
each stage calls pure functions of ``sim.stages`` and ``sim.markets`` on whole columns, and asks
the agents (``sim.agents``) for the decisions that draw on their own random streams. Nothing here
forces an outcome: entry, prices and exits follow from the mechanisms.
"""

from __future__ import annotations

from pathlib import Path

import mesa
import numpy as np

import sim.kernels
from sim.agents import Firm, Government, VentureFund
from sim.calendar import parse_month
from sim.phases.exits import ExitDecisions
from sim.phases.firms import FirmLifecycle
from sim.phases.inputs import InputMarkets
from sim.phases.product import ProductMarket
from sim.phases.recording import Recording
from sim.recorder import Recorder
from sim.rng import Streams
from sim.scenario import Scenario, load_scenario
from sim.state import LUCK_BLOCK_MONTHS, FirmTable
from sim.vocab import EXIT_CAUSES, KINDS, REFERENCE_MONTH, VENTURE_KINDS

_BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


#: The month's flows (counts and sums over the month), each starting at zero.
_MONTH_FLOWS: dict[str, float] = {
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


class GenAIMarket(FirmLifecycle, InputMarkets, ProductMarket, ExitDecisions, Recording, mesa.Model):
    """China's generative-AI market, monthly from 2021-01.

    Args:
        scenario: a validated ``Scenario``, or the path of a scenario file (default: the baseline;
            a path lets ``mesa.batch_run`` and SolaraViz pass it as a plain parameter).
        seed: the replication's seed; every random decision draws from a named stream spawned
            from it (``sim.rng``).
        record_firms: keep the firm-level monthly panel (off for sweeps that need only metrics).
        kernels: run the stages' array pipelines as compiled kernels (``sim.kernels``); False runs
            their numpy reference. Default: ``sim.kernels.ENABLED`` (``GENAI_SIM_KERNELS``).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = _BASELINE,
        seed: int | None = None,
        record_firms: bool = True,
        kernels: bool | None = None,
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
        self.kernels = sim.kernels.ENABLED if kernels is None else bool(kernels)

        segs = sc.demand.segments
        self.n_segments = len(segs)
        self.seg_potential_2023 = np.array([s.potential_users_m_2023 for s in segs])
        self.seg_spend_2023 = np.array([s.spend_rmb_per_user_month_2023 for s in segs])
        # What a user's 2023 spending brings the model layer: scaled willingness to pay times the
        # share of end spending that reaches it (the rest pays applications and integrators).
        self.seg_layer_spend_2023 = self.seg_spend_2023 * (
            sc.demand.spend_scale * sc.demand.model_layer_share
        )
        self.seg_elasticity = np.array([s.price_elasticity for s in segs])
        self.seg_eco_weight = np.array([s.ecosystem_weight for s in segs])
        self.seg_consumer = np.array([s.customer == "consumer" for s in segs])
        self.seg_consumer_index = self.seg_consumer.nonzero()[0]
        # Bass coefficients by segment, relative to the demand block's (consumers apart).
        self.seg_innovation = np.where(
            self.seg_consumer, sc.demand.consumer_innovation_multiple, 1.0
        )
        self.seg_imitation = np.where(self.seg_consumer, sc.demand.consumer_imitation_multiple, 1.0)
        self.seg_churn = sc.demand.churn_per_month * np.array(
            [sc.demand.churn_multiplier[s.monetisation] for s in segs]
        )
        # Churn of a firm with ecosystem e: seg_churn - e * seg_churn_eco (lock-in lowers it).
        self.seg_churn_eco = (
            sc.demand.ecosystem_churn_reduction * self.seg_churn * self.seg_eco_weight
        )
        self.seg_churn_eco_neg = -self.seg_churn_eco
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
        self._intensity_key: tuple[int, int] | None = None  # serving_intensity's cache
        self._intensity = np.zeros(0)
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
        self.outside_compute_bid_m_rmb = 0.0  # the outside buyers' bid this month
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
        # The funds, in creation order (fixed for the run; a plain list, read every month).
        self.funds: list[VentureFund] = list(self.agents_by_type[VentureFund])

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

    def dry_powder_m_rmb(self) -> float:
        """The venture funds' dry powder together, M RMB."""
        return sum([f.dry_powder_m_rmb for f in self.funds])

    def spend_total(self) -> float:
        """All adopters weighted by their segments' 2023 spending (M RMB): what ``spend_shares``
        divides the firms' spend weights by."""
        return float(np.add.reduce(self.adopters_m * self.seg_spend_2023))

    def spend_shares(self) -> np.ndarray:
        """Each firm's share of all adopters, weighted by segments' 2023 spending (0-1), (n,)."""
        total = self.spend_total()
        if total <= 0:
            return np.zeros(self.table.n)
        return self.table.users_spend_weight / total

    def inference_efficiency(self) -> float:
        """Serving compute per unit of usage relative to 2023, from shared efficiency gains."""
        c = self.scenario_params.compute
        return (1 - c.inference_efficiency_gain_per_year) ** self.years_from_reference()

    def serving_intensity(self, rows: slice = slice(None)) -> np.ndarray:
        """Serving compute per M RMB of usage at reference prices, H100e-months, for the table
        rows ``rows`` (default: all).

        Falls with shared inference efficiency gains and with each firm's own efficiency.
        """
        key = (self.month, self.table.version)  # computed once a month and table change
        if self._intensity_key != key:
            elasticity = self.scenario_params.compute.serving_efficiency_elasticity
            own = self.table.efficiency**elasticity
            self._intensity = self.serving_intensity_2023 * self.inference_efficiency() / own
            self._intensity.flags.writeable = False
            self._intensity_key = key
        return self._intensity[rows]

    def developers(self, rows: slice = slice(None)) -> np.ndarray:
        """Active foundation-model developers among the table rows ``rows`` (default: all):
        pre-training, with at least the schema's training compute within the window (bool)."""
        t = self.table
        scale = self.scenario_params.firms.pretraining_min_h100e_months
        return t.pretraining[rows] & (np.add.reduce(t.train_window[rows], axis=1) >= scale)

    def researcher_cost_m_rmb_per_year(self) -> float:
        """Yearly cost of one frontier researcher with the basic engineers each needs, M RMB."""
        tal = self.scenario_params.talent
        return self.frontier_wage + tal.basic_per_frontier * tal.basic_wage_m_rmb_per_year

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
        """Reset monthly flows; a new calendar year resets subsidy budgets and the firms'
        year-to-date accounts."""
        if self.month % 12 == 0:
            self.government.new_year()
            t = self.table
            t.revenue_ytd_m_rmb = 0.0
            t.loss_ytd_m_rmb = 0.0
            t.pretraining_months_ytd = 0
        self.table.flows = 0.0
        new_block = (self.month - self.table.entry_month) % LUCK_BLOCK_MONTHS == 0
        self.draw_luck(new_block.nonzero()[0])
        self.table.train_window[:, self.month % self.window] = 0.0
        self.month_flows = dict(_MONTH_FLOWS)

    # ----------------------------------------------------------------------------------------
    # Recording
    # ----------------------------------------------------------------------------------------
