"""Frontier-talent market: firms bid for a scarce pool; the wage moves with excess demand.

Basic engineers are plentiful (the report: internet growth, graduates, retraining) and hired at a
fixed wage in proportion to frontier staff, so only the frontier market clears here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


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
    available = max(pool - kept.sum(), 0.0)
    total_short = shortfall.sum()
    fill = 1.0 if total_short <= available else available / total_short
    hires = shortfall * fill
    return kept + hires, hires, releases
