"""Kernel of ``record`` (``sim.phases.recording``): the monthly metrics' sums, counts and
concentration measures over the firm table in one pass.

The reference is the numpy code in ``Recording.record`` (run when kernels are off). Sums are
taken as numpy takes them: ``npmath.pairwise_sum`` is numpy's pairwise summation of float arrays
(``np.add.reduce`` on one axis), so totals agree to the last bit, not only within a tolerance.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import jit
from sim.kernels.npmath import pairwise_sum

# Slots of ``month_sums``'s float output ``out``.
LAYER = 0  # model-layer revenue of the firms in the table
BEST = 1  # best capability (0 with no firm)
HHI_USERS, CR3_USERS, HHI_REVENUE, CR3_REVENUE = 2, 3, 4, 5
STARTUP_REVENUE, STARTUP_NET_LOSS, STARTUP_LOSS_RATIO = 6, 7, 8
OUTSIDE, AWAITING, ADOPTERS, CONSUMER_ADOPTERS, POTENTIAL = 9, 10, 11, 12, 13
TOTALS = 14  # the totalled columns, in the order of ``totalled``
# Positions in ``fcols`` (float-block columns) and ``icols`` (int-block columns).
F_REVENUE, F_CAPABILITY, F_USERS, F_NET_BURN, F_REVENUE_YTD, F_LOSS_YTD = range(6)
I_KIND, I_PRETRAINING_MONTHS_YTD = range(2)


@jit
def _concentration(values: np.ndarray, work: np.ndarray, out: np.ndarray, at: int) -> None:
    """``sim.metrics.concentration(values, 3)`` into ``out[at]`` (HHI) and ``out[at + 1]``
    (CR3), with ``work`` as scratch (at least ``values``' size)."""
    m = 0
    for i in range(values.shape[0]):
        if values[i] > 0:
            work[m] = values[i]
            m += 1
    if m == 0:
        out[at] = 0.0
        out[at + 1] = 0.0
        return
    s = work[:m]
    total = pairwise_sum(s, 0, m)
    if total > 0:
        for i in range(m):
            s[i] = s[i] / total
    sq = np.empty(m)
    for i in range(m):
        sq[i] = s[i] * s[i]
    out[at] = pairwise_sum(sq, 0, m)
    s.sort()
    top = 0.0
    for i in range(m - 1, max(m - 4, -1), -1):  # the 3 largest, largest first
        top += s[i]
    out[at + 1] = top


@jit
def _masked_sum(values: np.ndarray, mask: np.ndarray, work: np.ndarray) -> float:
    """``np.add.reduce(values[mask])``."""
    m = 0
    for i in range(values.shape[0]):
        if mask[i]:
            work[m] = values[i]
            m += 1
    return pairwise_sum(work, 0, m)


@jit
def month_sums(
    n: int,
    fblock: np.ndarray,
    iblock: np.ndarray,
    bblock: np.ndarray,
    fcols: np.ndarray,
    icols: np.ndarray,
    pretraining_col: int,
    totalled: np.ndarray,
    train_window: np.ndarray,
    developer_scale: float,
    startup_kind: int,
    months_ytd: int,
    outside_users: np.ndarray,
    orphans: np.ndarray,
    adopters: np.ndarray,
    consumer: np.ndarray,
    potential: np.ndarray,
    developer: np.ndarray,
    counts: np.ndarray,
    out: np.ndarray,
) -> int:
    """The firm table's monthly metrics, as ``Recording.record``'s numpy path (the reference)
    computes them.

    ``fblock``, ``iblock``, ``bblock`` are the table's float, int and bool blocks, whole: the
    first ``n`` rows are the active firms (whole blocks keep one layout, and so one compiled
    signature, whatever ``n``); ``fcols``, ``icols`` and ``pretraining_col`` are the columns
    used (``F_*``, ``I_*``), ``totalled`` the float-block columns to total. Writes the developer
    flags into ``developer`` and their count by kind into ``counts``; the sums, best capability,
    concentration of users and revenue, the start-ups' revenue, net loss and median
    loss-to-revenue ratio so far this year (``months_ytd`` months; NaN with none) and the segment
    totals into ``out`` (slots above). Returns the number of pre-training firms."""
    revenue = fblock[:n, fcols[F_REVENUE]]
    capability = fblock[:n, fcols[F_CAPABILITY]]
    net_burn = fblock[:n, fcols[F_NET_BURN]]
    revenue_ytd = fblock[:n, fcols[F_REVENUE_YTD]]
    loss_ytd = fblock[:n, fcols[F_LOSS_YTD]]
    kind = iblock[:n, icols[I_KIND]]
    pmonths = iblock[:n, icols[I_PRETRAINING_MONTHS_YTD]]
    pretraining = bblock[:n, pretraining_col]
    window = train_window.shape[1]
    counts[:] = 0
    n_pre = 0
    startups = np.empty(n, dtype=np.bool_)
    n_full = 0
    for i in range(n):
        pre = pretraining[i]
        if pre:
            n_pre += 1
        dev = pre and pairwise_sum(train_window[i], 0, window) >= developer_scale
        developer[i] = dev
        if dev:
            counts[kind[i]] += 1
        startups[i] = kind[i] == startup_kind and pre
        if startups[i] and pmonths[i] == months_ytd:
            n_full += 1
    out[LAYER] = pairwise_sum(revenue, 0, n)
    if n:
        best = capability[0]
        for i in range(1, n):
            x = capability[i]
            if not (best >= x or best != best):  # np.maximum: NaN propagates
                best = x
        out[BEST] = best
    else:
        out[BEST] = 0.0
    for j in range(totalled.shape[0]):
        out[TOTALS + j] = pairwise_sum(fblock[:, totalled[j]], 0, n)
    work = np.empty(max(n, consumer.shape[0]))
    _concentration(fblock[:n, fcols[F_USERS]], work, out, HHI_USERS)
    _concentration(revenue, work, out, HHI_REVENUE)
    out[STARTUP_REVENUE] = _masked_sum(revenue, startups, work)
    out[STARTUP_NET_LOSS] = _masked_sum(net_burn, startups, work)
    if n_full == 0:
        out[STARTUP_LOSS_RATIO] = np.nan
    else:
        ratio = np.empty(n_full)
        k = 0
        for i in range(n):
            if startups[i] and pmonths[i] == months_ytd:
                r = revenue_ytd[i]
                ratio[k] = loss_ytd[i] / r if r > 0 else np.inf
                k += 1
        ratio.sort()
        h = n_full // 2
        if n_full % 2 == 1:  # statistics.median
            out[STARTUP_LOSS_RATIO] = ratio[h]
        else:
            out[STARTUP_LOSS_RATIO] = (ratio[h - 1] + ratio[h]) / 2
    out[OUTSIDE] = pairwise_sum(outside_users, 0, outside_users.shape[0])
    out[AWAITING] = pairwise_sum(orphans, 0, orphans.shape[0])
    out[ADOPTERS] = pairwise_sum(adopters, 0, adopters.shape[0])
    out[CONSUMER_ADOPTERS] = _masked_sum(adopters, consumer, work)
    out[POTENTIAL] = pairwise_sum(potential, 0, potential.shape[0])
    return n_pre
