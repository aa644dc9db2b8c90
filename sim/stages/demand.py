"""Demand with limits: potential adopters under ceilings, and usage that saturates."""

from __future__ import annotations

import numpy as np

from sim.scenario import Demand
from sim.stages.environment import logistic
from sim.state import BoolArray, FloatArray


def potential_adopters(
    potential_2023_m: FloatArray,
    consumer: BoolArray,
    years_from_2023: float,
    usefulness: float,
    d: Demand,
    consumer_usefulness: float | None = None,
) -> FloatArray:
    """Potential adopters by segment (millions).

    The 2023 potential, scaled (consumer segments further by ``consumer_potential_multiple``),
    grows at ``potential_growth_per_year`` up to
    ``potential_growth_cap`` times its 2023 level; consumer segments together never exceed
    ``consumer_ceiling_m`` (the internet population); usefulness (0-1) of the best available
    model unlocks it, for consumer segments ``consumer_usefulness`` where given (their own
    threshold, ``consumer_capability_premium_log10``; see ``usefulness_levels``).
    """
    pot = potential_2023_m * d.demand_scale * potential_growth(years_from_2023, d)
    if d.consumer_potential_multiple != 1.0:
        pot = np.where(consumer, pot * d.consumer_potential_multiple, pot)
    consumers = float(np.add.reduce(pot[consumer]))
    if consumers > d.consumer_ceiling_m:
        pot = np.where(consumer, pot * (d.consumer_ceiling_m / consumers), pot)
    if consumer_usefulness is None or consumer_usefulness == usefulness:
        return pot * usefulness
    return pot * np.where(consumer, consumer_usefulness, usefulness)


def potential_growth(years_from_2023: float, d: Demand) -> float:
    """Potential adopters relative to 2023 (before scaling and ceilings): growth at
    ``potential_growth_per_year``, capped at ``potential_growth_cap``."""
    return min((1 + d.potential_growth_per_year) ** years_from_2023, d.potential_growth_cap)


def usefulness(
    capability_log10: float | FloatArray, d: Demand, premium_log10: float = 0.0
) -> float | FloatArray:
    """How much of the potential a model of this capability (log10) unlocks (0-1): a logistic
    around ``useful_capability_log10`` (plus ``premium_log10``) of width
    ``usefulness_width_log10``."""
    return logistic(
        (capability_log10 - d.useful_capability_log10 - premium_log10) / d.usefulness_width_log10
    )


def usefulness_levels(capability_log10: float, d: Demand) -> tuple[float, float]:
    """Usefulness of the best available model (capability, log10) for firms' segments and, the
    same ramp ``consumer_capability_premium_log10`` later, for consumers."""
    firms = float(usefulness(capability_log10, d))
    if d.consumer_capability_premium_log10 == 0.0:
        return firms, firms
    return firms, float(usefulness(capability_log10, d, d.consumer_capability_premium_log10))


def usage_growth(years_from_2023: float, d: Demand) -> float:
    """Usage per user at a fixed price relative to 2023, saturating at ``usage_growth_cap``."""
    return min((1 + d.usage_growth_per_year) ** years_from_2023, d.usage_growth_cap)


def satiated(power: FloatArray, satiation: float) -> FloatArray:
    """Usage relative to the reference price with a satiation level.

    ``power`` is ``price ** -elasticity``; the result ``Q x / (Q - 1 + x)`` equals 1 at the
    reference price, approaches ``Q`` as the price falls to zero, and its elasticity falls from
    about ``elasticity`` toward zero as usage nears ``Q``.
    """
    return satiation * power / (satiation - 1.0 + power)
