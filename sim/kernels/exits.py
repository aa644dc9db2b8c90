"""Kernels of ``decide_exits`` (``sim.phases.exits``): who stops pre-training, who is distressed,
and the best acquisition deal among the distressed sellers.

Each kernel's reference is the numpy code in the ``ExitDecisions`` method that calls it (run when
kernels are off); the same operations in the same order, element by element. The decisions
(``stop_pretraining``, acquisitions, exits) stay with the agents and the model in Python.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import jit
from sim.kernels.finance import runway_months
from sim.kernels.npmath import maximum, minimum
from sim.vocab import QUARTER_MONTHS


@jit
def stopping_rows(
    own_log10: np.ndarray,
    floor_log10: float,
    own_trend: np.ndarray,
    floor_trend: float,
    kind: np.ndarray,
    kind_horizon: np.ndarray,
    spend_weight: np.ndarray,
    spend_total: float,
    defend_share: float,
    parent_backed: np.ndarray,
    rd_budget: np.ndarray,
    cash: np.ndarray,
    team_rd: float,
    runway_team_rd: float,
    last_funded_month: np.ndarray,
    entry_month: np.ndarray,
    pretraining: np.ndarray,
    month: int,
    grace_months: int,
    starving: np.ndarray,
) -> np.ndarray:
    """Rows of the pre-training firms that stop this month (ascending), and in ``starving`` (n,)
    whether each firm is short of money for a minimum team: ``decisions.keeps_pretraining`` on
    the spend shares (``users_spend_weight / spend_total``, zero when the total is at most 0),
    the money test and the review after the grace period of ``ExitDecisions._stop_pretraining``,
    whose numpy path is the reference."""
    n = own_log10.shape[0]
    out = np.empty(n, dtype=np.intp)
    k = 0
    for i in range(n):
        own = own_log10[i]
        above = own >= floor_log10
        closing = own_trend[i] - floor_trend
        if closing > 0:
            months = (floor_log10 - own) / closing
        else:
            months = np.inf
        share = 0.0 if spend_total <= 0 else spend_weight[i] / spend_total
        keeps = above or (months <= kind_horizon[kind[i]]) or (share >= defend_share)
        if parent_backed[i]:
            short = rd_budget[i] < team_rd
        else:
            short = maximum(cash[i], 0.0) < runway_team_rd
        starve = (
            short and (last_funded_month[i] < month - QUARTER_MONTHS) and (entry_month[i] < month)
        )
        starving[i] = starve
        review = pretraining[i] and (entry_month[i] <= month - grace_months)
        if pretraining[i] and ((review and not keeps) or starve):
            out[k] = i
            k += 1
    return out[:k]


@jit
def distressed_rows(
    cash: np.ndarray,
    net_burn: np.ndarray,
    rd_budget: np.ndarray,
    budget: np.ndarray,
    parent_backed: np.ndarray,
    distress_runway: float,
) -> np.ndarray:
    """Rows of the distressed firms that sell (ascending): no parent, and out of cash or with a
    runway below ``distress_runway`` at the burn without discretionary research
    (``ExitDecisions._sell_distressed``'s numpy path is the reference)."""
    n = cash.shape[0]
    out = np.empty(n, dtype=np.intp)
    k = 0
    for i in range(n):
        if parent_backed[i]:
            continue
        burn = net_burn[i] - maximum(rd_budget[i] - budget[i], 0.0)
        runway = runway_months(cash[i], burn)
        if cash[i] < 0 or runway < distress_runway:
            out[k] = i
            k += 1
    return out[:k]


@jit
def best_deal(
    rows: np.ndarray,
    cash: np.ndarray,
    net_burn: np.ndarray,
    pretraining: np.ndarray,
    parent_backed: np.ndarray,
    frontier_staff: np.ndarray,
    rd_budget: np.ndarray,
    operating_margin: np.ndarray,
    own_log10: np.ndarray,
    revenue: np.ndarray,
    spend_weight: np.ndarray,
    spend_total: float,
    distress_runway: float,
    integration_cost: float,
    fire_sale_share: float,
    talent_wage: float,
    talent_elasticity: float,
    monthly_cost: float,
    revenue_multiple_12: float,
    capability_multiple_12: float,
) -> tuple[int, int, float]:
    """The first seller among ``rows`` (table order) that a buyer is able to buy, the buyer
    that values it most above its cost, and the price: ``(k, buyer row, price)`` with ``k`` the
    seller's position in ``rows``, or ``(-1, -1, 0.0)`` when there is no deal. Buyers,
    prices, costs, ``decisions.acquisition_value`` and the choice as in
    ``ExitDecisions._sell_distressed``, whose numpy path is the reference (``talent_wage`` is
    talent years times the wage, the ``*_12`` multiples times 12, as the numpy path's scalar
    products)."""
    n = cash.shape[0]
    buyers = np.empty(n, dtype=np.intp)
    nb = 0
    for i in range(n):
        burn = net_burn[i]
        runway = runway_months(cash[i], burn)
        if (
            pretraining[i]
            and (parent_backed[i] or runway >= distress_runway)
            and cash[i] >= integration_cost
        ):
            buyers[nb] = i
            nb += 1
    if nb == 0:
        return -1, -1, 0.0
    shortfall = np.empty(nb)
    share = np.empty(nb)
    for j in range(nb):
        b = buyers[j]
        shortfall[j] = maximum(
            0.0, talent_elasticity * rd_budget[b] / monthly_cost - frontier_staff[b]
        )
        share[j] = 0.0 if spend_total <= 0 else spend_weight[b] / spend_total
    for k in range(rows.shape[0]):
        r = rows[k]
        price = maximum(-cash[r], 0.0) + fire_sale_share * (talent_wage * frontier_staff[r])
        cost = price + integration_cost
        margin = maximum(operating_margin[r], 0.0)
        best = -1
        best_gain = -np.inf
        for j in range(nb):
            b = buyers[j]
            if not (cash[b] >= cost and r != b):
                continue
            customers = revenue_multiple_12 * margin * (1 - share[j])
            talent = talent_wage * minimum(frontier_staff[r], shortfall[j])
            upgrade = maximum(own_log10[r] - own_log10[b], 0.0)
            value = customers + talent + capability_multiple_12 * revenue[b] * upgrade
            if value > cost:
                gain = value - cost
                if best < 0 or gain > best_gain:
                    best = b
                    best_gain = gain
        if best >= 0:
            return k, best, price
    return -1, -1, 0.0
