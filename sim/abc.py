"""Approximate Bayesian computation by sequential Monte Carlo with MCMC moves (ABC-SMC).

A small, self-contained implementation for an expensive, multi-parameter simulator (a calibration
trial costs about a second of CPU), in the replenishment form of Drovandi & Pettitt (2011, after
Del Moral et al. 2012), with at most ``particles`` simulations per generation, so that the cost of
a fit is bounded before it starts:

1. Generation 0 draws ``particles`` parameter vectors from the prior (uniform on each parameter's
   bounds, on a log scale for log-scale parameters), simulates each and computes its distance to
   the data (``distance``: for the calibration, the largest target error in tolerance units, so a
   distance of 1 means every target is met within its tolerance).
2. Each later generation sets its threshold to the ``keep`` quantile of the population's
   distances (never below ``epsilon``); particles beyond it are replaced by copies of particles
   within it; then every particle proposes a Gaussian random-walk move (the population's
   covariance times 2.38² / d) and takes it when the move stays inside the prior's bounds and
   its simulated distance is within the threshold (a Metropolis-Hastings step: the prior is
   flat on the search scale and the kernel symmetric, so no other ratio enters). Moves outside
   the bounds are rejected without a simulation. With ``max_moves`` above 1, a generation repeats
   the move as often as the last acceptance rate needs for most particles to move at least once
   (Drovandi & Pettitt's adaptive rule), at most ``max_moves`` times, so a population whose
   moves are rarely accepted keeps mixing instead of filling with copies; the cost is then
   bounded by ``particles x max_moves`` a generation.
3. The population always holds ``particles`` draws, all within the current threshold, with equal
   weight; copies make it lumpy, so the diagnostics give the acceptance rate of the moves and the
   effective sample size of the distinct particles (Kish's, on their multiplicities). When the
   threshold reaches ``epsilon`` the generations go on moving the population at that threshold,
   which only improves its mixing.

Unlike a population Monte Carlo sampler with importance weights (Beaumont et al. 2009, this
module's earlier form), the weights cannot collapse onto a few particles in many dimensions, and the
threshold never has to be relaxed: it falls to whatever the population has already reached.

The posterior sample is the last population, as distinct particles weighted by multiplicity.
All arithmetic happens on the unit cube (each parameter mapped from its bounds to 0-1 on its search
scale), so parameters of different units get comparable kernel widths. Randomness comes from one
``numpy.random.Generator`` seeded by ``seed``; with a deterministic simulator (common random
numbers) the whole fit is reproducible. ``simulate_batch`` evaluates a list of parameter vectors
(for the calibration, on the command's executor) and returns one distance and one free-form
record per vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Prior:
    """A uniform prior on ``[low, high]``, on a log scale when ``log``."""

    name: str
    low: float
    high: float
    log: bool = False

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Values on the unit interval of the search scale."""
        if self.log:
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Values from the unit interval of the search scale."""
        if self.log:
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass
class Generation:
    """Diagnostics of one generation."""

    index: int
    epsilon: float
    proposals: int  # simulations this generation (moves inside the bounds; all of generation 0)
    accepted: int  # moves taken (generation 0: draws within its threshold)
    relaxed: bool  # the threshold was set by the few best rather than the ``keep`` quantile
    ess: float  # Kish's effective sample size of the distinct particles (by multiplicity)
    distinct: int = 0  # distinct particles in the population

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposals if self.proposals else math.nan


@dataclass
class AbcResult:
    """The posterior sample and how it was reached.

    ``particles``: one row per accepted particle of the last generation, with a column per
    parameter, ``weight`` (summing to 1), ``distance`` and ``generation``. ``records``: the
    simulator's record of each of those particles, in the same order. ``generations``: one row of
    diagnostics per generation. ``simulations``: number of parameter vectors simulated.
    """

    particles: pd.DataFrame
    records: list[Any]
    generations: list[Generation] = field(default_factory=list)
    simulations: int = 0

    def diagnostics(self) -> pd.DataFrame:
        """Generation, threshold, proposals, accepted, acceptance rate, ESS, distinct, relaxed."""
        return pd.DataFrame(
            [
                {
                    "generation": g.index,
                    "epsilon": g.epsilon,
                    "proposals": g.proposals,
                    "accepted": g.accepted,
                    "acceptance_rate": g.acceptance_rate,
                    "ess": g.ess,
                    "distinct": g.distinct,
                    "relaxed": g.relaxed,
                }
                for g in self.generations
            ]
        )


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of normalised weights, ``1 / sum w^2``."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    return float(1.0 / np.sum(w**2))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of a weighted sample (linear interpolation of the weighted CDF at mid-points)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = np.isfinite(v)
    v, w = v[keep], w[keep]
    if len(v) == 0:
        return np.full(len(q), np.nan)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cdf, v)


def _distinct(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first copy of each distinct row of ``u``, and each one's multiplicity."""
    _, first, counts = np.unique(u, axis=0, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return first[order], counts[order]


def _moves(last: Generation, max_moves: int) -> int:
    """MCMC moves for the next generation: ceil(ln 0.01 / ln(1 - a)), a the last acceptance
    rate, held to 1..max_moves (max_moves when nothing was accepted)."""
    a = last.acceptance_rate
    if max_moves <= 1 or not math.isfinite(a) or a >= 0.99:
        return 1
    if a <= 0.0:
        return max_moves
    return int(min(max(math.ceil(math.log(0.01) / math.log1p(-a)), 1), max_moves))


def abc_smc(
    priors: Sequence[Prior],
    simulate_batch: Callable[[list[dict[str, float]]], list[tuple[float, Any]]],
    particles: int,
    generations: int,
    keep: float = 0.5,
    epsilon: float = 1.0,
    min_accepted: int | None = None,
    seed: int = 0,
    on_generation: Callable[[Generation], None] | None = None,
    max_moves: int = 1,
) -> AbcResult:
    """Run ABC-SMC (see the module docstring) and return the last generation's population.

    ``min_accepted``: the fewest particles kept alive when a generation sets its threshold
    (default: an eighth of the population, at least 2). ``max_moves``: the most MCMC moves a
    particle tries in a generation; each generation tries R = ceil(ln 0.01 / ln(1 - a)) moves,
    a the previous generation's acceptance rate, so that a particle moves at least once with
    probability about 0.99 (Drovandi & Pettitt 2011), held to 1..``max_moves``; 1 (the default)
    is one move a generation.
    """
    rng = np.random.default_rng(seed)
    d = len(priors)
    n = particles
    need = min(max(2, min_accepted or n // 8), n)

    def to_values(u: np.ndarray) -> list[dict[str, float]]:
        cols = {p.name: p.from_unit(u[:, i]) for i, p in enumerate(priors)}
        return [{p.name: float(cols[p.name][k]) for p in priors} for k in range(len(u))]

    def run(u: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        if len(u) == 0:
            return np.zeros(0), []
        out = simulate_batch(to_values(u))
        dist = np.array([o[0] if math.isfinite(o[0]) else np.inf for o in out], dtype=float)
        return dist, [o[1] for o in out]

    def ess(u: np.ndarray) -> tuple[float, int]:
        _, counts = _distinct(u)
        return effective_sample_size(counts.astype(float)), len(counts)

    result = AbcResult(pd.DataFrame(), [], [], 0)
    u = rng.random((n, d))
    dist, recs = run(u)
    result.simulations += n
    finite = np.isfinite(dist)
    eps = float(dist[finite].max()) if finite.any() else math.inf  # the prior draws, all kept
    e, k = ess(u)
    gen = Generation(0, eps, n, int(finite.sum()), False, e, k)
    result.generations.append(gen)
    if on_generation:
        on_generation(gen)

    for t in range(1, generations):
        # Threshold: the keep quantile of the population, never below epsilon.
        finite = np.isfinite(dist)
        eps_t = max(epsilon, float(np.quantile(dist[finite], keep))) if finite.any() else math.inf
        relaxed = False
        if (dist <= eps_t).sum() < need:
            eps_t, relaxed = float(np.sort(dist)[need - 1]), True
        alive = np.flatnonzero(dist <= eps_t)
        dead = np.flatnonzero(dist > eps_t)
        # Replenish: particles beyond the threshold become copies of particles within it.
        src = rng.choice(alive, size=dead.size)
        u[dead], dist[dead] = u[src], dist[src]
        for i, j in zip(dead.tolist(), src.tolist(), strict=True):
            recs[i] = recs[j]
        # Move: random-walk Metropolis-Hastings steps for every particle, the population's
        # covariance scaled by 2.38^2 / d (Roberts, Gelman & Gilks 1997; wider steps mostly
        # leave the prior's bounds in many dimensions); as many steps as the last acceptance
        # rate needs for most particles to move once, up to max_moves.
        cov = (2.38**2 / d) * np.atleast_2d(np.cov(u.T)) + np.eye(d) * 1e-8
        chol = np.linalg.cholesky(cov)
        n_tried = n_moved = 0
        for _ in range(_moves(result.generations[-1], max_moves) if t > 1 else 1):
            prop = u + rng.standard_normal((n, d)) @ chol.T
            inside = np.all((prop >= 0) & (prop <= 1), axis=1)
            tried = np.flatnonzero(inside)
            d_new, r_new = run(prop[tried])
            result.simulations += tried.size
            take = d_new <= eps_t
            moved = tried[take]
            u[moved], dist[moved] = prop[moved], d_new[take]
            for i, r in zip(
                moved.tolist(), [r for r, ok in zip(r_new, take, strict=True) if ok], strict=True
            ):
                recs[i] = r
            n_tried += tried.size
            n_moved += moved.size
        e, k = ess(u)
        gen = Generation(t, eps_t, n_tried, n_moved, relaxed, e, k)
        result.generations.append(gen)
        if on_generation:
            on_generation(gen)

    # The population within the last threshold (all of it, unless only generation 0 ran).
    ok = np.flatnonzero(dist <= result.generations[-1].epsilon)
    u, dist, recs = u[ok], dist[ok], [recs[i] for i in ok.tolist()]
    first, counts = _distinct(u)
    pop_u = u[first]
    table = pd.DataFrame({p.name: p.from_unit(pop_u[:, i]) for i, p in enumerate(priors)})
    table["weight"] = counts / counts.sum()
    table["distance"] = dist[first]
    table["generation"] = len(result.generations) - 1
    result.particles = table
    result.records = [recs[i] for i in first.tolist()]
    return result


def resample(particles: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` parameter rows drawn from a weighted posterior sample (systematic resampling, so the
    draws follow the weights with the least extra noise); reproducible for a given ``seed``."""
    w = particles["weight"].to_numpy(dtype=float)
    w = w / w.sum()
    rng = np.random.default_rng(seed)
    positions = (rng.random() + np.arange(n)) / n
    idx = np.minimum(np.searchsorted(np.cumsum(w), positions), len(w) - 1)
    return particles.iloc[idx].reset_index(drop=True)
