"""Training stage: capability from compute and frontier talent."""

from __future__ import annotations

import numpy as np

from sim.scenario import Technology
from sim.state import FloatArray


def train(
    month: int,
    compute_h100e: FloatArray,
    frontier_staff: FloatArray,
    efficiency: FloatArray,
    effective_compute: FloatArray,
    users_total_m: FloatArray,
    open_floor_log10: float,
    tech: Technology,
    learning: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One month of research.

    Effective output is Cobb-Douglas in compute and researchers (researchers counted in H100e at
    ``tech.researcher_h100e_equivalent``), times shared algorithmic progress and the firm's
    efficiency; a share reaches the flagship. The stock depreciates; users add a data bonus;
    building on the best open weights adds the firm's own training to the open base. Firms marked
    in ``learning`` (those that train this month) also close ``tech.spillover_per_month`` of the
    gap between their stock and the domestic leader's.

    Returns:
        (effective_compute, own_capability_log10, capability_log10), each (n,).
    """
    algo = 10.0 ** (tech.algorithmic_progress_log10_per_year * (month / 12.0))
    theta = tech.talent_output_elasticity
    staff = frontier_staff * tech.researcher_h100e_equivalent
    effective = (
        tech.flagship_share_of_compute
        * algo
        * efficiency
        * compute_h100e ** (1 - theta)
        * staff**theta
    )
    stock = effective_compute * (1 - tech.capability_obsolescence_per_month) + effective
    if learning is not None and stock.size:
        # Spillovers: a firm that trains closes a share of the gap to the domestic leader's
        # stock (papers, open research, people moving), so leaders cannot run away for ever.
        leader = np.maximum.reduce(stock)
        stock = stock + tech.spillover_per_month * learning * np.maximum(leader - stock, 0.0)
    data_bonus = tech.data_feedback_log10_per_decade_users * np.log10(
        1.0 + users_total_m / tech.data_reference_users_m
    )
    floor = open_floor_log10 - tech.open_weight_adoption_gap_log10
    own = np.log10(np.maximum(stock, 1e-12)) + data_bonus
    capability = np.log10(10.0**floor + 10.0**own)
    return stock, own, capability
