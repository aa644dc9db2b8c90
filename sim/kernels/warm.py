"""Importing this module readies every kernel a baseline replication calls, by running one.

numba compiles a kernel on its first call (or loads it from its on-disk cache, about 0.25 s for
all of them in a fresh process). A worker pool's forkserver preloads this module
(``sim.executor.PRELOAD``), so every worker forked from it starts with the kernels ready instead
of paying that on its first job. With kernels off (``GENAI_SIM_KERNELS=0``) it does nothing.
"""

from __future__ import annotations

import sim.kernels

if sim.kernels.ENABLED:
    from sim.model import GenAIMarket

    GenAIMarket(record_firms=False).run()
