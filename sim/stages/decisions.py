"""Firms' decision rules as pure functions of their state (no dice).

Each returns, for every firm at once, what a firm in that state chooses: whether to keep
pre-training its own base model, whether to price for penetration, what a buyer would pay for a
distressed rival; and, for the market, how attractive entry is. The agents and the model apply
them; tests check each against hand-computed cases.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from sim.state import BoolArray, FloatArray

#: Largest log-growth over a horizon ``expected_spend_multiple`` extrapolates (a numerical guard:
#: half the largest float's log, so the multiple stays finite, about 1e152 at most).
_MAX_LOG_GROWTH = math.log(sys.float_info.max) / 2


def keeps_pretraining(
    own_log10: FloatArray,
    floor_log10: float,
    own_trend: FloatArray,
    floor_trend: float,
    horizon_months: FloatArray,
    user_share: FloatArray,
    defend_share: float,
) -> BoolArray:
    """Whether each firm keeps pre-training its own base model.

    A model at or above the free open-weight floor earns its keep. Below it, a firm continues only
    if, at its recent rate of progress relative to the floor's (log10 a month), it would pass the
    floor within its horizon, or if it has a user base of its own to defend (spending-weighted
    share at least ``defend_share``). Otherwise paying to keep up buys nothing users cannot get
    for free, and it stops.
    """
    above = own_log10 >= floor_log10
    closing = own_trend - floor_trend
    gaining = closing > 0
    safe = np.where(gaining, closing, 1.0)
    months = np.where(gaining, (floor_log10 - own_log10) / safe, np.inf)
    return above | (months <= horizon_months) | (user_share >= defend_share)


def prices_for_penetration(
    user_share: FloatArray,
    runway_months: FloatArray,
    parent_backed: BoolArray,
    price: FloatArray,
    marginal_cost: FloatArray,
    target_share: float,
    min_runway_months: float,
    undercut: float,
) -> BoolArray:
    """Whether each firm prices below cost to win users.

    It does when it is below its target share, can fund the losses (a parent, or cash for at
    least ``min_runway_months``), and a rival with a real user base (at least half the target
    share) charges less than ``1 - undercut`` of the firm's own marginal cost: a price war breaks
    out when a rival with lower costs (an efficient entrant, cheaper compute) threatens, not as a
    standing policy among equals.
    """
    can_fund = parent_backed | (runway_months >= min_runway_months)
    contender = user_share >= 0.5 * target_share
    offers = np.where(contender, price, np.inf)
    cheapest = np.minimum.reduce(offers, initial=np.inf)
    # A firm does not count itself as the threat: use the cheapest other contender.
    second = np.partition(offers, 1)[1] if price.size > 1 else np.inf
    rival = np.where(contender & (price <= cheapest), second, cheapest)
    threatened = rival < (1 - undercut) * marginal_cost
    return (user_share < target_share) & can_fund & threatened


def keep_up_cost_m_rmb_per_month(
    target_log10: float,
    depreciation_per_month: float,
    productivity: float,
    talent_elasticity: float,
    compute_price_m_rmb: float,
    researcher_cost_m_rmb_per_month: float,
    researcher_h100e: float,
) -> float:
    """Monthly spending that holds a model at ``target_log10`` against depreciation (M RMB).

    With output ``E = productivity * C ** (1 - t) * (k L) ** t`` (``productivity`` = flagship share
    x algorithmic progress x efficiency) and cost-minimising shares (``t`` on staff), holding a
    stock ``K = 10 ** target`` needs ``E = depreciation * K``, which costs
    ``E / productivity * p ** (1 - t) * (w / k) ** t / ((1 - t) ** (1 - t) * t ** t)``.
    This is the escalating fixed cost of staying at the frontier (Sutton's endogenous sunk cost).
    """
    t = talent_elasticity
    needed = depreciation_per_month * 10.0**target_log10
    unit = (
        compute_price_m_rmb ** (1 - t)
        * (researcher_cost_m_rmb_per_month / researcher_h100e) ** t
        / ((1 - t) ** (1 - t) * t**t)
    )
    return needed / productivity * unit


def expected_spend_multiple(
    growth_over_window: float, window_months: int, weight: float, horizon_months: float
) -> float:
    """Spending an entrant expects over its horizon, as a multiple of today's (>= 1).

    It extrapolates ``weight`` times the market's growth over the last ``window_months``
    (``growth_over_window``: ``sim.stages.environment.market_growth``, the hype's measure), as a
    yearly rate *g*, and averages the
    spending path (1 + g)^t over t in [0, T] years: ((1 + g)^T - 1) / (T ln(1 + g)) = expm1(x) / x
    with x = T ln(1 + g). Exactly 1 with no weight or no growth (today's spending throughout).
    Computed in logs, and x is held to at most ``_MAX_LOG_GROWTH``, so the schema's extreme values
    neither overflow nor divide by zero; entry attractiveness is capped at 1 long before that.
    """
    g_window = weight * max(growth_over_window, 0.0)
    if g_window <= 0.0:
        return 1.0
    x = horizon_months / window_months * math.log1p(g_window)  # T ln(1 + g), T in years
    if x <= 0.0:
        return 1.0
    x = min(x, _MAX_LOG_GROWTH)
    return max(float(math.expm1(x) / x), 1.0)


def entry_attractiveness(
    potential_spend_m_rmb_per_month: float,
    n_developers: int,
    margin_share: float,
    horizon_months: float,
    catch_up_cost_m_rmb: float,
    keep_up_cost_m_rmb_per_month: float,
) -> float:
    """Expected payoff of entering over its cost, capped at 1 (0 = entry does not pay).

    Payoff: a newcomer's equal share of the potential market's spending, kept as margin, over the
    horizon. Cost: building a model up to the open-weight floor (sunk), then keeping it there for
    the horizon.
    """
    payoff = potential_spend_m_rmb_per_month * margin_share / (n_developers + 1) * horizon_months
    cost = catch_up_cost_m_rmb + keep_up_cost_m_rmb_per_month * horizon_months
    if cost <= 0:
        return 1.0
    return float(min(payoff / cost, 1.0))


def acquisition_value(
    target_margin_m_rmb: float | FloatArray,
    buyer_user_share: FloatArray,
    target_staff: float | FloatArray,
    target_own_log10: float | FloatArray,
    buyer_own_log10: FloatArray,
    buyer_revenue_m_rmb: FloatArray,
    buyer_staff_shortfall: FloatArray,
    wage_m_rmb_per_year: float,
    revenue_multiple: float,
    talent_years: float,
    capability_multiple: float,
) -> FloatArray:
    """What each candidate buyer would pay at most for one target (M RMB).

    Customers: a multiple of the target's annual operating margin, for the part the buyer would not
    win anyway when the target's users re-choose (1 - its user share). Researchers: years of the
    going wage, for as many as the buyer is short of. A better model: a multiple of the buyer's own
    annual revenue per log10 of capability gained.

    Targets given as a column (k, 1) give a (k, buyers) matrix: every target against every buyer.
    """
    margin = np.maximum(target_margin_m_rmb, 0.0)
    customers = revenue_multiple * 12 * margin * (1 - buyer_user_share)
    talent = talent_years * wage_m_rmb_per_year * np.minimum(target_staff, buyer_staff_shortfall)
    upgrade = np.maximum(target_own_log10 - buyer_own_log10, 0.0)
    return customers + talent + capability_multiple * 12 * buyer_revenue_m_rmb * upgrade
