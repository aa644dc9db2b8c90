"""Importing this module readies every kernel a baseline replication calls, by running one.

numba compiles a kernel on its first call (or loads it from its on-disk cache, about 0.25 s for
all of them in a fresh process). A worker pool's forkserver preloads this module
(``sim.executor.PRELOAD``), so every worker forked from it starts with the kernels ready instead
of paying that on its first job. With kernels off (``GENAI_SIM_KERNELS=0``) it does nothing, and
where the baseline scenario cannot be run (a package installed without the repository's
``scenarios/``) it leaves the kernels to load on first use: warming is an optimisation, and the
forkserver must not fail for it.
"""

from __future__ import annotations

import sim.kernels

if sim.kernels.ENABLED:
    from sim.errors import InputError
    from sim.model import GenAIMarket

    try:
        GenAIMarket(record_firms=False).run()
    except (OSError, InputError):  # e.g. no scenarios/baseline.yaml beside the package
        pass
