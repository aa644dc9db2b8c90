"""Named, independent random streams.

One integer seed goes in; each random decision draws from its own ``numpy.random.Generator``,
spawned from ``SeedSequence(seed)`` by a fixed position in ``STREAMS``. Adding draws to one stream
never shifts another, and adding a new stream at the end of ``STREAMS`` never changes the existing
ones.
Nothing in ``sim/`` uses the global ``random`` or ``numpy.random`` state.
"""

from __future__ import annotations

import numpy as np

# Order is part of the reproducibility contract: append new names, never reorder.
STREAMS: tuple[str, ...] = (
    "mesa",  # seeds mesa.Model(rng=...) (agent shuffling)
    "traits",  # firm traits: efficiency, home sectors of stochastic entrants
    "entry",  # stochastic entry counts and entrant kinds
    "funding",  # VC screening noise and round sizes
    "demand",  # taste shocks in user choice
    "regulation",  # filing approval delays
    "exits",  # acquisition and pivot draws
    "roster",  # traits of named firms not fixed by the roster (efficiency)
)


class Streams:
    """A bundle of named generators spawned from one seed.

    >>> s = Streams(42)
    >>> float(s["entry"].random()) == float(Streams(42)["entry"].random())
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


def replication_seeds(root_seed: int, replications: int) -> list[int]:
    """Seeds of ``replications`` independent replications spawned from one root seed.

    The list for N replications is a prefix of the list for N + k, so adding replications keeps the
    earlier ones unchanged.
    """
    children = np.random.SeedSequence(int(root_seed)).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
