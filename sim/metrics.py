"""Market-structure metrics: pure functions of arrays, scale stated.

HHI uses shares in [0, 1] and returns a value in [0, 1] (multiply by 10,000 for the antitrust
convention); concentration ratios likewise return a share in [0, 1].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _shares(values: ArrayLike) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    v = v[v > 0]
    total = np.add.reduce(v)
    return v / total if total > 0 else v


def concentration(values: ArrayLike, k: int = 3) -> tuple[float, float]:
    """``(hhi(values), concentration_ratio(values, k))`` from one computation of the shares."""
    s = _shares(values)  # a new array
    if not s.size:
        return 0.0, 0.0
    hhi = float(np.add.reduce(s**2))
    s.sort()
    return hhi, float(np.add.reduce(s[: -k - 1 : -1]))  # the k largest, largest first


def hhi(values: ArrayLike) -> float:
    """Herfindahl-Hirschman index of the shares of ``values`` (users, revenue), in [0, 1].

    Zero when there is nothing to share. Equal shares among n firms give 1/n.
    """
    return concentration(values)[0]


def concentration_ratio(values: ArrayLike, k: int = 3) -> float:
    """Combined share of the ``k`` largest, in [0, 1] (CR3 for k = 3)."""
    return concentration(values, k)[1]


def active_developers(status: ArrayLike) -> int:
    """Number of entries equal to ``"active"`` in a status array."""
    return int(np.sum(np.asarray(status) == "active"))
