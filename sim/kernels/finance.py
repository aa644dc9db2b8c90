"""Kernels of the money stages: the month's settlement (``ProductMarket.settle_accounts``), R&D
budgets (``FirmLifecycle.plan_budgets``) and the screening before funding rounds
(``FirmLifecycle.raise_capital``: listings and the funds' scores and ranking).

Each kernel loops over the firm table's rows and does, element by element and in the same order,
the arithmetic of the numpy path it replaces (``sim.stages.finance`` and the phase methods), which
stays the reference. Agents' decisions (funds' rounds, government co-investment, events) stay in
Python.
"""

from __future__ import annotations

import math

import numpy as np

from sim.kernels import jit
from sim.kernels.npmath import maximum, minimum
from sim.state import LUCK_BLOCK_MONTHS, Account, Luck

_REVENUE = int(Account.REVENUE)
_INFERENCE = int(Account.INFERENCE_COST)
_STAFF = int(Account.STAFF_COST)
_COMPUTE = int(Account.COMPUTE_COST)
_OVERHEAD = int(Account.OVERHEAD)
_COMPLIANCE = int(Account.COMPLIANCE_COST)
_SUBSIDY = int(Account.SUBSIDY_IN)
_PARENT = int(Account.PARENT)
_IPO = int(Account.IPO)
_PITCH = int(Luck.PITCH)


@jit
def runway_months(cash: float, net_burn: float) -> float:
    """``sim.stages.finance.runway_months`` of one firm: months of cash at this net burn."""
    return maximum(cash, 0.0) / net_burn if net_burn > 1e-9 else np.inf


@jit
def _after(a: float, b: float) -> bool:
    """Whether key ``a`` sorts strictly after ``b`` (numpy's order: NaN after every number)."""
    if a != a:
        return b == b
    if b != b:
        return False
    return a > b


@jit
def settle_month(
    flows: np.ndarray,
    overhead: float,
    filing_active: bool,
    approved: np.ndarray,
    compliance_cost: float,
    cash: np.ndarray,
    budget: np.ndarray,
    parent_backed: np.ndarray,
    loss_cover_multiple: float,
    net_burn: np.ndarray,
    revenue: np.ndarray,
    revenue_ytd: np.ndarray,
    loss_ytd: np.ndarray,
    pretraining: np.ndarray,
    pretraining_months_ytd: np.ndarray,
    operating_margin: np.ndarray,
) -> None:
    """The month's accounts after co-funding, in place: overheads and compliance costs booked,
    ``finance.settle`` (parents' budgets and loss cover, cash, net burn), then revenue, the
    year-to-date sums and the operating margin. Reference: the numpy path of
    ``ProductMarket.settle_accounts``."""
    unlimited = math.isinf(loss_cover_multiple)
    for i in range(cash.shape[0]):
        f = flows[i]
        f[_OVERHEAD] += overhead
        if filing_active:
            f[_COMPLIANCE] += compliance_cost if approved[i] else 0.0
        costs = f[_STAFF] + f[_COMPUTE] + f[_INFERENCE] + f[_OVERHEAD] + f[_COMPLIANCE]
        backed = parent_backed[i]
        budget_in = budget[i] if backed else 0.0
        f[_PARENT] += budget_in
        inflow = f[_REVENUE] + f[_SUBSIDY] + budget_in
        c = cash[i] + (inflow - costs)
        limit = np.inf if unlimited else loss_cover_multiple * budget[i]
        cover = minimum(-c, limit) if (backed and c < 0) else 0.0
        f[_PARENT] += cover
        cash[i] = c + cover
        burn = costs - f[_REVENUE] - f[_SUBSIDY]
        net_burn[i] = burn
        rev = f[_REVENUE]
        revenue[i] = rev
        revenue_ytd[i] += rev
        loss_ytd[i] += burn
        pretraining_months_ytd[i] += 1 if pretraining[i] else 0
        operating_margin[i] = rev - f[_INFERENCE]


@jit
def plan_budgets(
    budget: np.ndarray,
    meets_hurdle: np.ndarray,
    kind: np.ndarray,
    kind_growth: np.ndarray,
    entry_month: np.ndarray,
    month: int,
    rd_budget: np.ndarray,
    cash: np.ndarray,
    operating_margin: np.ndarray,
    kind_ambition: np.ndarray,
    kind_min_runway: np.ndarray,
    kind_reinvest: np.ndarray,
    team_rd: float,
    stop_runway_months: float,
    pretraining: np.ndarray,
) -> None:
    """Committed budgets grown (``finance.grow_commitments``), this month's R&D budgets
    (``finance.plan_budgets`` against last month's largest, a minimum team kept while cash lasts,
    nothing for the application layer), in place in ``budget`` and ``rd_budget``. Reference: the
    numpy path of ``FirmLifecycle.plan_budgets``."""
    n = budget.shape[0]
    top = 0.0
    if n:
        top = rd_budget[0]  # np.maximum.reduce of last month's budgets (NaN propagates)
        for i in range(1, n):
            top = maximum(top, rd_budget[i])
    for i in range(n):
        k = kind[i]
        if entry_month[i] < month:
            growth = kind_growth[k] if meets_hurdle[i] else 0.0
            b = budget[i] * (1.0 + growth) ** (1.0 / 12.0)
        else:
            b = budget[i] * 1.0
        budget[i] = b
        ambition = minimum(kind_ambition[k] * top, maximum(cash[i], 0.0) / kind_min_runway[k])
        planned = b + ambition + kind_reinvest[k] * maximum(operating_margin[i], 0.0)
        if cash[i] >= stop_runway_months * team_rd:
            planned = maximum(planned, team_rd)
        rd_budget[i] = planned if pretraining[i] else 0.0


@jit
def screen_rounds(
    month: int,
    ipo_open: bool,
    ipo_min_annual_revenue: float,
    ipo_min_age_months: int,
    ipo_revenue_multiple: float,
    ipo_max_raise: float,
    revenue: np.ndarray,
    parent_backed: np.ndarray,
    public: np.ndarray,
    pretraining: np.ndarray,
    kind: np.ndarray,
    kind_venture: np.ndarray,
    entry_month: np.ndarray,
    cash: np.ndarray,
    flows: np.ndarray,
    net_burn: np.ndarray,
    last_funded: np.ndarray,
    raise_below_runway: float,
    min_months_between_rounds: int,
    luck: np.ndarray,
    noise_sd: float,
    own_capability: np.ndarray,
    scale_log10: float,
    herding_weight: float,
    herding_window: int,
    threshold: float,
    rows: np.ndarray,
    raised: np.ndarray,
) -> tuple[int, int, int]:
    """Listings and the funds' ranking of pitching start-ups, before any round.

    Start-ups ready to list go public (``public``, ``cash`` and ``flows`` updated in place). Then
    the venture-backed firms short of runway are scored (``finance.funding_scores`` with their
    pitch luck as noise) and ranked, best first (a stable sort, as ``np.argsort(-scores,
    kind="stable")``).

    ``rows`` (at least twice the number of firms) receives the listed rows, then the seekers'
    rows best first; ``raised`` (at least the number of firms) what each listed firm raised.

    Returns:
        (number listed, number seeking, how many of the first seekers are not below
        ``threshold``). Reference: the numpy path of ``FirmLifecycle.raise_capital`` and
        ``_list_firms``.
    """
    n = cash.shape[0]
    # Listings (``_list_firms``).
    n_listed = 0
    if ipo_open:
        for i in range(n):
            if (
                12.0 * revenue[i] >= ipo_min_annual_revenue
                and not parent_backed[i]
                and not public[i]
                and pretraining[i]
                and kind_venture[kind[i]]
                and entry_month[i] <= month - ipo_min_age_months
            ):
                a = ipo_revenue_multiple * 12 * revenue[i]
                r = ipo_max_raise if ipo_max_raise < a else a  # Python's min(a, max)
                public[i] = True
                cash[i] += r
                flows[i, _IPO] += r
                rows[n_listed] = i
                raised[n_listed] = r
                n_listed += 1
    # Who pitches (``finance.runway_months`` below the trigger, not too soon after a round).
    seeking = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        runway = runway_months(cash[i], net_burn[i])
        if (
            not parent_backed[i]
            and kind_venture[kind[i]]
            and entry_month[i] < month
            and runway < raise_below_runway
            and last_funded[i] <= month - min_months_between_rounds
        ):
            seeking[k] = i
            k += 1
    if k == 0:
        return n_listed, 0, 0
    # The median developer's own capability (``statistics.median``).
    ranked = np.sort(own_capability)
    half = n // 2
    median = ranked[half] if n % 2 else (ranked[half - 1] + ranked[half]) / 2
    scores = np.empty(k, dtype=np.float64)
    for j in range(k):
        i = seeking[j]
        slot = (month - entry_month[i]) % LUCK_BLOCK_MONTHS
        noise = noise_sd * luck[i, _PITCH, slot]
        herd = 1.0 if month - last_funded[i] < herding_window else 0.0
        scores[j] = (
            (own_capability[i] - median) / scale_log10
            + herding_weight * herd
            + math.log10(1.0 + revenue[i])
        ) + noise
    # Stable insertion sort of -scores (NaN last, as numpy's sort).
    keys = -scores
    idx = np.arange(k)
    for j in range(1, k):
        x = idx[j]
        kx = keys[x]
        p = j - 1
        while p >= 0 and _after(keys[idx[p]], kx):
            idx[p + 1] = idx[p]
            p -= 1
        idx[p + 1] = x
    n_pass = 0
    for j in range(k):
        s = scores[idx[j]]
        rows[n_listed + j] = seeking[idx[j]]
        if n_pass == j and not s < threshold:
            n_pass += 1
    return n_listed, k, n_pass
