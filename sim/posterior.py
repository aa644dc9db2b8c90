"""Parameter uncertainty: draw calibrated parameter sets from a posterior sample.

A posterior (``posterior.parquet``, written by ``genai-sim calibrate``) holds parameter draws, one
column per scenario key path (``demand.demand_scale``), and a ``weight`` column. ``run`` and
``compare`` with ``--posterior FILE`` give replication ``i`` the ``i``-th draw: the draws come from
their own stream spawned from the root seed, so every scenario compared gets the *same* draws
(common parameter draws beside common random numbers) and a policy effect is paired on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.params import set_path
from sim.scenario import Scenario, validate_scenario

_POSTERIOR_STREAM = 2**21  # spawn-key namespace of the draws, apart from replication seeds
LABEL = "parameter and stochastic uncertainty"


def load_posterior(path: str | Path) -> pd.DataFrame:
    """Read a posterior sample; ``InputError`` naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, "file not found (a posterior.parquet from calibrate)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise InputError(str(path), None, f"not a Parquet table ({type(exc).__name__})") from None
    params = [c for c in frame.columns if "." in c]
    if "weight" not in frame.columns or not params or frame.empty:
        raise InputError(
            str(path), None, "a posterior needs a 'weight' column and parameter key-path columns"
        )
    for col in (*params, "weight"):
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            raise InputError(str(path), col, "a posterior's columns must hold numbers")
    w = frame["weight"].to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(str(path), "weight", "weights must be finite, >= 0 and not all zero")
    return frame


def parameter_columns(posterior: pd.DataFrame) -> list[str]:
    """The key-path columns of a posterior sample."""
    return [c for c in posterior.columns if "." in c]


def draw(posterior: pd.DataFrame, n: int, root_seed: int) -> list[dict[str, float]]:
    """``n`` parameter sets drawn with replacement in proportion to the weights.

    The same (posterior, n, root seed) always gives the same draws, and the first ``n`` draws are
    a prefix of the first ``n + k``.
    """
    seq = np.random.SeedSequence(int(root_seed), spawn_key=(_POSTERIOR_STREAM,))
    rng = np.random.Generator(np.random.PCG64(seq))
    w = posterior["weight"].to_numpy(dtype=float)
    rows = rng.choice(len(posterior), size=n, replace=True, p=w / w.sum())
    cols = parameter_columns(posterior)
    return [{c: float(posterior.iloc[r][c]) for c in cols} for r in rows]


def with_parameters(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with ``values`` set at their key paths, validated by the schema."""
    data = scenario.model_dump(mode="json")
    for key, value in values.items():
        set_path(data, key, value)
    return validate_scenario(data, f"posterior draw for {scenario.name}")
