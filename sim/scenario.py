"""The scenario schema: the single source of truth for every parameter.

Strict pydantic models (unknown keys rejected), each field with a description, its unit in its name
or description, and bounds. Behavioural parameters (assumptions of the model) have defaults here;
numbers that come from the world (policies, the roster of named firms, demand segments, supply
figures) have no default and are set, with their sources, in ``scenarios/baseline.yaml``, which
every other scenario extends.

Loading (``load_scenario``) reads YAML safely, follows ``extends:`` chains (a child overrides its
base key by key; lists are replaced whole), reads the roster file and validates. Every problem
becomes an ``InputError`` naming the file, the key path and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.calendar import parse_month
from sim.errors import InputError
from sim.safeload import display, excerpt, load_yaml
from sim.vocab import KINDS, FirmKind

FIRM_KINDS = KINDS
Monetisation = Literal["api", "integration", "subscription"]
SubsidyKind = Literal["compute_voucher", "cofunding", "equity_fund"]


class Strict(BaseModel):
    """Base for every schema block: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


DATE_WINDOW = ("2000-01", "2060-12")
"""Dates a scenario may hold: the simulation runs from 2021-01 to at most 2060-12; earlier dates
back to 2000 may describe measures already in force at the start."""


def _check_date(value: str) -> str:
    month = parse_month(value)
    if not parse_month(DATE_WINDOW[0]) <= month <= parse_month(DATE_WINDOW[1]):
        raise ValueError(
            f"date {value[:20]!r} is outside {DATE_WINDOW[0]} .. {DATE_WINDOW[1]} "
            "(the simulation runs from 2021-01 to at most 2060-12)"
        )
    return value


def F(default: Any = ..., desc: str = "", **bounds: Any) -> Any:
    """Shorthand for ``Field`` with a mandatory description."""
    return Field(default, description=desc, **bounds)


# --------------------------------------------------------------------------------------------------
# World data blocks (lists with a source on every entry)
# --------------------------------------------------------------------------------------------------


class Sourced(Strict):
    source: str = F(desc="where the numbers of this entry come from", min_length=3)


class Dated(Sourced):
    date: str = F(desc="date, YYYY-MM or YYYY-MM-DD; takes effect from that month")

    @field_validator("date")
    @classmethod
    def _date_ok(cls, v: str) -> str:
        return _check_date(v)


class RosterFirm(Sourced):
    """A named player of the source report, entering on its real date."""

    name: str = F(desc="firm or model name, unique in the roster", min_length=1)
    kind: FirmKind = F(desc="the report's four kinds of model developer")
    entry: str = F(desc="date of its first large model, YYYY-MM[-DD]")
    cash_m_rmb: float = F(desc="cash for foundation-model work at entry, M RMB", ge=0, le=1e6)
    budget_m_rmb_per_month: float = F(
        0.0,
        desc="committed monthly R&D budget from a parent or grant (megatechs, institutes), "
        "M RMB per month at entry",
        ge=0,
        le=1e5,
    )
    ecosystem: float = F(
        0.0, desc="strength of its consumer/enterprise ecosystem for lock-in, 0-1", ge=0, le=1
    )
    own_chips_share: float = F(
        0.0,
        desc="share of the compute it plans to hold that it owns (accelerators bought ahead: "
        "megatechs' clouds and chip lines) rather than rents month by month, 0-1",
        ge=0,
        le=1,
    )
    compute_h100e: float = F(
        0.0,
        desc="accelerators it owns at entry, H100e (e.g. DeepSeek's A100s bought before the 2022 "
        "controls)",
        ge=0,
        le=1e7,
    )
    backer: str | None = F(
        None,
        desc="a roster megatech that takes a strategic minority stake in its funding rounds",
    )
    open_source: bool = F(False, desc="releases open weights (feeds the open-weight floor)")
    home_sectors: list[str] = F(
        default_factory=list, desc="sectors it specialises in (names of demand sectors)"
    )
    efficiency: float | None = F(
        None,
        desc="research efficiency multiplier relative to an average lab; default: drawn with "
        "dispersion firms.roster_efficiency_sd_log (execution is uncertain ex ante)",
        gt=0,
        le=10,
    )
    initial_capability_log10: float | None = F(
        None,
        desc="capability at entry, log10 of effective H100-equivalent training months; "
        "default: the open-weight floor",
        ge=0,
        le=10,
    )

    @field_validator("entry")
    @classmethod
    def _entry_ok(cls, v: str) -> str:
        return _check_date(v)


class ExportControlStep(Dated):
    """A dated change in the supply of imported advanced accelerators to China."""

    name: str = F(desc="short name of the measure", min_length=1)
    imported_supply_factor: float = F(
        desc="new imported advanced-chip supply as a share of the uncontrolled path, 0-1 "
        "(severity is a modelling judgement of the measure's text; see source)",
        ge=0,
        le=1,
    )
    announced: str | None = F(
        None,
        desc="date the measure was announced, YYYY-MM[-DD], if before it took effect: firms "
        "stockpile in between (none = a surprise)",
    )

    @model_validator(mode="after")
    def _announced_first(self) -> ExportControlStep:
        if self.announced is not None:
            _check_date(self.announced)
            if parse_month(self.announced) > parse_month(self.date):
                raise ValueError(f"announced {self.announced} is after the date {self.date}")
        return self


class SubsidyProgramme(Dated):
    """A subsidy programme: compute vouchers, project co-funding, or a government equity fund."""

    name: str = F(desc="programme name", min_length=1)
    kind: SubsidyKind = F(
        desc="compute_voucher: share of compute bills; cofunding: share of R&D "
        "spending; equity_fund: equity investment in startups"
    )
    end: str | None = F(None, desc="last month of the programme, YYYY-MM; none = open-ended")
    eligible: list[FirmKind] = F(
        default_factory=lambda: list(FIRM_KINDS), desc="firm kinds that may claim it"
    )
    rate: float = F(
        desc="share of the eligible bill paid (vouchers, co-funding), 0-1; "
        "for equity funds the share of a round the fund takes",
        ge=0,
        le=1,
    )
    cap_per_firm_m_rmb_per_year: float = F(
        desc="most one firm may receive per year, M RMB", ge=0, le=1e5
    )
    budget_m_rmb_per_year: float = F(
        desc="programme budget per year, M RMB (equity funds: the part of the fund deployed in "
        "foundation-model start-ups per year)",
        ge=0,
        le=1e6,
    )

    @field_validator("end")
    @classmethod
    def _end_ok(cls, v: str | None) -> str | None:
        return None if v is None else _check_date(v)

    @model_validator(mode="after")
    def _ordered(self) -> SubsidyProgramme:
        if self.end is not None and parse_month(self.end) < parse_month(self.date):
            raise ValueError(f"end {self.end} is before start date {self.date}")
        return self


class PublicCompute(Dated):
    """A public compute platform offering subsidised capacity."""

    name: str = F(desc="platform name", min_length=1)
    capacity_h100e: float = F(desc="capacity, H100-equivalent accelerators", ge=0, le=1e7)
    discount: float = F(desc="discount on the market compute price, 0-1", ge=0, le=1)
    eligible: list[FirmKind] = F(
        default_factory=lambda: ["startup", "institute", "vertical"],
        desc="firm kinds that may use it",
    )


class OpenWeightRelease(Dated):
    """An exogenous open-weight release that lifts the capability floor available to everyone."""

    name: str = F(desc="model name", min_length=1)
    gap_to_frontier_log10: float = F(
        desc="capability of the release below the global frontier, log10 effective compute",
        ge=0,
        le=5,
    )


class DecouplingStep(Dated):
    """A change in the inflow of frontier talent (students and returnees from the US)."""

    name: str = F(desc="short name", min_length=1)
    frontier_inflow_factor: float = F(
        desc="frontier-talent inflow as a share of the undisturbed inflow, 0-1", ge=0, le=1
    )


class CapitalFlowStep(Dated):
    """A dated change in the money flowing into Chinese foundation-model venture funds."""

    name: str = F(desc="short name", min_length=1)
    vc_inflow_factor: float = F(
        desc="VC inflow as a share of its undisturbed level (1 = unchanged; > 1 a boom)",
        ge=0,
        le=10,
    )


class Segment(Sourced):
    """A demand segment: a sector x customer type, with its monetisation model."""

    name: str = F(desc="segment name, unique", min_length=1)
    sector: str = F(desc="sector (matches firms' home_sectors)", min_length=1)
    customer: Literal["consumer", "enterprise"] = F(desc="consumer or enterprise customers")
    monetisation: Monetisation = F(desc="api fees, product integration (licences) or subscriptions")
    potential_users_m_2023: float = F(desc="potential adopters in 2023, millions", gt=0, le=2000)
    spend_rmb_per_user_month_2023: float = F(
        desc="spending per adopting user per month at the 2023 reference price, RMB", gt=0, le=1e7
    )
    price_elasticity: float = F(
        desc="elasticity of usage per user to price (revenue per user moves as price^(1-e))",
        ge=0,
        le=3,
    )
    ecosystem_weight: float = F(
        desc="how much megatech ecosystems matter to these users, 0-1", ge=0, le=1
    )


# --------------------------------------------------------------------------------------------------
# Behavioural and world-scalar blocks
# --------------------------------------------------------------------------------------------------


class Technology(Strict):
    """Capability: log10 of effective training compute in H100-equivalent months (H100e-months)."""

    global_frontier_2021_log10: float = F(
        desc="global frontier capability in 2021-01, log10 effective H100e-months", ge=0, le=10
    )
    global_frontier_growth_log10_per_year: float = F(
        desc="growth of the global frontier, log10 per year", ge=0, le=3
    )
    algorithmic_progress_log10_per_year: float = F(
        0.35,
        desc="growth of effective compute per physical compute (shared algorithms), log10 per year",
        ge=0,
        le=2,
    )
    capability_obsolescence_per_month: float = F(
        0.04, desc="monthly depreciation of a firm's accumulated effective compute", ge=0, le=0.5
    )
    talent_output_elasticity: float = F(
        0.35,
        desc="output elasticity of frontier talent in research (Cobb-Douglas), 0-1",
        gt=0,
        lt=1,
    )
    flagship_share_of_compute: float = F(
        0.02,
        desc="share of a developer's effective research output that ends up in its "
        "flagship model (converts budgets into the capability scale)",
        gt=0,
        le=1,
    )
    researcher_h100e_equivalent: float = F(
        20.0,
        desc="H100e-months one frontier researcher-month is worth at the reference mix",
        gt=0,
        le=1e4,
    )
    spillover_per_month: float = F(
        0.02,
        desc="share of the gap between a training firm's effective compute and the domestic "
        "leader's that it closes each month through knowledge spillovers (papers, open "
        "research, researchers moving; assumption)",
        ge=0,
        le=0.5,
    )
    data_feedback_log10_per_decade_users: float = F(
        0.15, desc="capability gained per tenfold users (data feedback), log10", ge=0, le=2
    )
    data_reference_users_m: float = F(
        1.0, desc="users at which the data bonus is zero, millions", gt=0, le=1e4
    )
    open_weight_adoption_gap_log10: float = F(
        0.3,
        desc="a firm that builds on the best open weights reaches the floor minus this gap",
        ge=0,
        le=3,
    )
    open_release_gap_log10: float = F(
        0.5,
        desc="an open-source developer's open weights trail its own flagship by this much "
        "(labs open smaller or older models than they serve)",
        ge=0,
        le=5,
    )
    capability_trend_weight: float = F(
        0.2,
        desc="weight of this month's gain in a firm's smoothed monthly gain of own capability "
        "(exponential smoothing, about a five-month memory at 0.2); a firm compares it with the "
        "open floor's pace when deciding whether pre-training still catches up",
        gt=0,
        le=1,
    )
    open_source_lag_months: int = F(
        3, desc="months before a firm's open-weight model lifts the public floor", ge=0, le=36
    )


class Talent(Strict):
    """Talent market: scarce frontier researchers, plentiful basic engineers."""

    frontier_pool_2021_people: float = F(
        desc="frontier AI researchers in China, 2021", gt=0, le=1e6
    )
    frontier_inflow_people_per_month: float = F(
        desc="undisturbed inflow of frontier researchers (graduates, returnees)", ge=0, le=1e5
    )
    frontier_attrition_per_month: float = F(
        0.005, desc="share of the frontier pool leaving the field per month", ge=0, le=0.2
    )
    inflow_wage_elasticity: float = F(
        1.0,
        desc="elasticity of frontier inflow to the wage relative to its 2021 level",
        ge=0,
        le=5,
    )
    upskilling_per_frontier_researcher_month: float = F(
        0.01,
        desc="basic engineers turned frontier per employed frontier researcher-month "
        "(high-level projects)",
        ge=0,
        le=0.2,
    )
    institute_training_people_per_month: float = F(
        4.0, desc="frontier researchers each active institute trains per month", ge=0, le=1e3
    )
    frontier_wage_2021_m_rmb_per_year: float = F(
        desc="frontier researcher's total cost per year in 2021, M RMB", gt=0, le=100
    )
    basic_wage_m_rmb_per_year: float = F(
        desc="basic AI engineer's total cost per year, M RMB", gt=0, le=10
    )
    basic_per_frontier: float = F(
        3.0, desc="basic engineers employed per frontier researcher", ge=0, le=50
    )
    wage_adjustment: float = F(
        0.5,
        desc="share of the (log) gap to the market-clearing frontier wage closed each month",
        gt=0,
        le=1,
    )
    min_pretraining_team: float = F(
        10.0,
        desc="frontier researchers a firm needs to run pre-training at all (an indivisible "
        "team: data, infrastructure, training; assumption, against R&D head-counts of 284-657 "
        "at the leading start-ups in 2025, IPO prospectuses, and university labs of about ten "
        "that trained 1-bn-parameter models in 2023)",
        ge=0,
        le=1e4,
    )


class Compute(Strict):
    """Compute market, in H100-equivalent accelerators (H100e)."""

    imported_supply_2021_h100e_per_month: float = F(
        desc="new advanced imported accelerators per month in 2021, H100e", ge=0, le=1e7
    )
    imported_supply_growth_per_year: float = F(
        desc="growth of uncontrolled imported supply per year (0.5 = +50 %)", ge=-0.9, le=5
    )
    domestic_supply_cap_chips_per_month: float = F(
        desc="long-run domestic accelerator output, chips per month (logistic ramp)", ge=0, le=1e8
    )
    domestic_supply_midpoint: str = F(
        desc="month in which domestic output reaches half its long-run level, YYYY-MM"
    )
    domestic_supply_steepness_per_year: float = F(
        desc="steepness of the domestic ramp (logistic rate per year)", gt=0, le=20
    )
    domestic_efficiency_2021: float = F(
        desc="performance of a domestic accelerator relative to an H100, 2021", gt=0, le=1
    )
    domestic_efficiency_gain_per_year: float = F(
        desc="yearly gain in domestic efficiency (share points)", ge=0, le=0.5
    )

    @field_validator("domestic_supply_midpoint")
    @classmethod
    def _mid(cls, v: str) -> str:
        return _check_date(v)

    chip_lifetime_months: int = F(48, desc="months an accelerator stays in service", ge=6, le=240)
    fm_share_of_capacity: float = F(
        0.35,
        desc="share of installed capacity that foundation-model developers can rent "
        "(the rest serves other AI workloads)",
        gt=0,
        le=1,
    )
    initial_installed_h100e: float = F(
        desc="installed accelerators in China at 2021-01, H100e", ge=0, le=1e8
    )
    domestic_share_of_initial: float = F(
        desc="domestic share of the initial installed base, 0-1", ge=0, le=1
    )
    price_floor_2021_m_rmb_per_h100e_month: float = F(
        desc="cost-based rental price of one H100e for a month in 2021, M RMB", gt=0, le=10
    )
    price_floor_decline_per_year: float = F(
        0.25, desc="yearly decline of the cost-based price (hardware and power)", ge=0, le=0.9
    )
    price_adjustment_per_month: float = F(
        0.5,
        desc="share of the (log) gap to the clearing price the compute price closes each month; "
        "buyers are rationed when demand exceeds capacity at the going price",
        gt=0,
        le=1,
    )
    inference_cost_share_2023: float = F(
        0.5,
        desc="inference compute cost per RMB of usage sold at the 2023 reference price",
        gt=0,
        le=5,
    )
    serving_efficiency_elasticity: float = F(
        1.0,
        desc="elasticity of serving compute per unit of usage to a firm's research efficiency "
        "(efficient labs also serve cheaply: MoE, attention compression)",
        ge=0,
        le=2,
    )
    chip_price_months: float = F(
        24.0,
        desc="price of buying one H100e, in months of the cost-based rental price (owning pays "
        "off within the chip's life; assumption)",
        gt=0,
        le=240,
    )
    serving_headroom: float = F(
        0.2,
        desc="capacity a firm plans above last month's demand for its service (growth, peaks)",
        ge=0,
        le=5,
    )
    stockpile_multiple: float = F(
        1.0,
        desc="extra imports and chip purchases, as a multiple of the usual, between the "
        "announcement and the effect of an export-control step (rush orders; assumption)",
        ge=0,
        le=20,
    )
    inference_efficiency_gain_per_year: float = F(
        0.5,
        desc="yearly fall in compute needed per unit of usage (distillation, MoE, quantisation)",
        ge=0,
        le=0.95,
    )
    outside_compute_per_rmb: float = F(
        1.7,
        desc="compute that buyers outside the model layer (clouds serving applications, "
        "integrators, enterprises, self-hosted open weights) rent from the firms' pool, RMB per "
        "RMB of end spending that does not reach the model layer (demand.model_layer_share); "
        "zero effect at share 1. Source: IDC, China accelerated-server market 2024, USD 22.1 bn "
        "(about 160.7 bn RMB), rents for twice its price over a chip's life (chip_lifetime_months "
        "over chip_price_months): 80 bn RMB a year, 28 bn of it open to foundation models "
        "(fm_share_of_capacity), against iiMedia's 2024 AIGC core market of about 16.1 bn "
        "(7.93 bn in 2023 at its implied 103.5 % growth): 1.7 (0.9 from depreciation alone). "
        "A rough scale: that ratio is per RMB of all end spending, and the 28 bn includes the "
        "model layer's own rentals; the bid is money tied to nominal end spending, not to the "
        "cost of compute (README: the compute price over its floor after 2025); with "
        "outside_compute_basis end_spending only",
        ge=0,
        le=20,
    )
    outside_compute_basis: Literal["end_spending", "serving_need"] = F(
        "end_spending",
        desc="what the outside buyers' compute bid follows: end_spending, outside_compute_per_rmb "
        "RMB per RMB of end spending outside the model layer (the calibrated baseline's rule); or "
        "serving_need, the H100e they need to serve their share of end spending "
        "(outside_serving_multiple x (1 - v) / v times the model layer's serving plan), bought "
        "with outside_price_elasticity around the cost floor. serving_need is not calibrated: a "
        "sensitivity switch for the compute price after 2025 (docs/notes/compute-price.md)",
    )
    outside_serving_multiple: float = F(
        2.0,
        desc="outside buyers' serving compute per RMB of their end spending, relative to the "
        "model layer's per RMB of its revenue (outside_compute_basis serving_need only). 2 keeps "
        "the calibrated baseline's: under its end-spending bid the outside buyers' H100e run "
        "1.8-2.2 times (1 - v) / v times the model layer's serving plan in every year, so the "
        "switch changes what their bid follows, not how much compute a yuan of theirs needs "
        "(measured; docs/notes/compute-price.md)",
        ge=0,
        le=20,
    )
    outside_price_elasticity: float = F(
        1.0,
        desc="own-price elasticity of the outside buyers' compute, around the cost floor "
        "(outside_compute_basis serving_need only): at price p they take their need times "
        "(p / floor) ** -elasticity; 1 spends their need valued at cost whatever the price, the "
        "budget form of the firms' training money (assumption)",
        ge=0,
        le=5,
    )


class ChurnMultiplier(Strict):
    """Switching costs by monetisation model, as multipliers of demand.churn_per_month."""

    api: float = F(1.5, desc="API customers swap an endpoint easily", ge=0, le=10)
    integration: float = F(0.5, desc="integrations are held by licences and contracts", ge=0, le=10)
    subscription: float = F(1.0, desc="subscribers cancel month by month", ge=0, le=10)

    def __getitem__(self, monetisation: str) -> float:
        return float(getattr(self, monetisation))


class Demand(Strict):
    """Users: Bass diffusion per segment and a logit choice among providers."""

    segments: list[Segment] = F(desc="demand segments (sector x customer type)", min_length=1)
    demand_scale: float = F(
        1.0, desc="multiplier on all potential users (calibrated)", gt=0, le=100
    )
    spend_scale: float = F(
        1.0,
        desc="multiplier on spending per user in every segment (willingness to pay; calibrated)",
        gt=0,
        le=100,
    )
    model_layer_share: float = F(
        1.0,
        desc="share of end spending on generative AI (iiMedia's AIGC core market) that reaches "
        "the model layer, the firms the model follows (API, licences, model projects); the rest "
        "stays with third-party applications and integrators outside the model",
        gt=0,
        le=1,
    )
    potential_growth_per_year: float = F(
        0.15,
        desc="growth of potential users per year (not negative: adopters are never taken back "
        "when the potential shrinks, so a shrinking potential would leave more adopters than "
        "potential users)",
        ge=0,
        le=3,
    )
    potential_growth_cap: float = F(
        3.0,
        desc="potential users grow at most to this multiple of their 2023 level (the economy "
        "has a finite number of firms and people)",
        ge=1,
        le=100,
    )
    consumer_ceiling_m: float = F(
        1108.0,
        desc="ceiling on potential consumer adopters over all consumer segments, millions "
        "(China's internet users, about 1.108 bn at 2024-12; CNNIC 55th report)",
        gt=0,
        le=2000,
    )
    usage_growth_per_year: float = F(
        0.15, desc="growth of usage per adopting user per year at a fixed price", ge=-0.5, le=5
    )
    usage_growth_cap: float = F(
        20.0,
        desc="usage per user at a fixed price grows at most to this multiple of its 2023 level "
        "(intensity saturates: hours in a day, tasks in a firm)",
        ge=1,
        le=1000,
    )
    usage_satiation_multiple: float = F(
        1000.0,
        desc="most usage a user takes as the price falls, as a multiple of usage at the "
        "reference price: the price elasticity falls as usage nears it (at 1000 and an "
        "elasticity of 1.3, to about 0.9 after a 100x price fall and 0.3 after 1000x; "
        "assumption, against token volumes growing ~20x a year while prices fell ~90 %: press)",
        gt=1,
        le=1e4,
    )
    rationing_utility_penalty: float = F(
        2.0,
        desc="utility lost per unit share of demand a provider could not serve last month "
        "(queues, rate limits, degraded answers)",
        ge=0,
        le=50,
    )
    rationing_churn: float = F(
        0.5,
        desc="share of a provider's unserved users who re-choose the next month",
        ge=0,
        le=1,
    )
    reference_rmb_per_k_tokens: float = F(
        0.12,
        desc="price of a thousand tokens at the reference price index 1, RMB (leading Chinese "
        "APIs before the 2024-05 price war; press), to report usage volume",
        gt=0,
        le=100,
    )
    useful_capability_log10: float = F(
        3.3,
        desc="capability at which models become broadly useful (half of potential unlocked)",
        ge=0,
        le=10,
    )
    usefulness_width_log10: float = F(
        0.25, desc="width of the usefulness ramp (logistic scale), log10", gt=0, le=5
    )
    consumer_capability_premium_log10: float = F(
        0.0,
        desc="capability beyond useful_capability_log10 (log10) at which consumers find models "
        "broadly useful, half of the consumer segments' potential unlocked (same ramp width); "
        "0 unlocks consumers with firms. Rationale: mass-market users adopt once a model does "
        "everyday tasks reliably, later than firms' pilots; CNNIC's users doubled in the half "
        "year after free reasoning models arrived (249 M in 2024-12, 515 M in 2025-06). Fitted "
        "by the calibration, not sourced",
        ge=0,
        le=5,
    )
    bass_innovation_per_month: float = F(
        0.002, desc="Bass innovation coefficient p per month at a hype index of 1", ge=0, le=1
    )
    bass_imitation_per_month: float = F(
        0.06, desc="Bass imitation coefficient q per month", ge=0, le=2
    )
    consumer_potential_multiple: float = F(
        1.0,
        desc="potential users of consumer segments as a multiple of demand_scale's: the "
        "consumer potential (sourced from CNNIC) and the firms' (sizes assumed) are scaled "
        "apart, since different data inform them (calibrated)",
        gt=0,
        le=100,
    )
    consumer_innovation_multiple: float = F(
        1.0,
        desc="Bass innovation coefficient of consumer segments as a multiple of "
        "bass_innovation_per_month: people try chatbots on their own less than firms run pilots "
        "pushed by vendors (Bass coefficients differ by market; calibrated)",
        ge=0,
        le=100,
    )
    consumer_imitation_multiple: float = F(
        1.0,
        desc="Bass imitation coefficient of consumer segments as a multiple of "
        "bass_imitation_per_month (word of mouth among people; calibrated)",
        ge=0,
        le=100,
    )
    capability_weight: float = F(
        3.0, desc="utility per log10 of capability (returns to quality)", ge=0, le=50
    )
    price_sensitivity: float = F(
        2.5,
        desc="utility per log of price (logit price coefficient, > 1 for finite markups)",
        gt=1,
        le=50,
    )
    ecosystem_weight: float = F(
        1.5, desc="utility of a full-strength ecosystem where the segment values it", ge=0, le=20
    )
    sector_fit_weight: float = F(
        1.0, desc="utility of specialising in the segment's sector", ge=0, le=20
    )
    outside_option_utility: float = F(
        0.0,
        desc="utility of the outside option (self-hosted open weights) at the floor",
        ge=-50,
        le=50,
    )
    no_ai_utility: float = F(
        0.0,
        desc="utility of doing without generative AI (the outside option besides self-hosting): "
        "when every provider's price rises far above the reference price, users drop out, so "
        "scarcity shrinks the market rather than only raising prices",
        ge=-50,
        le=50,
    )
    churn_per_month: float = F(
        0.04,
        desc="share of a provider's users who re-choose each month (switching cost)",
        ge=0,
        le=1,
    )
    ecosystem_churn_reduction: float = F(
        0.6, desc="share by which a full ecosystem lowers its users' churn (lock-in)", ge=0, le=1
    )
    taste_shock_sd: float = F(
        0.15, desc="monthly shock to each firm's appeal (random walk), utility units", ge=0, le=5
    )
    taste_persistence: float = F(
        0.9,
        desc="share of last month's appeal shock that persists (AR(1) coefficient; assumption: "
        "fads fade within about a year)",
        ge=0,
        le=1,
    )
    self_hosting_cost_multiple: float = F(
        1.5,
        desc="cost of self-hosting open weights as a multiple of the raw inference compute cost "
        "(engineering, idle capacity; assumption)",
        ge=1,
        le=20,
    )
    churn_multiplier: ChurnMultiplier = F(
        default_factory=lambda: ChurnMultiplier(),
        desc="churn by monetisation model relative to churn_per_month (switching costs)",
    )


class Pricing(Strict):
    """Price setting: partial adjustment towards a logit Bertrand markup over inference cost."""

    adjustment_per_month: float = F(
        0.3, desc="share of the gap to the target price closed each month", gt=0, le=1
    )
    max_markup: float = F(
        3.0,
        desc="largest price-to-cost ratio: a dominant provider's price is held down by "
        "self-hosted open weights and the threat of entry (contestability; assumption)",
        ge=1,
        le=20,
    )
    penetration_discount: float = F(
        0.4,
        desc="a firm pricing for penetration charges its serving cost times (1 - this): it buys "
        "users, data and lock-in with losses it can fund (assumption)",
        ge=0,
        lt=1,
    )
    penetration_target_share: float = F(
        0.1,
        desc="a firm prices for penetration while its spending-weighted user share is below this",
        ge=0,
        le=1,
    )
    war_undercut: float = F(
        0.3,
        desc="a firm below its target share starts pricing for penetration when a rival with a "
        "real user base charges less than (1 - this) of its own target price",
        ge=0,
        lt=1,
    )
    penetration_min_runway_months: float = F(
        24.0,
        desc="only a firm that can fund losses this long (cash runway, or a parent's budget) "
        "prices for penetration",
        ge=0,
        le=240,
    )


class KindBehaviour(Strict):
    """How one kind of firm budgets and exits."""

    ambition_share_of_top_budget: float = F(
        desc="R&D budget a firm aims for, as a share of last month's largest R&D budget in the "
        "market (keeping up with the frontier spenders); paid from cash",
        ge=0,
        le=2,
    )
    min_runway_months: float = F(
        6.0, desc="a firm spends at most cash / this per month on ambition", gt=0, le=120
    )
    reinvest_share_of_revenue: float = F(
        desc="share of operating margin reinvested in R&D", ge=0, le=1
    )
    budget_growth_per_year: float = F(
        desc="growth of committed budgets per year (parents' AI capex, grants) while the unit "
        "meets its parent's hurdle",
        ge=-0.5,
        le=5,
    )
    catch_up_horizon_months: float = F(
        desc="a firm whose own model is below the open-weight floor keeps pre-training only if, "
        "at its recent rate of progress, it would pass the floor within this many months",
        gt=0,
        le=240,
    )


_KIND_DEFAULTS: dict[str, dict[str, float]] = {
    # Megatech commitments grow 0.3 a year while the unit meets its parent's hurdle: capex of the
    # named firms 2023-2025 (Alibaba 24.4 -> 103.9 bn RMB, Tencent ~77 -> 79, Baidu 11.2 -> 12.1;
    # company reports) averages about that. Catch-up horizons are assumptions: a parent with
    # deep pockets waits longer than a start-up's investors.
    "megatech": {
        "ambition_share_of_top_budget": 0.0,
        "reinvest_share_of_revenue": 1.0,
        "budget_growth_per_year": 0.3,
        "catch_up_horizon_months": 24.0,
    },
    # Start-ups aim at 0.6 of the top budget: Zhipu's 2024 R&D was about 2.2 bn RMB (7.03 x its
    # 312 M revenue; IPO prospectus) against a leading megatech's AI budget of about 3.6 bn.
    "startup": {
        "ambition_share_of_top_budget": 0.6,
        "reinvest_share_of_revenue": 1.0,
        "budget_growth_per_year": 0.0,
        "catch_up_horizon_months": 12.0,
    },
    "institute": {
        "ambition_share_of_top_budget": 0.0,
        "reinvest_share_of_revenue": 0.5,
        "budget_growth_per_year": 0.1,
        "catch_up_horizon_months": 18.0,
    },
    "vertical": {
        "ambition_share_of_top_budget": 0.05,
        "reinvest_share_of_revenue": 0.8,
        "budget_growth_per_year": 0.1,
        "catch_up_horizon_months": 12.0,
    },
}


class KindTable(Strict):
    """Behaviour of each kind of developer. A scenario may override single fields of one kind
    (``firms: {kinds: {startup: {min_runway_months: 3}}}``); the rest keep their defaults."""

    megatech: KindBehaviour = F(desc="internet platforms with ecosystems")
    startup: KindBehaviour = F(desc="venture-backed start-ups")
    institute: KindBehaviour = F(desc="universities and research institutes")
    vertical: KindBehaviour = F(desc="industry-specialised firms")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged: dict[str, Any] = {}
        for kind, defaults in _KIND_DEFAULTS.items():
            given = data.get(kind, {})
            merged[kind] = {**defaults, **given} if isinstance(given, dict) else given
        merged.update({k: v for k, v in data.items() if k not in _KIND_DEFAULTS})
        return merged

    def __getitem__(self, kind: str) -> KindBehaviour:
        return getattr(self, kind)


class Firms(Strict):
    """Firm behaviour by kind, and the costs every firm bears."""

    kinds: KindTable = F(
        default_factory=lambda: KindTable.model_validate({}),
        desc="behaviour by kind of model developer",
    )
    overhead_m_rmb_per_month: float = F(
        1.0,
        desc="fixed non-R&D overhead of a foundation-model developer, M RMB per month",
        ge=0,
        le=1e3,
    )
    efficiency_sd_log: float = F(
        0.6,
        desc="dispersion of research efficiency among stochastic entrants (sd of log); 0.6 puts "
        "about 1 entrant in 100 at 4x the average, the order of DeepSeek-V3's reported cost "
        "advantage (2,048 H800s, ~USD 5.6 M final run; DeepSeek-V3 technical report)",
        ge=0,
        le=3,
    )
    defend_share: float = F(
        0.02,
        desc="a firm whose own model is below the open-weight floor keeps pre-training without "
        "a catch-up prospect only while its spending-weighted user share is at least this (a "
        "user base of its own to defend)",
        ge=0,
        le=1,
    )
    pretraining_window_months: int = F(
        12,
        desc="an active foundation-model developer has pre-trained within this many months",
        ge=1,
        le=60,
    )
    pretraining_min_h100e_months: float = F(
        100.0,
        desc="training compute within the window that counts as pre-training a base model, "
        "H100e-months (about a 1-bn-parameter model, the report's threshold; assumption)",
        ge=0,
        le=1e9,
    )
    parent_loss_cover_multiple: float = F(
        2.0,
        desc="a parent covers its unit's monthly losses up to this multiple of the committed "
        "budget; beyond it the unit's cash falls and it can fail (assumption)",
        ge=0,
        le=100,
    )
    parent_hurdle_share: float = F(
        0.02,
        desc="a parent keeps growing its AI budget (January review) only while the unit's "
        "spending-weighted user share is at least this, or it is pre-training within "
        "firms.parent_hurdle_gap_log10 of the leader",
        ge=0,
        le=1,
    )
    parent_hurdle_gap_log10: float = F(
        0.5,
        desc="a pre-training unit whose own model is within this many log10 of the leader's "
        "meets its parent's hurdle whatever its user share (still in the race); assumption",
        ge=0,
        le=5,
    )
    parent_cut_per_year: float = F(
        0.5,
        desc="share by which a parent cuts the AI budget of a unit that misses the hurdle",
        ge=0,
        le=1,
    )
    stop_runway_months: float = F(
        3.0,
        desc="a firm without a parent keeps at least a minimum pre-training team while its cash "
        "covers that team for longer than this, and stops pre-training when it no longer does "
        "(unless it raised a round this quarter)",
        ge=0,
        le=60,
    )
    app_layer_budget_share: float = F(
        0.1,
        desc="a parent keeps this share of a unit's committed budget as an operating budget when "
        "the unit stops pre-training and sells on others' models (assumption)",
        ge=0,
        le=1,
    )
    floor_smoothing_months: int = F(
        6,
        desc="firms judge their model against the open-weight floor averaged over this many "
        "months (a release is evaluated, not reacted to overnight)",
        ge=1,
        le=36,
    )
    roster_efficiency_sd_log: float = F(
        0.4,
        desc="dispersion of research efficiency among named firms without a set efficiency "
        "(sd of log; established teams vary less than new entrants)",
        ge=0,
        le=3,
    )
    pivot_grace_months: int = F(
        12,
        desc="months after entry before a firm reviews whether to keep pre-training",
        ge=0,
        le=120,
    )


class Entry(Strict):
    """Stochastic entry of startups and industry-specialised firms."""

    base_rate_per_month: float = F(
        0.5,
        desc="expected entrants per month at a hype index of 1 and normal VC and talent",
        ge=0,
        le=100,
    )
    hype_elasticity: float = F(1.2, desc="elasticity of entry to the hype index", ge=0, le=5)
    vertical_share: float = F(
        0.35, desc="share of stochastic entrants that are industry-specialised firms", ge=0, le=1
    )
    seed_cash_median_m_rmb: float = F(
        60.0, desc="median cash of an entrant (founders and seed round), M RMB", gt=0, le=1e5
    )
    seed_cash_sd_log: float = F(0.8, desc="dispersion of entrant cash (sd of log)", ge=0, le=3)
    first_month: str = F(
        "2021-06", desc="first month in which stochastic entry can happen, YYYY-MM"
    )
    money_elasticity: float = F(
        0.5,
        desc="elasticity of entry to venture dry powder relative to a year of 2021 inflow",
        ge=0,
        le=5,
    )
    money_ratio_min: float = F(
        0.1,
        desc="dry powder ratio is clipped below at this before the elasticity applies",
        gt=0,
        le=1,
    )
    founder_share: float = F(
        0.3,
        desc="share of an entrant's starting cash its founders bring; the rest is a seed round "
        "from the funds' dry powder, so an entrant is poorer when funds are empty",
        ge=0,
        le=1,
    )
    money_ratio_max: float = F(
        4.0,
        desc="dry powder ratio is clipped above at this before the elasticity applies",
        ge=1,
        le=1000,
    )
    profit_elasticity: float = F(
        1.0,
        desc="elasticity of entry to the expected payoff of entering over the cost of reaching "
        "the open-weight floor (endogenous sunk costs), the ratio capped at 1",
        ge=0,
        le=5,
    )
    horizon_months: float = F(
        36.0,
        desc="months of a newcomer's share of the potential market an entrant counts on",
        gt=0,
        le=240,
    )
    margin_share: float = F(
        0.3,
        desc="share of revenue an entrant expects to keep as margin",
        gt=0,
        le=1,
    )
    expected_growth_weight: float = F(
        0.0,
        desc="weight an entrant puts on the market's observed growth when it values entry "
        "(adaptive, extrapolative expectations): the payoff counts the spending it expects over "
        "horizon_months, growing at this weight times the market's growth over "
        "capital.growth_window_months (capped at capital.growth_hype_cap), annualised; 0 counts "
        "today's spending throughout (the baseline). Rationale: the 2023 entrants bet on a "
        "forecast market (iiMedia: about 100 % a year), not on the one they saw",
        ge=0,
        le=3,
    )

    @field_validator("first_month")
    @classmethod
    def _d(cls, v: str) -> str:
        return _check_date(v)


class Capital(Strict):
    """Venture capital and the hype index that drives it."""

    funds: list[str] = F(
        desc="venture funds (names); each starts with an equal share of dry powder", min_length=1
    )
    inflow_2021_m_rmb_per_month: float = F(
        desc="new money committed to Chinese foundation-model VC per month at a hype index of 1, "
        "M RMB",
        ge=0,
        le=1e6,
    )
    chatgpt_release: str = F(desc="date of the ChatGPT shock, YYYY-MM-DD")
    chatgpt_shock: float = F(
        4.0,
        desc="jump of the hype index at the ChatGPT release (baseline hype is 1)",
        ge=0,
        le=100,
    )
    hype_half_life_months: float = F(14.0, desc="half-life of hype shocks, months", gt=0, le=600)
    growth_hype_weight: float = F(
        0.5, desc="hype added per unit of annual market growth rate", ge=0, le=10
    )
    failure_penalty: float = F(
        0.05, desc="hype removed per bankruptcy within failure_memory_months", ge=0, le=5
    )
    failure_memory_months: int = F(
        12, desc="months a bankruptcy weighs on the hype index", ge=1, le=120
    )
    growth_window_months: int = F(
        12,
        desc="window over which market growth feeds hype (12 = year-on-year growth)",
        ge=1,
        le=60,
    )
    growth_hype_cap: float = F(
        2.0,
        desc="largest growth rate counted by the hype index (a tiny early market's growth "
        "would otherwise dominate)",
        ge=0,
        le=100,
    )
    growth_materiality_m_rmb_per_month: float = F(
        0.0,
        desc="smallest monthly market size growth is measured against, M RMB a month: below it "
        "growth counts as the market's increase over this base (investors do not read a "
        "tenfold rise of a negligible market as a boom); 0 measures growth on the market itself. "
        "Used by the hype index and by entrants' expected growth",
        ge=0,
        le=1e6,
    )
    hype_floor: float = F(
        0.1, desc="lowest value of the hype index (investors never vanish entirely)", ge=0, le=1
    )
    screening_scale_log10: float = F(
        0.3,
        desc="capability difference (log10) funds count as one unit of score when screening",
        gt=0,
        le=10,
    )
    herding_window_months: int = F(
        12, desc="a round within this many months earns the herding bonus", ge=1, le=120
    )
    min_round_burn_m_rmb: float = F(
        1.0,
        desc="rounds are sized on at least this monthly burn, M RMB (a firm not yet burning)",
        gt=0,
        le=1e4,
    )
    raise_below_runway_months: float = F(
        9.0, desc="a startup seeks a round when runway falls below this", gt=0, le=120
    )
    round_runway_months: float = F(
        24.0, desc="a round funds this many months of current burn", gt=0, le=240
    )
    screening_noise_sd: float = F(0.5, desc="noise in funds' scoring of startups", ge=0, le=10)
    herding_weight: float = F(
        0.5, desc="score bonus for startups funded by others in the last 12 months", ge=0, le=10
    )
    quality_threshold: float = F(
        -0.3,
        desc="minimum score to be funded at a hype index of 1 (rises as hype falls)",
        ge=-10,
        le=10,
    )
    vc_runoff_per_month: float = F(
        0.02,
        desc="share of undeployed dry powder leaving for other sectors each month",
        ge=0,
        le=1,
    )
    min_months_between_rounds: int = F(
        6, desc="a start-up raises at most one round in this many months", ge=1, le=60
    )
    strategic_stake_share: float = F(
        0.3,
        desc="share of a start-up's round its strategic backer (a roster megatech) takes, paid "
        "from the backer's cash",
        ge=0,
        le=1,
    )
    ipo_open_from: str | None = F(
        "2023-03-31",
        desc="date from which pre-profit AI firms can list (HKEX Chapter 18C, effective "
        "2023-03-31); none = no IPOs",
    )
    ipo_min_annual_revenue_m_rmb: float = F(
        250.0,
        desc="annualised revenue a start-up needs to go public, M RMB (Zhipu listed on 312 M of "
        "2024 revenue; prospectus)",
        ge=0,
        le=1e6,
    )
    ipo_min_age_months: int = F(36, desc="months since entry before an IPO", ge=0, le=600)
    ipo_max_raise_m_rmb: float = F(
        5000.0,
        desc="most an IPO raises, M RMB (the 2025-26 Hong Kong listings of Zhipu and MiniMax "
        "raised a few bn; assumption)",
        ge=0,
        le=1e6,
    )
    ipo_revenue_multiple: float = F(
        4.0,
        desc="money raised at an IPO, as a multiple of annualised revenue (assumption)",
        ge=0,
        le=200,
    )

    @field_validator("ipo_open_from")
    @classmethod
    def _ipo(cls, v: str | None) -> str | None:
        return None if v is None else _check_date(v)

    @field_validator("chatgpt_release")
    @classmethod
    def _d(cls, v: str) -> str:
        return _check_date(v)


class Regulation(Strict):
    """The filing duty for generative-AI services offered to the public (Interim Measures 2023)."""

    filing_start: str | None = F(
        desc="date from which consumer services need filing approval; none = never"
    )
    approval_delay_mean_months: float = F(
        desc="mean months from application to approval", ge=0, le=60
    )
    compliance_cost_m_rmb_per_month: float = F(
        desc="compliance cost of a firm serving the public after the filing date, M RMB per month",
        ge=0,
        le=1e3,
    )

    @field_validator("filing_start")
    @classmethod
    def _d(cls, v: str | None) -> str | None:
        return None if v is None else _check_date(v)


class Acquisitions(Strict):
    """Acquisitions and acqui-hires: a distressed firm sells when a buyer values it above its price
    and can pay."""

    distress_runway_months: float = F(
        4.0,
        desc="a firm without a parent and with less runway than this offers itself for sale",
        ge=0,
        le=60,
    )
    price_to_annual_revenue: float = F(
        3.0,
        desc="a buyer values a target's customers at this multiple of their annualised operating "
        "margin, for the share it would not win anyway",
        ge=0,
        le=100,
    )
    talent_value_years_of_wage: float = F(
        2.0,
        desc="a buyer values each frontier researcher it gains at this many years of the going "
        "frontier wage (hiring them on the market costs time and a premium)",
        ge=0,
        le=20,
    )
    capability_value_per_log10: float = F(
        1.0,
        desc="a buyer values a better model at this multiple of its own annualised revenue per "
        "log10 of capability gained",
        ge=0,
        le=100,
    )
    integration_cost_m_rmb: float = F(
        200.0,
        desc="cost a buyer bears to close and integrate a deal (diligence, filings, retention), "
        "M RMB; small targets are not worth buying (assumption)",
        ge=0,
        le=1e5,
    )
    fire_sale_share: float = F(
        0.5,
        desc="a distressed seller accepts this share of its researchers' market value, on top of "
        "its debts being settled",
        ge=0,
        le=1,
    )


class Policy(Strict):
    """Dated policy timeline applied by the government agent."""

    export_controls: list[ExportControlStep] = F(desc="dated export-control steps, chronological")
    export_control_scale: float = F(
        1.0,
        desc="severity lever on every export-control step: the supply cut (1 - factor) is "
        "multiplied by this (0 = no controls, 1 = as listed, 2 = cuts twice as deep)",
        ge=0,
        le=5,
    )
    export_control_shift_months: int = F(
        0,
        desc="timing lever on every export-control step: each step (and its announcement) "
        "takes effect this many months later (negative: earlier), in months",
        ge=-36,
        le=36,
    )
    decoupling: list[DecouplingStep] = F(
        default_factory=list, desc="dated cuts in frontier-talent inflow, chronological"
    )
    capital_flows: list[CapitalFlowStep] = F(
        default_factory=list,
        desc="dated changes in VC inflow (outbound-investment rules, a VC winter), chronological",
    )
    subsidies: list[SubsidyProgramme] = F(desc="subsidy programmes")
    subsidy_scale: float = F(
        1.0,
        desc="multiplier on every subsidy budget, rate cap and cap (scenario lever)",
        ge=0,
        le=10,
    )
    max_subsidy_rate: float = F(
        0.95,
        desc="largest share of a bill any programme pays after subsidy_scale (a firm always "
        "pays something; keeps voucher contracts finite)",
        ge=0,
        lt=1,
    )
    public_compute: list[PublicCompute] = F(default_factory=list, desc="public compute platforms")
    open_weight_releases: list[OpenWeightRelease] = F(
        default_factory=list, desc="exogenous open-weight releases, chronological"
    )
    regulation: Regulation = F(desc="the generative-AI filing duty")

    @field_validator("export_controls", "decoupling", "capital_flows", "open_weight_releases")
    @classmethod
    def _chronological(cls, v: list[Dated]) -> list[Dated]:
        months = [parse_month(s.date) for s in v]
        for i in range(1, len(months)):
            if months[i] < months[i - 1]:
                raise ValueError(
                    f"entries must be in date order: entry {i} ({v[i].date}) comes before "
                    f"entry {i - 1} ({v[i - 1].date})"
                )
        return v


class Scenario(Strict):
    """A complete, resolved scenario."""

    name: str = F(
        desc="scenario name (a column in every output table)",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    )
    description: str = F("", desc="what question this scenario asks")
    seed: int = F(20231130, desc="root seed of the replications", ge=0, le=2**32 - 1)
    replications: int = F(8, desc="default number of replications for `run`", ge=1, le=10_000)
    end: str = F("2030-12", desc="last simulated month, YYYY-MM (start is 2021-01)")
    roster: list[RosterFirm] = F(desc="named players entering on their real dates")
    technology: Technology
    talent: Talent
    compute: Compute
    demand: Demand
    pricing: Pricing = F(default_factory=Pricing, desc="price setting")
    firms: Firms = F(default_factory=Firms, desc="firm behaviour by kind")
    entry: Entry = F(default_factory=Entry, desc="stochastic entry")
    capital: Capital
    acquisitions: Acquisitions = F(default_factory=Acquisitions, desc="acquisitions by megatechs")
    policy: Policy

    @field_validator("end")
    @classmethod
    def _end(cls, v: str) -> str:
        if parse_month(v) < 6:
            raise ValueError(f"end {v} must be 2021-07 or later")
        if parse_month(v) > parse_month("2060-12"):
            raise ValueError(f"end {v} must be 2060-12 or earlier")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [f.name for f in self.roster]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"roster names must be unique; repeated: {', '.join(dupes)}")
        segs = [s.name for s in self.demand.segments]
        if len(set(segs)) != len(segs):
            raise ValueError("demand.segments names must be unique")
        sectors = {s.sector for s in self.demand.segments}
        for firm in self.roster:
            unknown = set(firm.home_sectors) - sectors
            if unknown:
                raise ValueError(
                    f"roster firm {firm.name!r} has unknown home_sectors {sorted(unknown)}; "
                    f"allowed: {sorted(sectors)}"
                )
        megatechs = {f.name for f in self.roster if f.kind == "megatech"}
        for firm in self.roster:
            if firm.backer is not None and firm.backer not in megatechs:
                raise ValueError(
                    f"roster firm {firm.name!r} has backer {firm.backer!r}, which is not a roster "
                    f"megatech; allowed: {', '.join(sorted(megatechs))}"
                )
        return self

    @property
    def n_months(self) -> int:
        """Number of simulated months, 2021-01 to ``end`` inclusive."""
        return parse_month(self.end) + 1


# --------------------------------------------------------------------------------------------------
# Loading
#
# Every file goes through ``sim.safeload`` (size, encoding, depth, aliases, duplicate keys, plain
# tags). While ``extends`` chains, roster and calibration files are merged, a ``Source`` tree
# records which file wrote each key, so that a problem is reported against the file and key path
# where the bad value was written.
# --------------------------------------------------------------------------------------------------

MAX_EXTENDS = 16
"""Longest ``extends`` chain (the shipped scenarios use one level)."""
MAX_PROBLEMS_LISTED = 8
"""Most validation problems listed in one message (the rest are counted)."""
_MESSAGE_LIMIT = 300


def _display(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    return display(path)


def _read_yaml(path: Path, key_path: str | None = None) -> Any:
    """Plain data from a YAML file via ``sim.safeload.load_yaml`` (``InputError`` on any problem;
    ``key_path`` is the key that named the file, reported if it is missing)."""
    return load_yaml(path, key_path)


@dataclass
class Source:
    """Where a value of a merged mapping was written: a file and the key path inside it.

    ``keys`` holds the sources of a mapping's keys (mappings merge key by key, so they may come
    from different files); a list and everything in it come from one file.
    """

    file: str
    path: tuple[str | int, ...] = ()
    keys: dict[str, Source] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any, file: str, path: tuple[str | int, ...] = ()) -> Source:
        """The source tree of ``data`` read from ``file`` (its keys at ``path`` there)."""
        src = cls(file, path)
        if isinstance(data, dict):
            src.keys = {k: cls.of(v, file, (*path, k)) for k, v in data.items()}
        return src

    def locate(self, loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """The file and the key path in that file of the value at ``loc`` of the merged mapping
        (for a key nobody wrote, e.g. a missing one: the file that wrote its parent)."""
        node, i = self, 0
        while i < len(loc) and isinstance(loc[i], str) and loc[i] in node.keys:
            node, i = node.keys[loc[i]], i + 1
        return node.file, (*node.path, *loc[i:])


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base``: mappings merge key by key, anything else is replaced."""
    return _merge(base, Source(""), override, Source(""))[0]


def _merge(
    base: dict[str, Any], base_src: Source, override: dict[str, Any], over_src: Source
) -> tuple[dict[str, Any], Source]:
    """``deep_merge`` that also merges the source trees."""
    out = dict(base)
    keys = dict(base_src.keys)
    for key, value in override.items():
        sub = over_src.keys.get(key) or Source(over_src.file, (*over_src.path, key))
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            inner = keys.get(key) or Source(base_src.file, (*base_src.path, key))
            out[key], keys[key] = _merge(out[key], inner, value, sub)
        else:
            out[key], keys[key] = value, sub
    return out, Source(over_src.file, over_src.path, keys)


def load_raw(
    path: str | Path, _seen: tuple[Path, ...] = (), use_calibration: bool = True
) -> dict[str, Any]:
    """Read a scenario file and its ``extends`` chain into one merged mapping (not yet validated).

    ``roster_file`` is read relative to the file that names it and replaced by ``roster``.
    ``calibration_file`` (a fragment written by ``genai-sim calibrate``) is merged underneath the
    file that names it; ``use_calibration=False`` leaves it out (calibration itself does).
    """
    return load_raw_traced(path, use_calibration, _seen)[0]


def _file_key(data: dict[str, Any], key: str, shown: str, what: str) -> str | None:
    value = data.pop(key, None)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(shown, key, f"must be the path of {what} (text); got {excerpt(value)}")
    return value


def load_raw_traced(
    path: str | Path, use_calibration: bool = True, _seen: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], Source]:
    """``load_raw`` and the ``Source`` tree of the merged mapping (which file wrote each key)."""
    path = Path(path)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = path.absolute()
    shown = _display(path)
    if resolved in _seen:
        chain = " -> ".join(p.name for p in (*_seen, resolved))
        raise InputError(shown, "extends", f"circular extends chain: {chain}")
    if len(_seen) >= MAX_EXTENDS:
        raise InputError(shown, "extends", f"extends chain longer than {MAX_EXTENDS} files")
    data = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(shown, None, "a scenario file must be a mapping of keys to values")
    src = Source.of(data, shown)
    data = dict(data)
    roster_name = _file_key(data, "roster_file", shown, "a roster file")
    calibration = _file_key(data, "calibration_file", shown, "a calibration file")
    base_name = _file_key(data, "extends", shown, "a base scenario file")
    for key in ("roster_file", "calibration_file", "extends"):
        src.keys.pop(key, None)
    if roster_name is not None:
        if "roster" in data:
            raise InputError(shown, "roster_file", "give roster or roster_file, not both")
        roster_path = resolved.parent / roster_name
        roster = _read_yaml(roster_path, "roster_file")
        if not isinstance(roster, dict) or not isinstance(roster.get("firms"), list):
            raise InputError(
                _display(roster_path), "firms", "a roster file holds a list under `firms:`"
            )
        extra = sorted(set(roster) - {"firms"})
        if extra:
            raise InputError(
                _display(roster_path),
                excerpt(extra[0]),
                "unknown key; a roster file holds only `firms:`",
            )
        data["roster"] = roster["firms"]
        src.keys["roster"] = Source(_display(roster_path), ("firms",))
    if calibration is not None and use_calibration:
        cal_path = resolved.parent / calibration
        fragment = _read_yaml(cal_path, "calibration_file")
        if fragment is None:
            fragment = {}
        if not isinstance(fragment, dict):
            raise InputError(
                _display(cal_path), None, "a calibration file holds a mapping of parameters"
            )
        for key in ("extends", "roster_file", "calibration_file"):
            if key in fragment:
                raise InputError(
                    _display(cal_path), key, "not allowed in a calibration file (parameters only)"
                )
        data, src = _merge(fragment, Source.of(fragment, _display(cal_path)), data, src)
    if base_name is None:
        return data, src
    base, base_src = load_raw_traced(
        resolved.parent / base_name, use_calibration, (*_seen, resolved)
    )
    return _merge(base, base_src, data, src)


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _model_at(loc: tuple[Any, ...], root: type[BaseModel] = BaseModel) -> type[BaseModel] | None:
    """The schema class that owns the last key of ``loc`` (for listing allowed keys)."""
    model: Any = Scenario if root is BaseModel else root
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field_info = model.model_fields.get(str(item))
        if field_info is None:
            return None
        model = inner_model(field_info.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def inner_model(annotation: Any) -> type[BaseModel] | None:
    """The schema block (pydantic model) an annotation holds, if any: ``Talent``,
    ``list[RosterFirm]`` and ``Regulation | None`` give the model; scalars give None."""
    args = getattr(annotation, "__args__", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if args:
        for a in reversed(args):
            inner = inner_model(a)
            if inner is not None:
                return inner
    return None


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


def _cross_problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """The problems of ``Scenario``'s cross-field checks, each at the key path of the value to
    fix (pydantic reports them at the top level). Looks only at well-formed parts of ``data``."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(data, dict):
        return out
    roster = data.get("roster") if isinstance(data.get("roster"), list) else []
    demand = data.get("demand") if isinstance(data.get("demand"), dict) else {}
    segments = demand.get("segments") if isinstance(demand.get("segments"), list) else []
    for block, items in ((("roster",), roster), (("demand", "segments"), segments)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in first:
                out.append(
                    (
                        (*block, i, "name"),
                        f"name {excerpt(name)} is repeated: entry [{first[name]}] of this list "
                        "already has it; names must be unique",
                    )
                )
            else:
                first[name] = i
    sectors = {s.get("sector") for s in segments if isinstance(s, dict)}
    for i, firm in enumerate(roster):
        homes = firm.get("home_sectors") if isinstance(firm, dict) else None
        for k, sector in enumerate(homes if isinstance(homes, list) else []):
            if isinstance(sector, str) and sector not in sectors:
                allowed = sorted(s for s in sectors if isinstance(s, str))
                out.append(
                    (
                        ("roster", i, "home_sectors", k),
                        f"unknown sector {excerpt(sector)}; allowed: {', '.join(allowed)}",
                    )
                )
    megatechs = {
        f.get("name") for f in roster if isinstance(f, dict) and f.get("kind") == "megatech"
    }
    for i, firm in enumerate(roster):
        backer = firm.get("backer") if isinstance(firm, dict) else None
        if isinstance(backer, str) and backer not in megatechs:
            allowed = sorted(m for m in megatechs if isinstance(m, str))
            out.append(
                (
                    ("roster", i, "backer"),
                    f"{excerpt(backer)} is not a roster megatech; allowed: {', '.join(allowed)}",
                )
            )
    return out


def format_validation_error(
    exc: ValidationError,
    file: str,
    source: Source | None = None,
    model: type[BaseModel] | None = None,
    located: Callable[[], list[tuple[tuple[Any, ...], str]]] | None = None,
) -> InputError:
    """Turn pydantic's error list into one short message naming files, key paths and what is
    allowed.

    ``source`` maps key paths to the files that wrote them (default: everything in ``file``);
    ``model`` is the validated class (default ``Scenario``), for listing allowed keys; ``located``
    gives key paths for problems pydantic reports at the top level. Values are quoted as short
    excerpts and at most ``MAX_PROBLEMS_LISTED`` problems are listed.
    """
    problems: list[tuple[tuple[Any, ...], str]] = []
    listed: set[tuple[str, ...]] = set()  # allowed-key lists already in the message
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            owner = _model_at(loc, model or BaseModel)
            allowed = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            # Several unknown keys in one block (a block header deleted, say) list its keys once.
            keys = tuple(allowed)
            msg = (
                f"unknown key{hint}; allowed keys here: as listed above"
                if keys in listed
                else f"unknown key{hint}; allowed keys here: {', '.join(allowed)}"
            )
            listed.add(keys)
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",):
            msg = f"{msg} (got {excerpt(err['input'])})"
        if not loc and located is not None:
            better = located()
            if better:
                problems.extend(better)
                continue
        problems.append((loc, _short(msg)))
    entries: list[tuple[str, str, str]] = []
    for loc, msg in dict.fromkeys(problems):
        where, local = source.locate(loc) if source is not None else (file, loc)
        entries.append((where, _loc_to_path(local) or "(top level)", msg))
    files = {e[0] for e in entries}
    if len(entries) == 1:
        return InputError(entries[0][0], entries[0][1], entries[0][2])
    shown = entries[:MAX_PROBLEMS_LISTED]
    lines = [f"{k}: {m}" if len(files) == 1 else f"{f}: {k}: {m}" for f, k, m in shown]
    if len(entries) > len(shown):
        lines.append(f"... and {len(entries) - len(shown)} more")
    text = f"{len(entries)} problems:\n  " + "\n  ".join(lines)
    return InputError(files.pop() if len(files) == 1 else None, None, text)


def validate_scenario(
    data: dict[str, Any], file: str = "<scenario>", source: Source | None = None
) -> Scenario:
    """Validate a merged mapping into a ``Scenario`` or raise ``InputError``.

    Validation is strict (no booleans for numbers, no text for numbers or booleans, no floats for
    integers; integers are accepted for floats). ``source`` names the file of each key (see
    ``load_raw_traced``); without it every problem is reported against ``file``.
    """
    try:
        return Scenario.model_validate(data, strict=True)
    except ValidationError as exc:
        raise format_validation_error(
            exc, file, source, Scenario, lambda: _cross_problems(data)
        ) from None
    except RecursionError:
        raise InputError(file, None, "values nested too deeply") from None


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | None = None, overrides_from: str = "override"
) -> Scenario:
    """Load, merge (``extends``), override and validate a scenario file.

    ``overrides`` is a nested mapping merged last (used by sweeps, ``compare --end`` and tests);
    problems in it are reported against ``overrides_from`` (e.g. ``--end``).
    """
    data, src = load_raw_traced(path)
    if overrides:
        data, src = _merge(data, src, overrides, Source.of(overrides, overrides_from))
    return validate_scenario(data, _display(Path(path)), src)


def scenario_to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML (self-contained: roster inline, no ``extends``)."""
    from sim.yaml_out import dump_yaml  # the C emitter where available

    return dump_yaml(scenario.model_dump(mode="json"))
