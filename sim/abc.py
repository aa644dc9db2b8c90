"""Approximate Bayesian computation by sequential Monte Carlo (ABC-SMC, population Monte Carlo).

A small, self-contained implementation for an expensive simulator (a calibration trial costs
about a second of CPU), in the form of Beaumont et al. (2009) and Toni et al. (2009) with a fixed
number of proposals per generation, so that the cost of a fit is known before it starts:

1. Generation 0 draws ``particles`` parameter vectors from the prior (uniform on each parameter's
   bounds, on a log scale for log-scale parameters), simulates each and computes its distance to
   the data (``distance``: for the calibration, the largest target error in tolerance units, so a
   distance of 1 means every target is met within its tolerance).
2. Each later generation sets its threshold to the ``keep`` quantile of the previous accepted
   distances (never below ``epsilon``), draws ``particles`` proposals by picking an accepted
   particle by weight and moving it with a Gaussian kernel (twice the weighted covariance of the
   accepted population; a proposal outside the bounds is drawn again, particle and move), and
   accepts the proposals within the threshold. Weights are prior / proposal density,
   ``1 / sum_j W_j K(theta | theta_j)`` (the prior is flat on the search scale).
3. If fewer than ``min_accepted`` proposals fall within a threshold, the threshold is relaxed to the
   ``min_accepted``-th smallest distance of that generation and the relaxation is recorded: the
   population is then an approximation at a wider tolerance, which the diagnostics say.

The accepted particles of the last generation, with normalised weights, are the posterior sample.
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
    proposals: int
    accepted: int
    relaxed: bool
    ess: float

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
        """Generation, threshold, proposals, accepted, acceptance rate, ESS, relaxed."""
        return pd.DataFrame(
            [
                {
                    "generation": g.index,
                    "epsilon": g.epsilon,
                    "proposals": g.proposals,
                    "accepted": g.accepted,
                    "acceptance_rate": g.acceptance_rate,
                    "ess": g.ess,
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


def _kernel_density(
    points: np.ndarray, centres: np.ndarray, weights: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """``sum_j W_j N(point; centre_j, cov)`` for each point (unnormalised constant omitted:
    it is the same for every point and cancels in the weights)."""
    inv = np.linalg.inv(cov)
    diff = points[:, None, :] - centres[None, :, :]
    maha = np.einsum("ijk,kl,ijl->ij", diff, inv, diff)
    return np.exp(-0.5 * maha) @ weights


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
) -> AbcResult:
    """Run ABC-SMC (see the module docstring) and return the last generation's population."""
    rng = np.random.default_rng(seed)
    d = len(priors)
    need = min_accepted or max(3, particles // 8)
    need = min(need, particles)

    def to_values(u: np.ndarray) -> list[dict[str, float]]:
        cols = {p.name: p.from_unit(u[:, i]) for i, p in enumerate(priors)}
        return [{p.name: float(cols[p.name][k]) for p in priors} for k in range(len(u))]

    def run(u: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        out = simulate_batch(to_values(u))
        dist = np.array([o[0] if math.isfinite(o[0]) else np.inf for o in out], dtype=float)
        return dist, [o[1] for o in out]

    result = AbcResult(pd.DataFrame(), [], [], 0)
    u = rng.random((particles, d))
    dist, recs = run(u)
    result.simulations += particles
    eps = (
        max(epsilon, float(np.quantile(dist[np.isfinite(dist)], keep)))
        if np.isfinite(dist).any()
        else math.inf
    )
    acc = dist <= eps
    relaxed = False
    if acc.sum() < need:
        eps, relaxed = float(np.sort(dist)[need - 1]), True
        acc = dist <= eps
    pop_u, pop_d = u[acc], dist[acc]
    pop_w = np.full(len(pop_u), 1.0 / len(pop_u))
    pop_r = [r for r, a in zip(recs, acc, strict=True) if a]
    pop_g = np.zeros(len(pop_u), dtype=int)
    gen = Generation(0, eps, particles, int(acc.sum()), relaxed, effective_sample_size(pop_w))
    result.generations.append(gen)
    if on_generation:
        on_generation(gen)

    for t in range(1, generations):
        eps_t = max(epsilon, float(np.quantile(pop_d, keep)))
        if len(pop_u) > 1:
            cov = 2.0 * np.atleast_2d(np.cov(pop_u.T, aweights=pop_w))
        else:
            cov = np.eye(d) * 0.01
        cov = cov + np.eye(d) * 1e-8  # a population collapsed on a line stays invertible
        chol = np.linalg.cholesky(cov)
        prop = np.empty((particles, d))
        filled = 0
        while filled < particles:
            j = rng.choice(len(pop_u), size=particles - filled, p=pop_w)
            cand = pop_u[j] + rng.standard_normal((len(j), d)) @ chol.T
            inside = cand[np.all((cand >= 0) & (cand <= 1), axis=1)]
            prop[filled : filled + len(inside)] = inside
            filled += len(inside)
        dist, recs = run(prop)
        result.simulations += particles
        acc = dist <= eps_t
        relaxed = False
        if acc.sum() < need:
            eps_t, relaxed = float(np.sort(dist)[need - 1]), True
            acc = dist <= eps_t
        new_u = prop[acc]
        dens = _kernel_density(new_u, pop_u, pop_w, cov)
        w = 1.0 / np.maximum(dens, 1e-300)
        pop_u, pop_d, pop_w = new_u, dist[acc], w / w.sum()
        pop_r = [r for r, a in zip(recs, acc, strict=True) if a]
        pop_g = np.full(len(pop_u), t)
        gen = Generation(t, eps_t, particles, int(acc.sum()), relaxed, effective_sample_size(pop_w))
        result.generations.append(gen)
        if on_generation:
            on_generation(gen)

    table = pd.DataFrame({p.name: p.from_unit(pop_u[:, i]) for i, p in enumerate(priors)})
    table["weight"] = pop_w
    table["distance"] = pop_d
    table["generation"] = pop_g
    result.particles = table
    result.records = pop_r
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
