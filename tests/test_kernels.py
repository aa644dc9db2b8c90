"""The compiled kernels (``sim.kernels``) against their numpy reference: the same scenario and
seed give the same tables either way (integers, flags and names identical; floats within 1e-9
relative, the last-place differences of compiled ``exp``, ``log`` and ``pow``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.model import GenAIMarket
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
CASES = [
    ("baseline", 0),
    ("baseline", 7),
    ("total_embargo", 1),
    ("subsidy_boom", 2),
    ("vc_winter", 3),
    ("open_source_push", 4),
]


def _tables(name: str, seed: int, kernels: bool) -> dict[str, pd.DataFrame]:
    rec = GenAIMarket(load_scenario(SCENARIOS / f"{name}.yaml"), seed, kernels=kernels).run()
    rec = rec.datacollector
    return {
        "metrics": pd.DataFrame(rec.metrics_columns()),
        "firms": pd.DataFrame(rec.firm_columns()),
        "events": pd.DataFrame(rec.event_columns()),
    }


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        x, y = a[name], b[name]
        assert list(x.columns) == list(y.columns), name
        assert len(x) == len(y), name
        for c in x.columns:
            u, v = x[c].to_numpy(), y[c].to_numpy()
            if u.dtype.kind == "f":
                np.testing.assert_allclose(u, v, rtol=1e-9, atol=0, err_msg=f"{name}.{c}")
            else:
                assert np.array_equal(u, v), f"{name}.{c} differs"


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_kernels_match_numpy_reference(name: str, seed: int) -> None:
    assert_same_tables(_tables(name, seed, kernels=True), _tables(name, seed, kernels=False))
