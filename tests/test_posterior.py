"""Parameter uncertainty: drawing calibrated parameter sets and carrying them into runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError
from sim.posterior import draw, load_posterior, with_parameters
from sim.runner import run_many

from .conftest import scenario_with


def _posterior(tmp_path: Path, weights: list[float]) -> Path:
    frame = pd.DataFrame(
        {
            "demand.demand_scale": [0.5, 2.5],
            "capital.chatgpt_shock": [2.0, 7.0],
            "weight": weights,
            "distance": [0.5, 0.6],
        }
    )
    path = tmp_path / "posterior.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_draws_follow_the_weights_and_are_reproducible(tmp_path: Path) -> None:
    post = load_posterior(_posterior(tmp_path, [0.0, 1.0]))
    sets = draw(post, 5, root_seed=3)
    assert all(s["demand.demand_scale"] == 2.5 for s in sets)  # all weight on the second row
    mixed = load_posterior(_posterior(tmp_path, [0.5, 0.5]))
    assert draw(mixed, 8, 3) == draw(mixed, 8, 3)
    assert draw(mixed, 8, 3)[:4] == draw(mixed, 4, 3)
    assert len({s["demand.demand_scale"] for s in draw(mixed, 40, 3)}) == 2


def test_a_bad_posterior_is_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"x": [1.0]}).to_parquet(bad)
    with pytest.raises(InputError, match="weight"):
        load_posterior(bad)
    with pytest.raises(InputError, match="not found"):
        load_posterior(tmp_path / "missing.parquet")


def test_compared_scenarios_share_the_draws_and_the_draws_matter(tmp_path: Path) -> None:
    """Common parameter draws: replication i of every scenario gets the i-th set, so a renamed
    copy still differs by exactly zero, while replications now differ in their parameters."""
    sets = draw(load_posterior(_posterior(tmp_path, [0.5, 0.5])), 4, 11)
    base = scenario_with(end="2024-06")
    copy = scenario_with(end="2024-06", name="copy")
    res = run_many([base, copy], 4, root_seed=11, parameter_sets=sets)[0]
    m = res.metrics
    a = m[m["scenario"] == "baseline"].drop(columns="scenario").reset_index(drop=True)
    b = m[m["scenario"] == "copy"].drop(columns="scenario").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    plain = run_many([base], 4, root_seed=11)[0].metrics
    assert not np.allclose(plain["adopters_m"], a["adopters_m"])
    scales = {s["demand.demand_scale"] for s in sets}
    assert with_parameters(base, sets[0]).demand.demand_scale in scales


def test_run_with_a_posterior_says_what_its_bands_cover(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    base = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
    scenario.write_text(f"extends: {base}\nname: short\nend: 2023-12\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(scenario),
            "-n",
            "2",
            "-w",
            "1",
            "--no-figures",
            "-q",
            "--posterior",
            str(_posterior(tmp_path, [0.5, 0.5])),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "parameter and stochastic uncertainty" in (out / "summary.txt").read_text()
    bad = CliRunner().invoke(app, ["run", str(scenario), "--posterior", str(tmp_path / "no.pq")])
    assert bad.exit_code == 2 and "no.pq" in bad.output
