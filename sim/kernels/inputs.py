"""Kernels of the input markets (``sim.phases.inputs``): compute, training and talent.

Each kernel runs one stage's array pipeline in a single compiled call; its reference is the numpy
path of the phase method (``InputMarkets.clear_compute``, ``train_models``, ``clear_talent``)
and the functions it calls in ``sim.markets.compute``, ``sim.stages.training`` and
``sim.markets.talent``, whose operations the kernels repeat element by element, in the same order.

Sums that feed results are numpy's pairwise summation (``npmath.add_reduce``), so they agree
with ``np.add.reduce`` to the bit; elementwise maxima and minima follow ``np.maximum`` and
``np.minimum`` (a NaN propagates), scalar ones Python's ``max`` and ``min``.
"""

from __future__ import annotations

import math

import numpy as np

from sim.kernels import jit
from sim.kernels.npmath import (
    add_reduce,
    exp,
    log,
    log10,
    maximum,
    minimum,
    power,
    py_max,
    py_min,
)
from sim.state import Account
from sim.vocab import ONE_RMB_M

# Accounts as plain ints: compile-time constants in the kernels.
_STAFF_COST = int(Account.STAFF_COST)
_INFERENCE_COST = int(Account.INFERENCE_COST)
_COMPUTE_COST = int(Account.COMPUTE_COST)
_SUBSIDY_IN = int(Account.SUBSIDY_IN)
_PARENT = int(Account.PARENT)
_CHIP_PURCHASE = int(Account.CHIP_PURCHASE)


@jit
def compute_plan(
    demand_usage,
    intensity,
    headroom,
    rd_budget,
    flows,
    price_guess,
    own_chips_share,
    own_h100e,
    cash_m_rmb,
    chip_price,
    tightening,
    stockpile_multiple,
    parent_backed,
    parent_loss_cover_multiple,
    budget_per_month,
    new_supply,
    pretraining,
    kind,
    firm_id,
    rates,
    caps,
    ledger_rows,
    ledger,
    eligible,
    budgets_left,
    serve_need,
    contracts,
    paid,
    totals,
    ev_firm,
    ev_prog,
    ev_amount,
):
    """The first half of ``InputMarkets.clear_compute``: plans, chip purchases and rental bids
    with compute vouchers (its numpy path is the reference, with ``ration_supply``,
    ``voucher_contracts`` and ``ration_subsidy``).

    Plans serving (``serve_need``, written) and training capacity; buys chips toward the owned
    share (rationing the new supply, a parent covering what cash does not), updating ``cash_m_rmb``,
    ``own_h100e`` and the PARENT and CHIP_PURCHASE flows; writes each firm's rental bid into
    ``contracts``. With voucher programmes (rows of ``rates``, ``caps`` a year, ``ledger_rows``
    into the government's ``ledger`` of payments by (row, firm id), ``eligible`` (programmes,
    kinds), ``budgets_left``) it writes what each pays each firm into ``paid`` (programmes,
    firms), books it in the ledger, each programme's total in ``totals``, as SUBSIDY_IN and into
    ``contracts``, and lists the payments of at least 1e-6 firm by firm (``ev_firm``,
    ``ev_prog``, ``ev_amount``).

    Returns:
        (chips bought, sum of the serving plans, number of payment events, or -1 if a voucher
        rate lies outside [0, 1) and nothing was changed).
    """
    n = demand_usage.shape[0]
    n_prog = rates.shape[0]
    for p in range(n_prog):
        if not (rates[p] >= 0.0 and rates[p] < 1):
            return 0.0, 0.0, -1
    headroom1 = 1 + headroom
    train_money = np.empty(n)
    plan = np.empty(n)
    wanted = np.empty(n)
    parent_capex = np.empty(n)
    cash = np.empty(n)
    for i in range(n):
        serve_need[i] = demand_usage[i] * intensity[i] * headroom1
        train_money[i] = maximum(rd_budget[i] - flows[i, _STAFF_COST], 0.0)
        plan[i] = serve_need[i] + train_money[i] / price_guess
        w = maximum(own_chips_share[i] * plan[i] - own_h100e[i], 0.0)
        if tightening:
            w *= 1 + stockpile_multiple
        parent_capex[i] = (
            parent_loss_cover_multiple * budget_per_month[i] if parent_backed[i] else 0.0
        )
        cash[i] = maximum(cash_m_rmb[i], 0.0)
        funds = cash[i] + parent_capex[i]
        # ration_supply's clip at zero
        wanted[i] = maximum(minimum(w, funds / chip_price), 0.0)
    total = add_reduce(wanted)
    if not (total <= new_supply or total == 0):
        share = py_max(new_supply, 0.0) / total
        for i in range(n):
            wanted[i] = wanted[i] * share
    bought = wanted
    for i in range(n):
        spend = bought[i] * chip_price
        from_parent = minimum(maximum(spend - cash[i], 0.0), parent_capex[i])
        flows[i, _PARENT] += from_parent
        cash_m_rmb[i] += from_parent - spend
        own_h100e[i] += bought[i]
        flows[i, _CHIP_PURCHASE] += spend
    bought_sum = add_reduce(bought)

    # Rentals; vouchers pay a share of the rented training compute of firms that pre-train.
    train_rent = np.empty(n)
    for i in range(n):
        money = maximum(plan[i] - own_h100e[i], 0.0) * price_guess
        contracts[i] = money
        train_rent[i] = minimum(money, train_money[i]) * (1.0 if pretraining[i] else 0.0)
    for p in range(n_prog):
        one_less = 1.0 - rates[p]
        row = paid[p]
        for i in range(n):
            # the cap left (Government.caps_left), zero where the programme does not fund the kind
            left = maximum(caps[p] - ledger[ledger_rows[p], firm_id[i]], 0.0)
            cap = left if eligible[p, kind[i]] else 0.0
            b = train_rent[i]
            claim = minimum(b / one_less - b, maximum(cap, 0.0))
            row[i] = maximum(claim, 0.0)
        total = add_reduce(row)
        budget = py_max(budgets_left[p], 0.0)
        if total > budget and total > 0:
            scale = budget / total
            for i in range(n):
                row[i] *= scale
    for p in range(n_prog):  # Government.pay's ledger and totals
        r = ledger_rows[p]
        for i in range(n):
            ledger[r, firm_id[i]] += paid[p, i]
        totals[p] = add_reduce(paid[p])
    for p in range(n_prog):
        for i in range(n):
            flows[i, _SUBSIDY_IN] += paid[p, i]
    k = 0
    for i in range(n):
        for p in range(n_prog):
            if paid[p, i] > ONE_RMB_M:  # at least one RMB: rationing dust is no event
                ev_firm[k] = firm_id[i]
                ev_prog[k] = p
                ev_amount[k] = paid[p, i]
                k += 1
    for p in range(n_prog):
        for i in range(n):
            contracts[i] += paid[p, i]
    return bought_sum, add_reduce(serve_need), k


@jit
def compute_clear(
    contracts,
    pool,
    price_floor,
    outside,
    previous_price,
    adjustment,
    public_capacity,
    public_discount,
    public_kinds,
    kind,
    own_h100e,
    serve_need,
    rented,
    capacity_h100e,
    serve_h100e,
    compute_h100e,
    flows,
):
    """The second half of ``InputMarkets.clear_compute``: the rental market's clearing
    (``sim.markets.compute.clear_compute``), the public-compute rebate and the split of
    capacity between serving and training (``serving_split``), the numpy path its reference.

    Writes ``rented``, ``capacity_h100e``, ``serve_h100e``, ``compute_h100e`` and the
    SUBSIDY_IN, INFERENCE_COST and COMPUTE_COST flows.

    Returns:
        (price, rebates paid, inference spending), M RMB.
    """
    n = contracts.shape[0]
    money = add_reduce(contracts) + py_max(outside, 0.0)
    if pool <= 0:
        price = previous_price if previous_price != 0.0 else price_floor
        for i in range(n):
            rented[i] = 0.0
    else:
        target = py_max(price_floor, money / pool)
        if adjustment >= 1.0:
            price = target
        else:
            price = py_max(price_floor, previous_price * (target / previous_price) ** adjustment)
        wanted = money / price
        rationing = py_min(1.0, pool / wanted) if wanted > 0 else 1.0
        for i in range(n):
            rented[i] = contracts[i] / price * rationing
    rebate_sum = 0.0
    if public_capacity > 0 and public_discount > 0:
        demand = np.empty(n)
        for i in range(n):
            demand[i] = rented[i] if public_kinds[kind[i]] else 0.0
        share = py_min(1.0, public_capacity / py_max(add_reduce(demand), 1e-9))
        for i in range(n):
            demand[i] = demand[i] * share * price * public_discount  # the rebate
            flows[i, _SUBSIDY_IN] += demand[i]
        rebate_sum = add_reduce(demand)
    serve_cost = np.empty(n)
    for i in range(n):
        capacity_h100e[i] = own_h100e[i] + rented[i]
        serve = minimum(capacity_h100e[i], serve_need[i])
        serve_h100e[i] = serve
        compute_h100e[i] = capacity_h100e[i] - serve
        serve_rented = maximum(serve - own_h100e[i], 0.0)
        serve_cost[i] = serve_rented * price
        flows[i, _INFERENCE_COST] += serve_cost[i]
        flows[i, _COMPUTE_COST] += maximum(rented[i] - serve_rented, 0.0) * price
    return price, rebate_sum, add_reduce(serve_cost)


# -- train_models ----------------------------------------------------------------------------------


@jit
def train_models(
    month,
    slot,
    pretraining,
    frontier_staff,
    min_team,
    compute_h100e,
    efficiency,
    effective_compute,
    own_capability_log10,
    capability_log10,
    users_total_m,
    own_trend,
    train_window,
    open_source,
    algorithmic_progress,
    flagship_share,
    theta,
    researcher_h100e,
    obsolescence,
    spillover,
    data_feedback,
    data_reference_users,
    open_floor_log10,
    adoption_gap,
    release_gap,
    trend_weight,
):
    """``InputMarkets.train_models`` up to the open-weight release (its numpy path and
    ``sim.stages.training.train`` are the reference): firms that pre-train with a team of at
    least ``min_team`` turn compute and researchers into effective compute (Cobb-Douglas), stocks
    depreciate and close part of the gap to the leader, users add their data bonus and the open
    weights a floor.

    Updates ``effective_compute``, ``own_capability_log10``, ``capability_log10``, ``own_trend``
    and the ``train_window`` column ``slot``.

    Returns:
        the best open release (capability less ``release_gap`` of open pre-trainers, at least
        0.0 unless a NaN propagates), log10.
    """
    n = pretraining.shape[0]
    algo = 10.0 ** (algorithmic_progress * (month / 12.0))  # Python floats: libm's pow
    share_algo = flagship_share * algo
    one_less_theta = 1 - theta
    keep = 1 - obsolescence
    compute = np.empty(n)
    learning = np.empty(n)
    stock = np.empty(n)
    for i in range(n):
        training = pretraining[i] and frontier_staff[i] >= min_team
        c = compute_h100e[i] if training else 0.0
        staff = (frontier_staff[i] if training else 0.0) * researcher_h100e
        compute[i] = c
        learning[i] = 1.0 if training else 0.0
        # numpy's array ** float: its power, or sqrt for an exponent of 0.5
        c_pow = math.sqrt(c) if one_less_theta == 0.5 else power(c, one_less_theta)
        staff_pow = math.sqrt(staff) if theta == 0.5 else power(staff, theta)
        effective = share_algo * efficiency[i] * c_pow * staff_pow
        stock[i] = effective_compute[i] * keep + effective
    leader = stock[0]
    for i in range(1, n):
        leader = maximum(leader, stock[i])
    floor = 10.0 ** (open_floor_log10 - adoption_gap)
    best = 0.0
    for i in range(n):
        s = stock[i] + spillover * learning[i] * maximum(leader - stock[i], 0.0)
        data_bonus = data_feedback * log10(1.0 + users_total_m[i] / data_reference_users)
        own = log10(maximum(s, 1e-12)) + data_bonus
        before = own_capability_log10[i]
        effective_compute[i] = s
        own_capability_log10[i] = own
        capability_log10[i] = log10(floor + power(10.0, own))
        train_window[i, slot] = compute[i]
        own_trend[i] = (1 - trend_weight) * own_trend[i] + trend_weight * (own - before)
        if open_source[i] and pretraining[i]:
            best = maximum(best, capability_log10[i] - release_gap)
    return best


# -- clear_talent ----------------------------------------------------------------------------------


@jit
def clear_talent(
    rd_budget, frontier_staff, flows, elasticity, pool, basic, wage_floor, wage, adjustment
):
    """``InputMarkets.clear_talent`` (its numpy path, with ``clearing_wage``, ``adjust_wage`` and
    ``allocate_staff`` of ``sim.markets.talent``, is the reference): the staff budgets, the wage's
    step toward the level that hires the pool, and staff moved toward the budgets' head-counts
    within the pool. Updates ``frontier_staff`` and the STAFF_COST flow.

    Returns:
        the new frontier wage, M RMB a year.
    """
    n = rd_budget.shape[0]
    staff_budget = np.empty(n)
    for i in range(n):
        staff_budget[i] = elasticity * rd_budget[i]
    total = add_reduce(staff_budget)
    if pool <= 0:
        target = wage_floor
    else:
        target = py_max(wage_floor, 12.0 * total / pool - basic)
    wage = exp(log(wage) + adjustment * (log(target) - log(wage)))
    monthly_cost = (wage + basic) / 12
    kept = np.empty(n)
    shortfall = np.empty(n)
    for i in range(n):
        desired = staff_budget[i] / monthly_cost
        held = frontier_staff[i]
        kept[i] = held - maximum(held - desired, 0.0)
        shortfall[i] = maximum(desired - held, 0.0)
    available = py_max(pool - add_reduce(kept), 0.0)
    total_short = add_reduce(shortfall)
    fill = 1.0 if total_short <= available else available / total_short
    for i in range(n):
        staff = kept[i] + shortfall[i] * fill
        frontier_staff[i] = staff
        flows[i, _STAFF_COST] += staff * monthly_cost
    return wage
