"""Kernels of the product market: ``ProductMarket.serve_users`` and ``ProductMarket.set_prices``.

The numpy code in the phase method (``sim.phases.product``, with ``sim.markets.users`` and
``sim.stages.demand``) is the reference; the kernels do the same operations in the same order,
and the results are bit for bit the same:

* sums that numpy takes with ``np.add.reduce`` are taken in numpy's order (``npmath.pairwise_sum``
  along a contiguous row, a plain running sum down a column);
* ``exp``, ``log`` and ``pow`` stay with numpy between the kernels: numpy's SIMD versions differ
  from the C library's (which ``math.exp`` in compiled code calls) in the last place for a few
  per cent of arguments, and columns computed by cancellation downstream turn that into visible
  noise (``sim.kernels.npmath``, written later for the input markets, calls numpy's own routines
  from compiled code and could fold these calls into the kernels);
* matrix products stay with numpy (BLAS's order of summation, with fused multiply-adds).

So a stage runs as a few kernels with numpy calls between them, still far fewer calls than its
numpy path.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import jit
from sim.kernels.finance import runway_months
from sim.kernels.npmath import maximum, minimum, pairwise_sum
from sim.state import Account, Luck

_TASTE = int(Luck.TASTE)  # the taste row of the firm table's luck
_REVENUE = int(Account.REVENUE)  # the revenue column of the firm table's flows


@jit
def serve_users_utilities(
    potential_2023,
    consumer,
    growth,
    demand_scale,
    consumer_multiple,
    consumer_ceiling,
    usefulness,
    consumer_usefulness,
    p_innovation,
    seg_innovation,
    q_imitation,
    seg_imitation,
    adopters,
    potential,
    new,
    outside_users,
    orphans,
    month,
    entry_month,
    luck,
    taste,
    taste_shock_sd,
    taste_persistence,
    capability,
    best,
    log_price,
    served_share,
    ecosystem,
    fit,
    approved,
    capability_weight,
    price_sensitivity,
    rationing_penalty,
    ecosystem_weight,
    seg_eco_weight,
    outside_u,
    utility,
    outside_rel,
):
    """``serve_users`` up to the logit's exponentials: potential adopters
    (``potential_adopters``), the Bass step (``bass_new_adopters``), taste shocks, and the
    utilities of the providers and of the outside option less the segment's top utility
    (``logit_shares`` before ``exp``).

    Writes ``adopters``, ``potential``, ``new`` (new adopters), ``taste``, ``utility`` (n, S)
    and ``outside_rel`` (S,). With no firms, new adopters and orphans join the outside option
    (``outside_users``; ``orphans`` zeroed) and nothing else is written. The numpy path of
    ``ProductMarket.serve_users`` is the reference.
    """
    n_seg = potential_2023.shape[0]
    n = utility.shape[0]
    # Potential adopters by segment (sim.stages.demand.potential_adopters).
    for s in range(n_seg):
        potential[s] = potential_2023[s] * demand_scale * growth
    if consumer_multiple != 1.0:
        for s in range(n_seg):
            if consumer[s]:
                potential[s] = potential[s] * consumer_multiple
    picked = np.empty(n_seg)
    k = 0
    for s in range(n_seg):
        if consumer[s]:
            picked[k] = potential[s]
            k += 1
    consumers = pairwise_sum(picked, 0, k)
    if consumers > consumer_ceiling:
        ratio = consumer_ceiling / consumers
        for s in range(n_seg):
            if consumer[s]:
                potential[s] = potential[s] * ratio
    for s in range(n_seg):
        potential[s] = potential[s] * (consumer_usefulness if consumer[s] else usefulness)

    # Bass step (sim.markets.users.bass_new_adopters).
    for s in range(n_seg):
        a = adopters[s]
        m = potential[s]
        frac = a / m if m > 0 else 0.0
        rate = p_innovation * seg_innovation[s] + q_imitation * seg_imitation[s] * frac
        rate = minimum(maximum(rate, 0.0), 1.0)
        new[s] = maximum(rate * (m - a), 0.0)
        adopters[s] = a + new[s]

    if n == 0:
        for s in range(n_seg):
            outside_users[s] = outside_users[s] + new[s] + orphans[s]
            orphans[s] = 0.0
        return

    # Taste shocks and each firm's own utility.
    firm_u = np.empty(n)
    for j in range(n):
        slot = (month - entry_month[j]) % luck.shape[2]
        taste[j] = taste[j] * taste_persistence
        taste[j] += taste_shock_sd * luck[j, _TASTE, slot]
        firm_u[j] = (
            capability_weight * (capability[j] - best)
            - price_sensitivity * log_price[j]
            + taste[j]
            - rationing_penalty * (1 - served_share[j])
        )
    # Utilities by segment less the segment's top (awaiting approval: no consumer segments).
    # Row by row (the arrays are C-ordered); each segment's top still runs over firms in order.
    top = np.empty(n_seg)
    top.fill(-np.inf)
    for j in range(n):
        for s in range(n_seg):
            u = ecosystem_weight * ecosystem[j] * seg_eco_weight[s]
            u += firm_u[j]
            u += fit[j, s]
            if consumer[s] and not approved[j]:
                u = -np.inf
            utility[j, s] = u
            top[s] = maximum(top[s], u)
    for s in range(n_seg):
        top[s] = maximum(top[s], outside_u)
        outside_rel[s] = outside_u - top[s]
    for j in range(n):
        for s in range(n_seg):
            utility[j, s] = utility[j, s] - top[s]


@jit
def serve_users_reallocate(
    expu,
    exp_outside,
    consumer,
    approved,
    served_share,
    ecosystem,
    seg_churn_eco_neg,
    seg_churn,
    rationing_churn,
    outside_churn,
    new,
    outside_users,
    orphans,
    users,
    users_total,
    layer_spend,
    usage_growth,
    group_of_segment,
    weights,
    capability,
    useful_capability,
    usefulness_width,
    neg_x,
):
    """``serve_users`` from the logit's exponentials to the users' totals: the logit shares
    (``logit_shares``), churn and the reallocation of users (``reallocate_users``), and the
    weights of ``spend_by_group`` for the matrix product that follows, and ``-x`` of each model's
    usefulness logistic (``sim.stages.demand.usefulness``) for numpy's ``exp``.

    ``expu`` (n, S) and ``exp_outside`` (S,) hold numpy's ``exp`` of ``serve_users_utilities``'s
    outputs. Updates ``users``, ``users_total``, ``outside_users`` and ``orphans`` (zeroed) and
    writes ``weights`` (S, G) and ``neg_x`` (n,). The numpy path of
    ``ProductMarket.serve_users`` is the reference.
    """
    n, n_seg = users.shape
    churn_firm = np.empty(n)
    for j in range(n):
        churn_firm[j] = rationing_churn * (1 - served_share[j])
    # Row by row (the arrays are C-ordered), each segment's sums still running over firms in
    # order: the first pass leaves the stayers in ``users``, the second adds each firm's share of
    # the segment's pool (the numpy path's two steps, so the same roundings).
    denom = np.zeros(n_seg)
    total_movers = np.zeros(n_seg)
    for j in range(n):
        for s in range(n_seg):
            denom[s] += expu[j, s]
            c = ecosystem[j] * seg_churn_eco_neg[s]
            c += seg_churn[s]
            c += churn_firm[j]
            c = minimum(c, 1.0)
            if consumer[s] and not approved[j]:
                c = 1.0  # users of a provider that may not serve them all re-choose
            mv = users[j, s] * c
            total_movers[s] += mv
            users[j, s] = users[j, s] - mv
    pool = np.empty(n_seg)
    for s in range(n_seg):
        denom[s] = denom[s] + exp_outside[s]
        out_movers = outside_users[s] * outside_churn
        pool[s] = total_movers[s] + out_movers + new[s] + orphans[s]
        outside_users[s] = outside_users[s] - out_movers + pool[s] * (exp_outside[s] / denom[s])
        orphans[s] = 0.0
    for j in range(n):
        for s in range(n_seg):
            users[j, s] = users[j, s] + expu[j, s] / denom[s] * pool[s]
    for j in range(n):
        users_total[j] = pairwise_sum(users[j], 0, n_seg)
    weights[:, :] = 0.0
    for s in range(n_seg):
        weights[s, group_of_segment[s]] = layer_spend[s] * usage_growth
    for j in range(n):
        neg_x[j] = -((capability[j] - useful_capability - 0.0) / usefulness_width)


@jit
def serve_users_usage(
    exp_neg_x,
    usefulness_best,
    price,
    by_group,
    power,
    satiation,
    serve_h100e,
    intensity,
    demanded_out,
    served_out,
    share,
    flows,
):
    """``serve_users`` from usage on: each firm's usage demanded (its model's usefulness relative
    to the best times ``usage_by_firm`` with satiation), served within its capacity, the served
    share and revenue (added to the revenue column of ``flows``).

    ``exp_neg_x`` holds numpy's ``exp(-x)`` of each model's usefulness logit, ``by_group`` the
    matrix product of ``spend_by_group``, ``power`` numpy's ``price ** -elasticity`` (n, G). The
    numpy path of ``ProductMarket.serve_users`` is the reference.
    """
    n, n_groups = by_group.shape
    terms = np.empty(n_groups)
    for j in range(n):
        own_use = (1.0 / (1.0 + exp_neg_x[j])) / usefulness_best
        for g in range(n_groups):
            p = power[j, g]
            terms[g] = by_group[j, g] * (satiation * p / (satiation - 1.0 + p))
        demanded = own_use * pairwise_sum(terms, 0, n_groups)
        served = minimum(demanded, serve_h100e[j] / intensity[j])
        demanded_out[j] = demanded
        served_out[j] = served
        share[j] = served / demanded if demanded > 0 else 1.0
        flows[j, _REVENUE] += served * price[j]


@jit
def set_prices_targets(
    intensity,
    compute_price,
    adopters,
    seg_spend,
    users_spend_weight,
    price,
    cash,
    net_burn,
    parent_backed,
    price_sensitivity,
    max_markup,
    target_share,
    min_runway,
    undercut,
    discount,
    marginal_cost,
    target,
    base,
    ratio,
    priced,
):
    """``set_prices`` up to the partial adjustment's logarithms: marginal cost, spend shares
    (``spend_shares``), the logit-Bertrand markup (``bertrand_markup``), runway
    (``runway_months``), who prices for penetration (``prices_for_penetration``) and each firm's
    target price.

    Writes ``marginal_cost``, ``target``, ``base`` (last price, 1 for an entrant), ``ratio``
    (``target / base``) and ``priced`` (not an entrant); an entrant's price is its target,
    written to ``price`` here; the others' is ``exp(log(base) + k * log(ratio))``, left to
    numpy. The numpy path of ``ProductMarket.set_prices`` is the reference.
    """
    n = price.shape[0]
    n_seg = adopters.shape[0]
    weighted = np.empty(n_seg)
    for s in range(n_seg):
        weighted[s] = adopters[s] * seg_spend[s]
    total = pairwise_sum(weighted, 0, n_seg)
    shares = np.empty(n)
    offers = np.empty(n)
    contender_share = 0.5 * target_share
    cheapest = np.inf
    second = np.inf
    for j in range(n):
        shares[j] = 0.0 if total <= 0 else users_spend_weight[j] / total
        priced[j] = not (price[j] != price[j])
        offer = price[j] if priced[j] else np.inf
        if not shares[j] >= contender_share:
            offer = np.inf
        offers[j] = offer
        if offer < cheapest:
            second = cheapest
            cheapest = offer
        elif offer < second:
            second = offer
    if n <= 1:
        second = np.inf
    for j in range(n):
        mc = intensity[j] * compute_price
        marginal_cost[j] = mc
        share = shares[j]
        s = minimum(maximum(share, 0.0), 1.0)
        numer = price_sensitivity * (1.0 - s)
        denom = numer - 1.0
        markup = numer / denom if denom >= numer / max_markup else max_markup
        runway = runway_months(cash[j], net_burn[j])
        can_fund = parent_backed[j] or runway >= min_runway
        own = price[j] if priced[j] else np.inf
        contender = share >= contender_share
        rival = second if (contender and own <= cheapest) else cheapest
        threatened = rival < (1 - undercut) * mc
        if share < target_share and can_fund and threatened:
            target[j] = mc * (1 - discount)
        else:
            target[j] = mc * markup
        base[j] = price[j] if priced[j] else 1.0
        ratio[j] = target[j] / base[j]
    for j in range(n):
        if not priced[j]:
            price[j] = target[j]
