"""Compiled kernels (numba) for the month's array pipelines.

A month makes several hundred numpy calls on arrays of about 65 firms, each costing more in
numpy's call machinery than in arithmetic (``docs/notes/speed.md``). A kernel runs one stage's
array pipeline in a single compiled call, looping over firms and segments.

Every kernel has a reference: the stage's numpy path, which stays in the phase method and runs
when kernels are off (``GenAIMarket(kernels=False)``, or ``GENAI_SIM_KERNELS=0`` in the
environment). ``tests/test_kernels.py`` runs scenarios both ways and requires the same tables:
integers, flags and names identical, floats within 1e-9 relative (the compiled ``exp``, ``log``
and ``pow`` may differ from numpy's in the last place; the order of operations is kept).

Conventions for a kernel:

* ``@jit`` (``numba.njit`` with an on-disk cache, the numpy error model so a division by zero
  gives inf or NaN as in numpy, and no fastmath, which would reorder arithmetic);
* arguments are arrays and scalars (never scenario objects); outputs are written into arrays
  the caller passes, or returned as scalars;
* the same operations in the same order as the numpy path, element by element.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: Whether models use the compiled kernels unless told otherwise.
ENABLED: bool = os.environ.get("GENAI_SIM_KERNELS", "1") != "0"


def jit[F: Callable[..., Any]](fn: F) -> F:
    """Compile ``fn`` with numba (cached on disk, numpy's error model, exact arithmetic)."""
    import numba

    return numba.njit(cache=True, error_model="numpy", fastmath=False)(fn)
