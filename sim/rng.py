"""Named, independent random streams, and one stream per firm.

One integer seed goes in. Model-level decisions draw from named streams spawned from
``SeedSequence(seed)`` by their position in ``STREAMS``; every firm draws its own decisions
(traits, taste shocks, funding-screen noise, filing delay, acquisition and pivot draws) from a
stream keyed by its identity: a named firm by its name, the n-th stochastic entrant by n. So:

* adding draws to one stream never shifts another, and a new stream appended to ``STREAMS`` leaves
  the existing ones unchanged;
* under common random numbers, a firm's luck is the same in every scenario in which it exists, so
  differences between scenarios come from the policy, not from reshuffled noise.

Nothing in ``sim/`` uses the global ``random`` or ``numpy.random`` state.
"""

from __future__ import annotations

import zlib

import numpy as np

# Order is part of the reproducibility contract: append new names, never reorder.
STREAMS: tuple[str, ...] = (
    "mesa",  # seeds mesa.Model(rng=...) (agent shuffling)
    "entry",  # stochastic entry counts and entrant kinds
)
_FIRM_NAMESPACE = 2**20  # spawn-key prefix of firm streams, far from the named streams' indices


class Streams:
    """A bundle of named generators spawned from one seed, plus per-firm generators.

    >>> s = Streams(42)
    >>> float(s["entry"].random()) == float(Streams(42)["entry"].random())
    True
    >>> float(s.firm("Baidu").random()) == float(Streams(42).firm("Baidu").random())
    True
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        children = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self._gens = {
            name: np.random.Generator(np.random.PCG64(child))
            for name, child in zip(STREAMS, children, strict=True)
        }
        # An integer for mesa.Model(rng=...), derived from its own child sequence.
        self.mesa_seed = int(children[0].generate_state(1, dtype=np.uint32)[0])

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._gens[name]

    def firm(self, key: str) -> np.random.Generator:
        """The stream of one firm, keyed by a stable identity (CRC-32 of ``key``)."""
        ident = zlib.crc32(key.encode("utf-8"))
        seq = np.random.SeedSequence(self.seed, spawn_key=(_FIRM_NAMESPACE, ident))
        return np.random.Generator(np.random.PCG64(seq))


def replication_seeds(root_seed: int, replications: int) -> list[int]:
    """Seeds of ``replications`` independent replications spawned from one root seed.

    The list for N replications is a prefix of the list for N + k, so adding replications keeps the
    earlier ones unchanged.
    """
    children = np.random.SeedSequence(int(root_seed)).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
