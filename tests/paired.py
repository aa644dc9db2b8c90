"""Paired comparisons with common random numbers, shared by the tests that assert an effect's sign.

Scenarios run with the same replication seeds for each of several root seeds; an effect is the
paired difference per (root seed, replication), and its sign is asserted with a t-interval of
the mean difference that excludes zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from sim.runner import RunResult, run_many
from sim.scenario import Scenario


def paired_runs(
    scenarios: Sequence[Scenario], root_seeds: Sequence[int], replications: int, **kwargs: Any
) -> RunResult:
    """``scenarios`` run together for each root seed (same replication seeds across scenarios),
    firm panel off; metrics and events carry a ``root`` column. ``kwargs`` go to ``run_many``."""
    parts = []
    for root in root_seeds:
        result = run_many(
            list(scenarios), replications, root_seed=root, record_firms=False, **kwargs
        )[0]
        for table in (result.metrics, result.events):
            table["root"] = root
        parts.append(result)
    return RunResult.concat(parts)


def interval(diff: Any, level: float = 0.9) -> tuple[float, float]:
    """Two-sided ``level`` t-interval of the mean of paired differences (array or Series)."""
    d = np.asarray(diff, dtype=float)
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)
