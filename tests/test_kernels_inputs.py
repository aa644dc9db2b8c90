"""The input markets' kernel helpers (``sim.kernels.npmath``, ``sim.kernels.inputs``) against
numpy: the same bits for exp, log, log10, power and the pairwise sum."""

from __future__ import annotations

import numpy as np

from sim.kernels import npmath
from sim.kernels.inputs import _sum


def test_npmath_matches_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    pos = np.concatenate([rng.uniform(0, 1e6, 500), rng.uniform(0, 2, 500), [0.0, np.inf]])
    exps = rng.uniform(-30, 30, 1000)
    with np.errstate(all="ignore"):
        assert [npmath.exp(x) for x in exps] == np.exp(exps).tolist()
        assert [npmath.log(x) for x in pos] == np.log(pos).tolist()
        assert [npmath.log10(x) for x in pos] == np.log10(pos).tolist()
        assert [npmath.power(x, 0.35) for x in pos] == np.power(pos, 0.35).tolist()
        assert [npmath.power(10.0, x) for x in exps] == np.power(10.0, exps).tolist()


def test_sum_is_numpys_pairwise_sum() -> None:
    rng = np.random.default_rng(1)
    for n in [*range(20), 64, 127, 128, 129, 300, 1000, 2049]:
        a = rng.standard_normal(n) * 10.0 ** rng.uniform(-5, 5, n)
        assert _sum(a) == np.add.reduce(a)
