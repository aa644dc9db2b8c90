"""The command line: a run writes a complete folder; bad input exits 2 with one clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app

from .conftest import BASELINE, ROOT

runner = CliRunner()


def tiny(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(f"extends: {BASELINE}\nname: tiny\nend: 2023-12\n{extra}", encoding="utf-8")
    return path


def test_run_writes_a_complete_results_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["run", str(tiny(tmp_path)), "-n", "2", "-w", "1", "-q", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    expected = {
        "scenario.resolved.yaml",
        "manifest.json",
        "metrics.parquet",
        "firms.parquet",
        "events.parquet",
        "metrics.csv",
        "events.csv",
        "summary.txt",
        "summary.json",
        "figures",
    }
    assert expected <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "figures").iterdir()} == {
        "consolidation.png",
        "market_size.png",
        "concentration.png",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["replications"] == 2 and len(manifest["replication_seeds"]) == 2
    assert manifest["versions"]["mesa"].startswith("3.")
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(metrics.columns[:5]) == ["scenario", "replication", "seed", "month", "date"]
    assert set(metrics["seed"]) == set(manifest["replication_seeds"])
    assert len(metrics) == 2 * 36
    # The summary printed is the one saved.
    assert (out / "summary.txt").read_text().strip() in res.output
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.parametrize(
    ("extra", "key_path"),
    [
        ("demand:\n  demand_scal: 2\n", "demand.demand_scal"),
        ("replications: many\n", "replications"),
        ("demand:\n  churn_per_month: 3\n", "demand.churn_per_month"),
        ("end: 2030-13\n", "end"),
    ],
)
def test_bad_scenario_exits_2_without_output_folder(
    tmp_path: Path, extra: str, key_path: str
) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(tiny(tmp_path, extra)), "-q", "--out", str(out)])
    assert res.exit_code == 2
    assert "tiny.yaml" in res.output and key_path in res.output
    assert "Traceback" not in res.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.yaml"]


def test_occupied_output_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["run", str(tiny(tmp_path)), "-q", "--out", str(out)])
    assert res.exit_code == 2 and "not empty" in res.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_validate(tmp_path: Path) -> None:
    good = runner.invoke(app, ["validate", str(BASELINE)])
    assert good.exit_code == 0 and "ok:" in good.output
    bad = runner.invoke(app, ["validate", str(tiny(tmp_path, "seed: -3\n"))])
    assert bad.exit_code == 2 and "seed" in bad.output


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The installed entry point itself (not the test runner) exits 2 with one line on stderr."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sim.cli import main; main()",
            "run",
            str(tmp_path / "missing.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert "missing.yaml: file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_default_workers_one_per_two_replications_within_the_cpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim import cli

    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    assert [cli.default_workers(n) for n in (1, 2, 3, 4, 5, 6, 8, 100)] == [1, 1, 1, 2, 2, 3, 4, 4]


def test_validate_recognises_sweep_and_calibration_files(tmp_path: Path) -> None:
    from .conftest import BASELINE

    root = BASELINE.parent.parent
    sweeps = sorted((root / "scenarios" / "sweeps").glob("*.yaml"))
    res = runner.invoke(
        app, ["validate", *map(str, sweeps), str(root / "calibration" / "calibrate.yaml")]
    )
    assert res.exit_code == 0, res.output
    assert "sweep 'export_x_subsidy', grid design, 75 runs" in res.output
    assert "market_size@2028" in res.output and "calibration 'calibration'" in res.output
    assert "required key is missing" not in res.output
    bad = tmp_path / "bad_sweep.yaml"
    text = (root / "scenarios" / "sweeps" / "export_x_subsidy.yaml").read_text()
    bad.write_text(
        text.replace("base: ../baseline.yaml", f"base: {BASELINE}").replace(
            "market_size@2028", "market_size@2035"
        )
    )
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    assert "outcomes[2]" in res.output and "outside the simulated months" in res.output
    assert "required key is missing" not in res.output


def test_validate_recognises_an_outcomes_file(tmp_path: Path) -> None:
    from .conftest import SCENARIOS

    res = runner.invoke(app, ["validate", str(SCENARIOS / "outcomes" / "examples.yaml")])
    assert res.exit_code == 0, res.output
    assert "outcomes file, declares independent_developers" in res.output
    bad = tmp_path / "mine.yaml"
    bad.write_text("declare:\n  x: {expression: '1 +', unit: u, definition: d}\n")
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    assert "mine.yaml: declare.x.expression: not an expression" in res.output
    assert "required key is missing" not in res.output
