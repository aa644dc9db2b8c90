"""Sweeps: same table on every executor, resumable, clear errors, correct Sobol indices."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import sweep as sw
from sim.cli import app
from sim.executor import DaskExecutor, ProcessExecutor, SequentialExecutor

from .conftest import BASELINE

runner = CliRunner()


def write_sweep(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body.replace("BASE", str(BASELINE)), encoding="utf-8")
    return path


TINY = """name: tiny
base: BASE
end: 2023-06
replications: 2
seed: 3
design: {kind: grid}
parameters:
  - {path: policy.subsidy_scale, values: [0.0, 2.0]}
  - {path: entry.base_rate_per_month, values: [0.3, 0.8]}
outcomes: [peak_month, exits_pivoted]
"""


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["error"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def sequential_table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("seq")
    spec = sw.load_sweep(write_sweep(tmp, TINY))
    return sw.run_sweep(spec, tmp / "out", SequentialExecutor())


def test_grid_runs_every_combination(sequential_table: pd.DataFrame) -> None:
    assert len(sequential_table) == 2 * 2 * 2
    assert (sequential_table["error"] == "").all()
    combos = sequential_table[["policy.subsidy_scale", "entry.base_rate_per_month"]]
    assert len(combos.drop_duplicates()) == 4
    # Common random numbers: replication r has the same seed at every point.
    assert sequential_table.groupby("replication")["seed"].nunique().eq(1).all()


def test_local_processes_give_the_same_table(
    tmp_path: Path, sequential_table: pd.DataFrame
) -> None:
    spec = sw.load_sweep(write_sweep(tmp_path, TINY))
    executor = ProcessExecutor(2)
    try:
        table = sw.run_sweep(spec, tmp_path / "out", executor)
    finally:
        executor.close()
    pd.testing.assert_frame_equal(comparable(table), comparable(sequential_table))


def test_dask_local_cluster_gives_the_same_table(
    tmp_path: Path, sequential_table: pd.DataFrame
) -> None:
    spec = sw.load_sweep(write_sweep(tmp_path, TINY))
    executor = DaskExecutor(local=2)
    try:
        table = sw.run_sweep(spec, tmp_path / "out", executor)
    finally:
        executor.close()
    pd.testing.assert_frame_equal(comparable(table), comparable(sequential_table))


class Killed(Exception):
    pass


class DiesAfter(SequentialExecutor):
    """Stops the sweep after ``n`` runs, as a kill would."""

    def __init__(self, n: int) -> None:
        self.n = n

    def as_completed(self, fn, items):  # type: ignore[no-untyped-def]
        for i, pair in enumerate(super().as_completed(fn, items)):
            if i == self.n:
                raise Killed
            yield pair


def test_a_killed_sweep_resumes_to_the_same_table(
    tmp_path: Path, sequential_table: pd.DataFrame
) -> None:
    spec = sw.load_sweep(write_sweep(tmp_path, TINY))
    folder = tmp_path / "out"
    with pytest.raises(Killed):
        sw.run_sweep(spec, folder, DiesAfter(3))
    assert len(sw.RunStore(folder).done()) == 3
    calls: list[int] = []
    table = sw.run_sweep(spec, folder, SequentialExecutor(), on_done=lambda: calls.append(1))
    assert len(calls) == 8 - 3  # only the missing runs ran
    pd.testing.assert_frame_equal(comparable(table), comparable(sequential_table))


def test_job_keys_hash_the_canonical_json_of_the_scenario_and_the_seed(tmp_path: Path) -> None:
    spec = sw.load_sweep(write_sweep(tmp_path, TINY))
    all_jobs = sw.jobs(spec)
    assert len({j.key for j in all_jobs}) == len(all_jobs) == 8
    assert [j.key for j in sw.jobs(spec)] == [j.key for j in all_jobs]  # stable: resumable
    job = all_jobs[-1]
    data = json.loads(job.scenario_json)
    assert data["policy"]["subsidy_scale"] == dict(job.values)["policy.subsidy_scale"]
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert job.scenario_json == canonical
    assert job.key == hashlib.sha256(f"{canonical}\n#seed={job.seed}".encode()).hexdigest()[:20]
    assert sw.run_key(job.scenario_json, job.seed + 1) != job.key


def test_a_failed_run_is_recorded_with_its_reason() -> None:
    job = sw.Job("k", 0, 0, 1, (("x", 1.0),), '{"name": "broken"}')
    result = sw.execute_job(job)
    assert (
        "InputError" in result["row"]["error"]
        and "required key is missing" in result["row"]["error"]
    )
    assert result["row"]["key"] == "k" and result["metrics"].empty


@pytest.mark.parametrize(
    ("patch", "key_path", "message"),
    [
        (
            "  - {path: policy.subsidy_scal, values: [0, 1]}\n",
            "parameters[2].path",
            "not a key of Policy",
        ),
        ("  - {path: demand.churn_per_month, range: [0.5, 0.5]}\n", "parameters[2]", "empty"),
        (
            "  - {path: demand.churn_per_month, values: [0.1, 3.0]}\n",
            "parameters[2].values",
            "less than or equal to 1",
        ),
        ("  - {path: policy.export_controls, values: [1]}\n", "parameters[2].path", "not a number"),
    ],
)
def test_bad_parameters_exit_2(tmp_path: Path, patch: str, key_path: str, message: str) -> None:
    body = TINY.replace("outcomes:", patch + "outcomes:")
    res = runner.invoke(
        app, ["sweep", str(write_sweep(tmp_path, body)), "--out", str(tmp_path / "out"), "-q"]
    )
    assert res.exit_code == 2, res.output
    assert key_path in res.output and message in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("old", "new", "key_path"),
    [
        ("{kind: grid}", "{kind: factorial}", "design.kind"),
        ("[peak_month, exits_pivoted]", "[peak_month, happiness]", "outcomes[1]"),
        ("end: 2023-06", "end: 2023-06\nbogus: 1", "bogus"),
    ],
)
def test_bad_sweep_files_exit_2(tmp_path: Path, old: str, new: str, key_path: str) -> None:
    res = runner.invoke(
        app,
        [
            "sweep",
            str(write_sweep(tmp_path, TINY.replace(old, new))),
            "--out",
            str(tmp_path / "out"),
            "-q",
        ],
    )
    assert res.exit_code == 2, res.output
    assert key_path in res.output and "s.yaml" in res.output


def test_cli_sweep_writes_outputs_and_dry_run_estimates(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, TINY)
    dry = runner.invoke(app, ["sweep", str(path), "--dry-run", "--out", str(tmp_path / "o")])
    assert dry.exit_code == 0 and "8 runs" in dry.output and "estimated" in dry.output
    res = runner.invoke(app, ["sweep", str(path), "-w", "1", "-q", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    names = {p.name for p in (tmp_path / "o").iterdir()}
    assert {
        "outcomes.parquet",
        "outcomes.csv",
        "point_means.csv",
        "manifest.json",
        "summary.txt",
        "figures",
        "runs",
    } <= names
    figs = {p.name for p in (tmp_path / "o" / "figures").iterdir()}
    assert "heatmap_peak_month.png" in figs and "consolidation_selected.png" in figs


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_the_ishigami_function_through_our_path(tmp_path: Path) -> None:
    """Sampling in the unit cube, rescaling and analysis recover the known indices.

    Ishigami (a=7, b=0.1) on [-pi, pi]^3: S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437)
    (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer).
    """
    spec = sw.SweepSpec.model_validate(
        {
            "name": "ishigami",
            "base": "unused.yaml",
            "outcomes": ["y"],
            "design": {"kind": "sobol", "samples": 2048, "seed": 5},
            "parameters": [{"path": f"x{i}", "range": [-math.pi, math.pi]} for i in (1, 2, 3)],
        }
    )
    sweep = sw.Sweep(spec, tmp_path / "unused.yaml", {})
    points = sw.design_points(sweep)
    assert points.min().min() >= -math.pi and points.max().max() <= math.pi
    y = pd.DataFrame({"y": ishigami(points.to_numpy())})
    s = sw.sensitivity_indices(sweep, y).set_index("parameter")
    np.testing.assert_allclose(s.loc[["x1", "x2", "x3"], "S1"], [0.3139, 0.4424, 0.0], atol=0.05)
    np.testing.assert_allclose(s.loc[["x1", "x2", "x3"], "ST"], [0.5576, 0.4424, 0.2437], atol=0.05)


def test_morris_ranks_the_ishigami_inputs(tmp_path: Path) -> None:
    """Morris elementary effects on Ishigami: x1 matters most; x3, with no first-order effect,
    is still detected (it acts through its interaction with x1), which shows as a larger
    sigma / mu* than x2's (x2 acts alone)."""
    spec = sw.SweepSpec.model_validate(
        {
            "name": "ishigami",
            "base": "unused.yaml",
            "outcomes": ["y"],
            "design": {"kind": "morris", "samples": 100, "levels": 8, "seed": 2},
            "parameters": [{"path": f"x{i}", "range": [-math.pi, math.pi]} for i in (1, 2, 3)],
        }
    )
    sweep = sw.Sweep(spec, tmp_path / "unused.yaml", {})
    y = pd.DataFrame({"y": ishigami(sw.design_points(sweep).to_numpy())})
    m = sw.sensitivity_indices(sweep, y).set_index("parameter")
    assert m["mu_star"].idxmax() == "x1"
    assert m.loc["x3", "mu_star"] > 1.0
    ratio = m["sigma"] / m["mu_star"]
    assert ratio["x3"] > ratio["x2"]


def test_declared_outcomes_at_any_month_and_keyed_per_run_tables(tmp_path: Path) -> None:
    body = TINY.replace(
        "[peak_month, exits_pivoted]",
        "[active_developers@2023-03, market_bn_rmb_2022, exits_pivoted]",  # an old alias too
    ).replace("replications: 2", "replications: 1")
    spec = sw.load_sweep(write_sweep(tmp_path, body))
    assert spec.outcome_names == ["active_developers@2023-03", "market_size@2022", "exits_pivoted"]
    folder = tmp_path / "out"
    table = sw.run_sweep(spec, folder, SequentialExecutor())
    store = sw.RunStore(folder)
    params = ["policy.subsidy_scale", "entry.base_rate_per_month"]
    for row in table.itertuples(index=False):
        m = store.metrics(row.key)
        assert list(m.columns[:9]) == [
            "scenario", "replication", "seed", "month", "date", "point", *params, "key"
        ]  # fmt: skip
        assert (m["point"] == row.point).all() and (m["seed"] == row.seed).all()
        at = m.loc[m["date"] == "2023-03", "active_developers"].iloc[0]
        assert table.loc[table["key"] == row.key, "active_developers@2023-03"].iloc[0] == at
        in_2022 = m[m["date"].str.startswith("2022")]["market_m_rmb"].sum() / 1000
        got = table.loc[table["key"] == row.key, "market_size@2022"].iloc[0]
        assert got == pytest.approx(in_2022)
    assert list(table.columns[:5]) == ["point", *params, "replication", "seed"]
    # Asking for another outcome later reruns the stored runs that lack it.
    again = sw.load_sweep(write_sweep(tmp_path, body.replace("exits_pivoted", "peak_month")))
    calls: list[int] = []
    table2 = sw.run_sweep(again, folder, SequentialExecutor(), on_done=lambda: calls.append(1))
    assert len(calls) == 4 and table2["peak_month"].notna().all()


def test_an_outcome_after_the_sweep_horizon_is_refused(tmp_path: Path) -> None:
    body = TINY.replace("[peak_month, exits_pivoted]", "[peak_month, market_size@2023]")
    res = runner.invoke(app, ["sweep", str(write_sweep(tmp_path, body)), "--dry-run"])
    assert res.exit_code == 2
    assert "outcomes[1]" in res.output and "outside the simulated months" in res.output


DECLARED = """declare:
  independent:
    expression: active_startup + active_institute + active_vertical
    unit: count
    definition: developers that are not a megatech's unit
"""


def test_a_sweep_reports_series_it_declares_and_reruns_when_a_definition_changes(
    tmp_path: Path,
) -> None:
    body = (
        TINY.replace("[peak_month, exits_pivoted]", "[independent@2023-05, peak_month]").replace(
            "replications: 2", "replications: 1"
        )
        + DECLARED
    )
    spec = sw.load_sweep(write_sweep(tmp_path, body))
    folder = tmp_path / "out"
    table = sw.run_sweep(spec, folder, SequentialExecutor())
    store = sw.RunStore(folder)
    for row in table.itertuples(index=False):
        m = store.metrics(row.key)
        at = m[m["date"] == "2023-05"].iloc[0]
        got = table.loc[table["key"] == row.key, "independent@2023-05"].iloc[0]
        assert got == at["active_startup"] + at["active_institute"] + at["active_vertical"]
    # Same outcome name, another definition: the stored values are stale and are recomputed.
    changed = body.replace(
        "active_startup + active_institute + active_vertical", "active_startup * 100"
    )
    calls: list[int] = []
    again = sw.load_sweep(write_sweep(tmp_path, changed))
    table2 = sw.run_sweep(again, folder, SequentialExecutor(), on_done=lambda: calls.append(1))
    assert len(calls) == len(table)
    for row in table2.itertuples(index=False):
        m = store.metrics(row.key)
        start = m.loc[m["date"] == "2023-05", "active_startup"].iloc[0]
        assert table2.loc[table2["key"] == row.key, "independent@2023-05"].iloc[0] == 100 * start
    # Unchanged: nothing reruns.
    calls.clear()
    sw.run_sweep(again, folder, SequentialExecutor(), on_done=lambda: calls.append(1))
    assert calls == []


def test_a_sweep_with_a_bad_declaration_exits_2_before_running(tmp_path: Path) -> None:
    body = TINY.replace("[peak_month, exits_pivoted]", "[independent@2023-05]") + DECLARED.replace(
        "active_startup + active_institute", "active_startup + __import__('os')"
    )
    res = runner.invoke(
        app, ["sweep", str(write_sweep(tmp_path, body)), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "declare.independent.expression" in res.output and "s.yaml" in res.output
    assert not (tmp_path / "o").exists()


def test_heatmap_noise_marks_cells_the_replications_cannot_tell_apart() -> None:
    from sim.plots import cell_noise

    rng = np.random.default_rng(0)
    rows = []
    for rep in range(6):
        shock = rng.normal(0, 5.0)  # shared by every cell of a replication (common seeds)
        for x in (0.0, 1.0):
            for y in (0.0, 1.0):
                level = {(0.0, 0.0): 10.0, (1.0, 0.0): 10.2, (0.0, 1.0): 8.7, (1.0, 1.0): 10.1}
                noise = rng.normal(0, 0.5)
                rows.append(
                    {"replication": rep, "x": x, "y": y, "v": level[(x, y)] + shock + noise}
                )
    cells = cell_noise(pd.DataFrame(rows), "x", "y", "v")
    assert cells["best"].sum() == 1
    # 1.5 below the best (cell x=0, y=1; the index is (y, x)): told apart by pairing replications,
    # though the shock all cells of a replication share makes unpaired errors far larger.
    low = (1.0, 0.0)
    assert not cells.loc[low, "tied_with_best"]
    unpaired = np.sqrt(cells.loc[low, "se"] ** 2 + cells.loc[cells["best"], "se"].iloc[0] ** 2)
    gap = cells.loc[cells["best"], "mean"].iloc[0] - cells.loc[low, "mean"]
    assert 1.96 * unpaired > gap  # an unpaired test could not have told
    # Within a fraction of the noise of the best: tied.
    others = cells[~cells["best"] & (cells.index != (1.0, 0.0))]
    assert others["tied_with_best"].all()


def _posterior_file(tmp_path: Path, **columns: list[float]) -> Path:
    frame = pd.DataFrame({**columns, "weight": [0.5, 0.5]})
    path = tmp_path / "posterior.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_a_sweep_draws_parameters_from_a_posterior_common_across_points(tmp_path: Path) -> None:
    """Replication i of every point runs with posterior draw i (as compare does); a swept
    parameter keeps the point's value even when the posterior holds it too."""
    from sim.posterior import draw, load_posterior

    post = _posterior_file(
        tmp_path,
        **{"demand.demand_scale": [0.5, 2.5], "entry.base_rate_per_month": [0.1, 1.9]},
    )
    spec = sw.load_sweep(write_sweep(tmp_path, TINY + "posterior: posterior.parquet\n"))
    expected = draw(load_posterior(post), 2, 3)
    assert spec.draws == expected
    plain = {j.key for j in sw.jobs(sw.load_sweep(write_sweep(tmp_path, TINY, "plain.yaml")))}
    for job in sw.jobs(spec):
        data = json.loads(job.scenario_json)
        assert data["demand"]["demand_scale"] == expected[job.replication]["demand.demand_scale"]
        assert data["entry"]["base_rate_per_month"] == dict(job.values)["entry.base_rate_per_month"]
        assert job.key not in plain  # the draw is part of the run, so of its key
    table = sw.run_sweep(spec, tmp_path / "out", SequentialExecutor())
    plain_table = sw.run_sweep(
        sw.load_sweep(tmp_path / "plain.yaml"), tmp_path / "plain", SequentialExecutor()
    )
    assert (table["error"] == "").all()
    # The same seeds with drawn potential users (0.5 or 2.5 times): the runs are not the plain
    # sweep's at the same point and replication.
    cols = ["point", "replication", "peak_month", "exits_pivoted"]
    assert not table[cols].equals(plain_table[cols])


def test_a_posterior_of_the_base_values_gives_the_plain_sweep(tmp_path: Path) -> None:
    """Draws equal to the base scenario's own values change nothing: the same runs, the same
    keys (so a resumed sweep reuses them)."""
    from sim.scenario import load_scenario

    base = load_scenario(BASELINE).demand.demand_scale
    _posterior_file(tmp_path, **{"demand.demand_scale": [base, base]})
    drawn = sw.jobs(sw.load_sweep(write_sweep(tmp_path, TINY + "posterior: posterior.parquet\n")))
    plain = sw.jobs(sw.load_sweep(write_sweep(tmp_path, TINY, "plain.yaml")))
    assert [j.key for j in drawn] == [j.key for j in plain]


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        (None, "file not found"),
        ({"demand.no_such_key": [1.0, 2.0]}, "no_such_key"),
        ({"demand.demand_scale": [-1.0, 1.0]}, "demand_scale"),
    ],
)
def test_a_bad_sweep_posterior_exits_2_before_running(
    tmp_path: Path, columns: dict[str, list[float]] | None, words: str
) -> None:
    if columns is not None:
        _posterior_file(tmp_path, **columns)
    path = write_sweep(tmp_path, TINY + "posterior: posterior.parquet\n")
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert words in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
