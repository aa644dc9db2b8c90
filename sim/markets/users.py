"""User market: Bass diffusion of adoption per segment and a logit choice among providers.

Users are stocks per provider (rows, as in the firm table) and segment (columns), in millions.
Each month new adopters and the users who re-choose (churn) form a pool that is shared by a
multinomial logit over the available providers and an outside option (self-hosted open weights),
returned apart. Everything here is vectorised across segments and firms.
"""

from __future__ import annotations

import numpy as np

from sim.state import BoolArray, FloatArray, IntArray


def logit_shares(
    utility: FloatArray,
    available: BoolArray | None,
    outside_utility: FloatArray,
    overwrite: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Choice probabilities of a multinomial logit with an outside option.

    Args:
        utility: (J, S) deterministic utility of provider j in segment s.
        available: (J, S) whether provider j may serve segment s (unavailable ones get share 0);
            None when every provider may serve every segment.
        outside_utility: (S,) utility of the outside option.
        overwrite: reuse ``utility``'s memory for the result (the caller's array is consumed);
            saves two passes over a large (J, S) array.

    Returns:
        (inside, outside): (J, S) shares of the providers and (S,) of the outside option; in each
        segment they sum to one.
    """
    if available is not None:
        u = np.where(available, utility, -np.inf)
    else:
        u = utility if overwrite else np.array(utility, dtype=float)
    out_u = np.asarray(outside_utility, dtype=float)
    top = np.maximum(np.maximum.reduce(u, axis=0, initial=-np.inf), out_u)
    u -= top
    np.exp(u, out=u)
    e_out = np.exp(out_u - top)
    denom = np.add.reduce(u, axis=0) + e_out
    u /= denom
    return u, e_out / denom


def bass_new_adopters(
    adopters: FloatArray, potential: FloatArray, p: FloatArray | float, q: FloatArray | float
) -> FloatArray:
    """New adopters this month, Bass (1969): ``(p + q * A / M) * (M - A)``, never negative.

    Args:
        adopters: (S,) current adopters (millions).
        potential: (S,) market potential this month (millions).
        p: innovation coefficient per month (scalar or (S,)).
        q: imitation coefficient per month (scalar or (S,)).
    """
    a = np.asarray(adopters, dtype=float)
    m = np.asarray(potential, dtype=float)
    known = m > 0
    if np.logical_and.reduce(known):
        frac = a / m
    else:  # segments with no potential yet: no imitation
        frac = np.zeros(m.shape)
        np.divide(a, m, out=frac, where=known)
    rate = np.minimum(np.maximum(np.asarray(p, dtype=float) + q * frac, 0.0), 1.0)
    return np.maximum(rate * (m - a), 0.0)


def reallocate_users(
    users: FloatArray,
    outside: FloatArray,
    churn: FloatArray,
    outside_churn: float,
    new_adopters: FloatArray,
    orphans: FloatArray,
    inside_shares: FloatArray,
    outside_share: FloatArray,
    overwrite: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """One month of switching.

    Args:
        users: (J, S) users of each provider (millions).
        outside: (S,) users of the outside option.
        churn: (J, S) share of each provider's users who re-choose this month.
        outside_churn: share of outside-option users who re-choose.
        new_adopters: (S,) first-time adopters.
        orphans: (S,) users whose provider left the market.
        inside_shares: (J, S) and outside_share: (S,) logit shares (``logit_shares``).
        overwrite: update ``users`` in place and reuse ``churn`` and ``inside_shares`` as
            scratch (the caller's arrays are consumed); saves allocating three (J, S) arrays.

    Returns:
        (users, outside) after the month. Total adopters are conserved:
        ``users.sum(0) + outside == old users.sum(0) + old outside + new_adopters + orphans``.
    """
    if not overwrite:
        users, churn, inside_shares = users.copy(), churn.copy(), inside_shares.copy()
    movers = np.multiply(users, churn, out=churn)
    out_movers = outside * outside_churn
    pool = np.add.reduce(movers, axis=0) + out_movers + new_adopters + orphans
    users -= movers
    inside_shares *= pool
    users += inside_shares
    return users, outside - out_movers + pool * outside_share


def usage_by_firm(
    users: FloatArray,
    price: FloatArray,
    spend: FloatArray,
    elasticity_groups: FloatArray,
    group_of_segment: IntArray,
    satiation: float | None = None,
) -> FloatArray:
    """Usage each provider serves, in RMB at the reference price (M RMB with users in millions).

    A user of segment s spends ``spend[s] * price ** -elasticity[s]`` of usage a month. Segments
    are grouped by elasticity (``elasticity_groups[group_of_segment[s]]`` is segment s's), so the
    power is taken once per provider and group rather than per provider and segment.

    Args:
        users: (J, S) users (millions). price: (J,) price indices. spend: (S,) spending per user
        at the reference price (RMB a month). elasticity_groups: (G,) distinct elasticities.
        group_of_segment: (S,) index of each segment's group. satiation: most usage relative to
        the reference price as the price falls (``sim.stages.demand.satiated``); None: none.

    Returns:
        (J,) usage.
    """
    by_group = spend_by_group(users, spend, elasticity_groups.shape[0], group_of_segment)
    power = price[:, None] ** (-elasticity_groups[None, :])
    if satiation is not None:
        power = satiation * power / (satiation - 1.0 + power)
    return np.add.reduce(by_group * power, axis=1)


def spend_by_group(
    users: FloatArray, spend: FloatArray, n_groups: int, group_of_segment: IntArray
) -> FloatArray:
    """(J, G) users weighted by their segments' spending per user, summed by elasticity group
    (``usage_by_firm``'s arguments)."""
    n_seg = spend.shape[0]
    weights = np.zeros((n_seg, n_groups))
    weights[np.arange(n_seg), group_of_segment] = spend
    return users @ weights


def bertrand_markup(share: FloatArray, price_sensitivity: float, max_markup: float) -> FloatArray:
    """Price-to-marginal-cost ratio of a single-product firm in a logit market.

    With utility ``-a * ln(p)`` and share ``s``, the first-order condition of
    ``s(p) * (p - c)`` gives ``p / c = a (1 - s) / (a (1 - s) - 1)``. The ratio is capped at
    ``max_markup``: beyond it (and where ``a (1 - s) <= 1`` has no finite optimum) a dominant firm's
    price is held down by the outside option and the threat of entry (a contestable market).
    """
    a = float(price_sensitivity)
    s = np.minimum(np.maximum(np.asarray(share, dtype=float), 0.0), 1.0)  # np.clip, cheaper
    numer = a * (1.0 - s)
    denom = numer - 1.0
    # p/c <= cap  <=>  denom >= numer / cap; beyond that (near-monopoly) the cap applies.
    finite = denom >= numer / max_markup
    return np.where(finite, numer / np.where(finite, denom, 1.0), max_markup)
