"""Environment stage: the hype index, the frontier-talent pool and accelerator supply."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from sim.scenario import Capital, Compute, Talent


def logistic(x: float | np.ndarray) -> float | np.ndarray:
    """The standard logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def market_growth(market_history: list[float], cap: Capital) -> float:
    """The market's growth over the last ``cap.growth_window_months`` months: its monthly size
    now less then, over its size then or ``cap.growth_materiality_m_rmb_per_month`` if larger
    (growth on a base too small to matter counts in proportion to the base that would), capped
    at ``cap.growth_hype_cap``; 0 until the window has passed or while the base is 0."""
    w = cap.growth_window_months
    if len(market_history) > w:
        then = market_history[-1 - w]
        base = max(then, cap.growth_materiality_m_rmb_per_month)
        if base > 0:
            return min((market_history[-1] - then) / base, cap.growth_hype_cap)
    return 0.0


def hype_index(
    month: int,
    chatgpt_month: int,
    market_history: list[float],
    bankruptcy_months: list[int],
    cap: Capital,
) -> float:
    """Hype index: 1 + decaying ChatGPT shock + market growth - recent failures (>= the floor).

    Growth is the change in monthly market size over ``cap.growth_window_months`` (capped at
    ``cap.growth_hype_cap``); failures are bankruptcies within ``cap.failure_memory_months``
    (``bankruptcy_months`` in ascending order, as the model appends them).
    """
    shock = 0.0
    if month >= chatgpt_month:
        shock = cap.chatgpt_shock * 0.5 ** ((month - chatgpt_month) / cap.hype_half_life_months)
    growth = market_growth(market_history, cap)
    # month - b < memory  <=>  b > month - memory: the months after a bisection of the sorted list
    failures = len(bankruptcy_months) - bisect.bisect_right(
        bankruptcy_months, month - cap.failure_memory_months
    )
    return max(
        cap.hype_floor,
        1.0 + shock + cap.growth_hype_weight * max(growth, 0.0) - cap.failure_penalty * failures,
    )


def frontier_pool_step(
    pool: float,
    employed: float,
    institutes: int,
    wage: float,
    inflow_factor: float,
    t: Talent,
) -> float:
    """Next month's frontier-talent pool (people).

    Attrition, inflow (cut by decoupling, drawn by the wage relative to 2021), institutes' training
    and upskilling through high-level projects (per employed researcher).
    """
    return pool + (
        -t.frontier_attrition_per_month * pool
        + t.frontier_inflow_people_per_month
        * inflow_factor
        * (wage / t.frontier_wage_2021_m_rmb_per_year) ** t.inflow_wage_elasticity
        + t.institute_training_people_per_month * institutes
        + t.upskilling_per_frontier_researcher_month * employed
    )


@dataclass(frozen=True)
class ChipSupply:
    """Installed accelerators after a month (H100e) and the month's cost-based rental price."""

    imported_installed: float
    domestic_installed: float
    domestic_efficiency: float
    price_floor: float


def chip_supply_step(
    month: int,
    imported_installed: float,
    domestic_installed: float,
    imported_supply_factor: float,
    domestic_midpoint_month: int,
    c: Compute,
) -> ChipSupply:
    """Retire accelerators, then add imported (cut by export controls) and domestic supply.

    Domestic output follows a logistic ramp in chips a month, converted to H100e at the domestic
    efficiency of the month; the cost-based price declines at a constant yearly rate.
    """
    years = month / 12.0
    retire = 1.0 / c.chip_lifetime_months
    imported_new = (
        c.imported_supply_2021_h100e_per_month
        * (1 + c.imported_supply_growth_per_year) ** years
        * imported_supply_factor
    )
    chips = c.domestic_supply_cap_chips_per_month * logistic(
        c.domestic_supply_steepness_per_year * (month - domestic_midpoint_month) / 12.0
    )
    eff = min(1.0, c.domestic_efficiency_2021 + c.domestic_efficiency_gain_per_year * years)
    return ChipSupply(
        imported_installed=imported_installed * (1 - retire) + imported_new,
        domestic_installed=domestic_installed * (1 - retire) + float(chips) * eff,
        domestic_efficiency=eff,
        price_floor=c.price_floor_2021_m_rmb_per_h100e_month
        * (1 - c.price_floor_decline_per_year) ** years,
    )
