"""Every scenario file in scenarios/ loads and runs a few months."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import run_replication
from sim.scenario import load_scenario

from .conftest import SCENARIOS

FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert any(p.name == "baseline.yaml" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_loads_and_runs(path: Path) -> None:
    sc = load_scenario(path, {"end": "2023-09"})  # past the first entries and policy steps
    result = run_replication(sc, seed=1)
    assert len(result.metrics) == sc.n_months == 33
    assert result.metrics["active_developers"].iloc[-1] > 0
    assert result.metrics["scenario"].eq(sc.name).all()
