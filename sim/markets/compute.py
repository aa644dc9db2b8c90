"""Compute market: a rental pool of accelerators (H100-equivalents) cleared by one price.

Demand is money (M RMB per month of contracts); supply is the capacity foundation-model
developers can rent. The price is the larger of the cost-based floor and the price that spends all
demand on the available capacity, so scarcity (export controls) raises the price and firms get
fewer H100e-months for the same money.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def clear_compute(
    contracts_m_rmb: FloatArray,
    capacity_h100e: float,
    price_floor_m_rmb: float,
    other_demand_m_rmb: float = 0.0,
) -> tuple[float, FloatArray]:
    """Clear the rental market.

    Args:
        contracts_m_rmb: (n,) money each firm spends on training compute this month, M RMB (>= 0).
        capacity_h100e: H100e available to rent this month (>= 0).
        price_floor_m_rmb: cost-based price of one H100e-month, M RMB (> 0).
        other_demand_m_rmb: money other uses bid for the same capacity (serving users), M RMB.

    Returns:
        (price, h100e_months): the clearing price in M RMB per H100e-month and each firm's
        H100e-months. Every buyer gets capacity in proportion to its money, so
        ``sum(h100e_months) + other_demand / price <= capacity`` whenever the price is above the
        floor.
    """
    contracts = np.asarray(contracts_m_rmb, dtype=float)
    total = contracts.sum() + max(other_demand_m_rmb, 0.0)
    scarcity_price = total / capacity_h100e if capacity_h100e > 0 else np.inf
    price = float(max(price_floor_m_rmb, scarcity_price))
    if not np.isfinite(price):
        return price, np.zeros_like(contracts)
    return price, contracts / price


def ration_subsidy(claims_m_rmb: FloatArray, budget_left_m_rmb: float) -> FloatArray:
    """Pay claims in full if the budget allows, else pro rata (M RMB)."""
    claims = np.maximum(np.asarray(claims_m_rmb, dtype=float), 0.0)
    total = claims.sum()
    if total <= budget_left_m_rmb or total == 0:
        return claims
    return claims * (max(budget_left_m_rmb, 0.0) / total)


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
    r = np.clip(np.asarray(rate, dtype=float), 0.0, 0.99)
    cap = np.maximum(np.asarray(cap_left_m_rmb, dtype=float), 0.0)
    uncapped = b / (1.0 - r)
    claims = np.minimum(uncapped - b, cap)
    return b + claims, claims
