"""Lazy imports: light commands do not import the heavy libraries they do not need.

Each command runs in a fresh interpreter that then reports which modules got imported
(``sys.modules``); nothing here measures time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import BASELINE, ROOT

HEAVY = ("matplotlib", "mesa", "dask", "distributed", "SALib", "optuna", "solara")

PROBE = """
import json, sys
from sim.cli import app
try:
    app(sys.argv[1:], prog_name="genai-sim")
    code = 0
except SystemExit as exc:
    code = exc.code
top = sorted({name.split(".")[0] for name in sys.modules})
print("\\nIMPORTED " + json.dumps({"exit": code, "modules": top}))
"""


def imported_by(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Exit code of ``genai-sim ARGS`` and the top-level packages it imported."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report = json.loads(out.rsplit("IMPORTED ", 1)[1])
    return report["exit"], set(report["modules"])


def test_help_imports_only_the_cli(tmp_path: Path) -> None:
    code, modules = imported_by(["--help"], tmp_path)
    assert code == 0
    assert "typer" in modules  # the probe sees imports
    assert not modules & {*HEAVY, "pandas", "numpy", "scipy", "pydantic"}


def test_validate_reads_scenarios_without_the_model_or_plotting(tmp_path: Path) -> None:
    code, modules = imported_by(["validate", str(BASELINE)], tmp_path)
    assert code == 0
    assert {"yaml", "pydantic"} <= modules
    assert not modules & {*HEAVY, "pandas", "scipy"}


def test_run_without_figures_never_imports_matplotlib(tmp_path: Path) -> None:
    short = tmp_path / "short.yaml"
    short.write_text(f"extends: {BASELINE}\nend: 2021-12\n", encoding="utf-8")
    out = tmp_path / "out"
    code, modules = imported_by(
        ["run", str(short), "--no-figures", "-n", "1", "-q", "-o", str(out)], ROOT
    )
    assert code == 0 and (out / "metrics.parquet").is_file()
    assert "mesa" in modules  # the model ran in this process
    assert not modules & {"matplotlib", "dask", "distributed", "SALib", "optuna"}


def test_dashboard_help_imports_neither_solara_nor_the_model(tmp_path: Path) -> None:
    code, modules = imported_by(["dashboard", "--help"], tmp_path)
    assert code == 0
    assert "typer" in modules
    assert not modules & {*HEAVY, "pandas", "numpy", "playwright"}
