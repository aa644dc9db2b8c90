"""Finance stage: R&D budgets, funding scores, co-funding claims and the month's settlement.

All functions work on the firm table's columns (one entry per active firm, in entry order) and
return new arrays; money is in M RMB.
"""

from __future__ import annotations

import math

import numpy as np

from sim.state import Account, BoolArray, FloatArray, IntArray


def runway_months(cash_m_rmb: FloatArray, net_burn_m_rmb: FloatArray) -> FloatArray:
    """Months of cash left at last month's net burn (infinite when not burning)."""
    out = np.empty_like(net_burn_m_rmb, dtype=float)
    out.fill(np.inf)  # (cheaper than np.full on the firm table's small arrays)
    return np.divide(
        np.maximum(cash_m_rmb, 0.0), net_burn_m_rmb, out=out, where=net_burn_m_rmb > 1e-9
    )


def grow_commitments(
    budget_m_rmb_per_month: FloatArray, growth_per_year: FloatArray, established: BoolArray
) -> FloatArray:
    """Committed budgets (parents' AI capex, grants) of established firms grow at their yearly rate.

    ``established`` marks firms that entered before this month (an entrant's budget is its entry
    budget).
    """
    factor = np.where(established, (1.0 + growth_per_year) ** (1.0 / 12.0), 1.0)
    return budget_m_rmb_per_month * factor


def plan_budgets(
    budget_m_rmb_per_month: FloatArray,
    cash_m_rmb: FloatArray,
    operating_margin_m_rmb: FloatArray,
    top_budget_m_rmb: float,
    ambition_share: FloatArray,
    min_runway_months: FloatArray,
    reinvest_share: FloatArray,
) -> FloatArray:
    """This month's R&D budgets (M RMB).

    Committed budget + ambition (a share of last month's largest R&D budget, i.e. keeping up with
    the frontier spenders, paid from cash but never more than cash / min_runway_months) +
    reinvested operating margin.
    """
    ambition = np.minimum(
        ambition_share * top_budget_m_rmb, np.maximum(cash_m_rmb, 0.0) / min_runway_months
    )
    return (
        budget_m_rmb_per_month + ambition + reinvest_share * np.maximum(operating_margin_m_rmb, 0.0)
    )


def funding_scores(
    own_capability_log10: FloatArray,
    median_own_log10: float,
    months_since_round: IntArray,
    revenue_m_rmb: FloatArray,
    noise: FloatArray,
    scale_log10: float,
    herding_weight: float,
    herding_window_months: int,
) -> FloatArray:
    """Funds' scores of pitching start-ups: the team's own research (not the open weights it builds
    on) against the median developer, a herding bonus for recent rounds, revenue, and noise."""
    return (
        (own_capability_log10 - median_own_log10) / scale_log10
        + herding_weight * (months_since_round < herding_window_months)
        + np.log10(1.0 + revenue_m_rmb)
    ) + noise


def settle(
    flows: FloatArray,
    cash_m_rmb: FloatArray,
    budget_m_rmb_per_month: FloatArray,
    parent_backed: BoolArray,
    loss_cover_multiple: float = np.inf,
) -> tuple[FloatArray, FloatArray]:
    """Book the month: revenue, subsidies and the parent's budget in; every cost out.

    Parent-backed firms receive their committed budget, and a shortfall is covered up to
    ``loss_cover_multiple`` times that budget (booked as a parent transfer); beyond it, cash
    falls below zero. ``flows`` is updated in place (``Account.PARENT``). Chip purchases, rounds
    and deals were already booked in cash when they happened.

    Returns:
        (cash, net_burn): new cash and the month's net burn (operating costs less revenue and
        subsidies).
    """
    costs = (
        flows[:, Account.STAFF_COST]
        + flows[:, Account.COMPUTE_COST]
        + flows[:, Account.INFERENCE_COST]
        + flows[:, Account.OVERHEAD]
        + flows[:, Account.COMPLIANCE_COST]
    )
    # Parent transfers booked earlier in the month (chip purchases) are already in cash.
    budget_in = np.where(parent_backed, budget_m_rmb_per_month, 0.0)
    flows[:, Account.PARENT] += budget_in
    inflow = flows[:, Account.REVENUE] + flows[:, Account.SUBSIDY_IN] + budget_in
    cash = cash_m_rmb + (inflow - costs)
    limit = (
        np.full_like(cash, np.inf)
        if math.isinf(loss_cover_multiple)
        else loss_cover_multiple * budget_m_rmb_per_month
    )
    cover = np.where(parent_backed & (cash < 0), np.minimum(-cash, limit), 0.0)
    flows[:, Account.PARENT] += cover
    cash = cash + cover
    net_burn = costs - flows[:, Account.REVENUE] - flows[:, Account.SUBSIDY_IN]
    return cash, net_burn
