"""Compute market: a rental pool of accelerators (H100-equivalents) cleared by one price.

Demand is money (M RMB per month of contracts); supply is the capacity foundation-model
developers can rent. The price is the larger of the cost-based floor and the price that spends all
demand on the available capacity, so scarcity (export controls) raises the price and firms get
fewer H100e-months for the same money.
"""

from __future__ import annotations

import numpy as np

from sim.state import FloatArray


def clear_compute(
    contracts_m_rmb: FloatArray,
    capacity_h100e: float,
    price_floor_m_rmb: float,
    other_demand_m_rmb: float = 0.0,
    previous_price_m_rmb: float | None = None,
    adjustment: float = 1.0,
) -> tuple[float, FloatArray]:
    """Clear the rental market.

    The clearing price spends all money on the capacity, ``p* = max(floor, money / capacity)``.
    The price moves a share ``adjustment`` of the way there in logs each month (tatonnement,
    which damps the cycles a lagged demand would otherwise make); if demand at that price exceeds
    capacity, every buyer is rationed in proportion.

    Args:
        contracts_m_rmb: (n,) money each firm spends on training compute this month, M RMB (>= 0).
        capacity_h100e: H100e available to rent this month (>= 0).
        price_floor_m_rmb: cost-based price of one H100e-month, M RMB (> 0).
        other_demand_m_rmb: money buyers outside the firms bid for the same capacity
            (``outside_compute_money`` or ``outside_compute_money_for_need``), M RMB.
        previous_price_m_rmb: last month's price (None: move all the way to p*).
        adjustment: share of the log gap to p* closed this month, in (0, 1].

    Returns:
        (price, h100e_months): the price in M RMB per H100e-month and each firm's H100e-months,
        with ``sum(h100e_months) + other_demand / price * rationing <= capacity``.
    """
    contracts = np.asarray(contracts_m_rmb, dtype=float)
    money = np.add.reduce(contracts) + max(other_demand_m_rmb, 0.0)
    if capacity_h100e <= 0:
        return float(previous_price_m_rmb or price_floor_m_rmb), np.zeros_like(contracts)
    target = max(price_floor_m_rmb, money / capacity_h100e)
    if previous_price_m_rmb is None or adjustment >= 1.0:
        price = target
    else:
        price = max(
            price_floor_m_rmb, previous_price_m_rmb * (target / previous_price_m_rmb) ** adjustment
        )
    wanted = money / price
    rationing = min(1.0, capacity_h100e / wanted) if wanted > 0 else 1.0
    return float(price), contracts / price * rationing


def outside_compute_money(
    end_spending_m_rmb: float, model_layer_share: float, compute_per_rmb: float
) -> float:
    """Money that buyers outside the model layer bid for the rental pool this month (M RMB).

    End spending on generative AI (iiMedia's AIGC core market) that does not reach the model layer
    pays applications, integrators and enterprises that serve models themselves: on clouds, on
    self-hosted open weights, on servers they buy. They rent from the same pool as the model
    layer, so they bid ``compute_per_rmb`` yuan of compute per yuan of that spending:
    ``compute_per_rmb * end_spending * (1 - model_layer_share)``.

    Money, not H100e: at a fixed budget their H100e fall as the price rises (unit elasticity),
    the price response the firms' own contracts have in ``clear_compute``. Proportional to the
    spending outside the model layer, so it is zero when every yuan reaches the model layer
    (share 1: the model's firms serve the whole market themselves).

    Args:
        end_spending_m_rmb: end spending (the AIGC core market) last month, M RMB (>= 0).
        model_layer_share: share of it that reaches the model layer, in (0, 1].
        compute_per_rmb: compute rented per yuan of end spending outside the model layer (>= 0).
    """
    outside = max(end_spending_m_rmb, 0.0) * (1.0 - model_layer_share)
    return compute_per_rmb * outside


def outside_compute_money_for_need(
    serving_plan_h100e: float,
    model_layer_share: float,
    serving_multiple: float,
    elasticity: float,
    price_m_rmb: float,
    floor_m_rmb: float,
) -> float:
    """Money buyers outside the model layer bid for the rental pool this month, from the compute
    they need (M RMB; ``compute.outside_compute_basis`` ``serving_need``).

    They serve the end spending the model layer misses, ``(1 - v) / v`` times its revenue, with
    ``serving_multiple`` times the model layer's compute per yuan: they need
    ``N = serving_multiple * (1 - v) / v * serving_plan`` H100e. At price ``p`` they take
    ``N * (p / floor) ** -elasticity`` H100e and bid that at ``p``:
    ``N * floor * (p / floor) ** (1 - elasticity)`` (elasticity 1: their need valued at cost,
    whatever the price; 0: their whole need at any price, rationed with the firms when the pool
    is short, and with no clearing price when their need alone exceeds it: the price then climbs
    month after month). Zero at ``v = 1``.

    Args:
        serving_plan_h100e: the model layer's serving plan this month, H100e (>= 0).
        model_layer_share: share of end spending that reaches the model layer, in (0, 1].
        serving_multiple: their compute per yuan over the model layer's (>= 0).
        elasticity: own-price elasticity of their compute around the floor (>= 0).
        price_m_rmb: the price they bid at (last month's), M RMB per H100e-month (> 0).
        floor_m_rmb: the cost-based price floor, M RMB per H100e-month (> 0).
    """
    v = model_layer_share
    need = serving_multiple * (1.0 - v) / v * max(serving_plan_h100e, 0.0)
    ratio = max(price_m_rmb, floor_m_rmb) / floor_m_rmb
    return need * floor_m_rmb * ratio ** (1.0 - elasticity)


def ration_subsidy(claims_m_rmb: FloatArray, budget_left_m_rmb: float | FloatArray) -> FloatArray:
    """Pay claims in full if the budget allows, else pro rata (M RMB).

    ``claims_m_rmb`` is (n,) with one budget, or (P, n) with one budget per programme (row).
    """
    claims = np.asarray(claims_m_rmb, dtype=float)
    if claims.ndim == 1:
        return ration_supply(claims, float(budget_left_m_rmb))
    w = np.maximum(claims, 0.0)
    totals = np.add.reduce(w, axis=1).tolist()
    budgets = np.asarray(budget_left_m_rmb, dtype=float).tolist()
    if not isinstance(budgets, list):  # one budget for every programme
        budgets = [budgets] * len(totals)
    # A few programmes: their rows are rationed one by one, in plain floats.
    for row, (total, budget) in enumerate(zip(totals, budgets, strict=True)):
        budget = max(budget, 0.0)
        if total > budget and total > 0:
            w[row] *= budget / total
    return w


def voucher_contracts(
    own_money_m_rmb: FloatArray, rate: FloatArray, cap_left_m_rmb: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Contract values when a voucher pays ``rate`` of a compute contract, capped per firm.

    A firm spending ``b`` of its own money signs a contract ``x``, the voucher paying ``x - b``:
    ``x = b / (1 - rate)`` while ``rate * x <= cap``, else ``x = b + cap``.

    Returns:
        (contracts, claims), both (n,) in M RMB. Budget rationing is applied afterwards with
        ``ration_subsidy``.
    """
    b = np.asarray(own_money_m_rmb, dtype=float)
    r = np.asarray(rate, dtype=float)
    if r.size and not (
        0.0 <= float(np.minimum.reduce(r, axis=None)) and float(np.maximum.reduce(r, axis=None)) < 1
    ):
        raise ValueError("voucher rates must lie in [0, 1) (policy.max_subsidy_rate keeps them so)")
    cap = np.maximum(np.asarray(cap_left_m_rmb, dtype=float), 0.0)
    uncapped = b / (1.0 - r)
    claims = np.minimum(uncapped - b, cap)
    return b + claims, claims


def ration_supply(wanted: FloatArray, supply: float) -> FloatArray:
    """Share a fixed supply among buyers: in full if it suffices, else pro rata (same units)."""
    w = np.maximum(np.asarray(wanted, dtype=float), 0.0)
    total = np.add.reduce(w)
    if total <= supply or total == 0:
        return w
    return w * (max(supply, 0.0) / total)


def serving_split(
    capacity_h100e: FloatArray, own_h100e: FloatArray, serve_need_h100e: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Split each firm's capacity between serving users (first) and training (the rest).

    Own chips serve first; the serving part of rented capacity is what own chips do not cover.

    Returns:
        (serve, train, serve_rented): H100e for serving, for training, and the rented H100e
        that serve users (for booking rental cost to inference).
    """
    serve = np.minimum(capacity_h100e, serve_need_h100e)
    train = capacity_h100e - serve
    serve_rented = np.maximum(serve - own_h100e, 0.0)
    return serve, train, serve_rented
