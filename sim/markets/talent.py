"""Frontier-talent market: firms bid for a scarce pool; the wage moves with excess demand.

Basic engineers are plentiful (the report: internet growth, graduates, retraining) and hired at a
fixed wage in proportion to frontier staff, so only the frontier market clears here.
"""

from __future__ import annotations

import numpy as np

from sim.state import FloatArray


def update_wage(
    wage: float, total_desired: float, pool: float, adjustment: float, floor: float
) -> float:
    """Tatonnement step for the frontier wage (any currency unit per year).

    ``wage * (total_desired / pool) ** adjustment``, never below ``floor`` (the reservation
    wage: what a frontier researcher earns elsewhere). Demand equal to the pool leaves it unchanged.
    """
    if pool <= 0:
        return wage
    ratio = max(total_desired, 1e-9) / pool
    return max(floor, wage * ratio**adjustment)


def allocate_staff(
    held: FloatArray, desired: FloatArray, pool: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Move firms' frontier staff towards their desired head-counts within a fixed pool.

    Args:
        held: (n,) researchers each firm employs now (people, >= 0).
        desired: (n,) researchers each firm wants at the current wage (people, >= 0).
        pool: total frontier researchers in the economy (employed + unemployed), >= sum(held).

    Returns:
        (new_held, hires, releases), each (n,). Firms above their target release the excess at
        once; firms below it share the unemployed pool in proportion to their shortfalls.
        Head-count is conserved: ``sum(new_held) <= pool`` and
        ``new_held == held - releases + hires``.
    """
    held = np.asarray(held, dtype=float)
    desired = np.asarray(desired, dtype=float)
    releases = np.maximum(held - desired, 0.0)
    kept = held - releases
    shortfall = np.maximum(desired - held, 0.0)
    available = max(pool - np.add.reduce(kept), 0.0)
    total_short = np.add.reduce(shortfall)
    fill = 1.0 if total_short <= available else available / total_short
    hires = shortfall * fill
    return kept + hires, hires, releases


def clearing_wage(
    staff_budget_m_rmb: float, pool: float, basic_cost_m_rmb_per_year: float, floor: float
) -> float:
    """Frontier wage (M RMB a year) at which firms' staff budgets hire exactly the pool.

    Firms spend a fixed share of their R&D budgets on staff (Cobb-Douglas cost shares), so demand
    for researchers is ``12 * budget / (wage + basic cost)``; setting it equal to ``pool`` gives
    ``wage = 12 * budget / pool - basic cost``, never below ``floor`` (the reservation wage).

    Args:
        staff_budget_m_rmb: all firms' staff budgets this month, M RMB.
        pool: frontier researchers in the economy (> 0).
        basic_cost_m_rmb_per_year: cost of the basic engineers each researcher needs, M RMB/year.
        floor: reservation wage, M RMB/year.
    """
    if pool <= 0:
        return floor
    return max(floor, 12.0 * staff_budget_m_rmb / pool - basic_cost_m_rmb_per_year)


def adjust_wage(wage: float, target: float, adjustment: float) -> float:
    """Move the wage a share ``adjustment`` of the log gap toward ``target`` (both > 0)."""
    return float(np.exp(np.log(wage) + adjustment * (np.log(target) - np.log(wage))))
