"""Property-based fuzzing of the command line: random mutations of the shipped files and of the
arguments end in exit 0 or 2, never a traceback, and nothing is written outside the out folder.

Commands run in-process (typer's CliRunner) and are chosen to be cheap: ``validate``,
``sweep --dry-run`` and runs of a seven-month scenario with one replication and no figures.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.cli import app

from .conftest import ROOT

runner = CliRunner()
SHIPPED = ROOT / "scenarios"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Values that have broken loaders before: wrong types, YAML oddities, huge or absurd values.
NASTY = [
    "true",
    "'yes'",
    "yes",
    "-1",
    "0",
    "1e308",
    "-1e308",
    ".nan",
    ".inf",
    "''",
    "~",
    "[",
    "{",
    "[1, 2]",
    "{a: 1}",
    "!!binary aGk=",
    "!!set {a, b}",
    "!!python/object/apply:os.system ['true']",
    "&x 1",
    "*x",
    "9999-12",
    "1900-01",
    "2030-13",
    "1:30",
    "0x1F",
    "'" + "x" * 5000 + "'",
    "\t",
    "caf\u00e9",
    "\x00",
]


def mutate(text: str, data: st.DataObject) -> str:
    """Apply one to three random line-level mutations to ``text``."""
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        kind = data.draw(
            st.sampled_from(["value", "delete", "duplicate", "indent", "truncate", "insert"]),
            label="kind",
        )
        line = lines[i]
        if kind == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(st.sampled_from(NASTY), label='value')}"
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "indent":
            lines[i] = "  " + line
        elif kind == "truncate":
            lines[i] = line[: data.draw(st.integers(0, max(len(line) - 1, 0)), label="cut")]
        else:
            lines.insert(i, data.draw(st.text(max_size=30), label="inserted"))
    return "\n".join(lines) + "\n"


def run_in(folder: Path, args: list[str]) -> tuple[int, str]:
    """Run the CLI in ``folder``; fail on any exception other than a clean exit."""
    old = Path.cwd()
    os.chdir(folder)
    try:
        res = runner.invoke(app, args)
    finally:
        os.chdir(old)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"{args}: {type(res.exception).__name__}: {res.exception}")
    return res.exit_code, res.output


def files_of(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def fresh_copy() -> Path:
    """A temporary folder holding a copy of the shipped scenarios (hypothesis reuses fixtures,
    so each example makes its own)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    shutil.copytree(SHIPPED, folder / "scenarios")
    (folder / "calibration").mkdir()
    shutil.copy(ROOT / "calibration" / "calibrated.yaml", folder / "calibration")
    return folder


def check(code: int, output: str) -> None:
    assert code in (0, 2), output[-2000:]
    assert "Traceback" not in output
    if code == 2:
        assert "rror" in output and len(output.encode()) < 2048, output[:500]


@FUZZ
@given(
    data=st.data(), name=st.sampled_from(["baseline.yaml", "no_subsidies.yaml", "data/roster.yaml"])
)
def test_mutated_scenario_files_validate_or_exit_2(data: st.DataObject, name: str) -> None:
    folder = fresh_copy()
    try:
        target = folder / "scenarios" / name
        target.write_text(mutate(target.read_text(encoding="utf-8"), data), encoding="utf-8")
        scenario = (
            "scenarios/no_subsidies.yaml"
            if name == "no_subsidies.yaml"
            else ("scenarios/baseline.yaml")
        )
        before = files_of(folder)
        check(*run_in(folder, ["validate", scenario]))
        assert files_of(folder) == before
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(
    data=st.data(),
    name=st.sampled_from(["sweeps/export_x_subsidy.yaml", "sweeps/behaviour_sobol.yaml"]),
)
def test_mutated_sweep_files_dry_run_or_exit_2(data: st.DataObject, name: str) -> None:
    folder = fresh_copy()
    try:
        target = folder / "scenarios" / name
        target.write_text(mutate(target.read_text(encoding="utf-8"), data), encoding="utf-8")
        before = files_of(folder)
        check(*run_in(folder, ["sweep", f"scenarios/{name}", "--dry-run", "--out", "out"]))
        assert files_of(folder) == before  # a dry run writes nothing at all
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(data=st.data())
def test_mutated_study_files_validate_or_exit_2(data: st.DataObject) -> None:
    """A study file with random damage (also in its declare: and condition) validates or exits 2
    with one message; validating writes nothing."""
    folder = fresh_copy()
    try:
        target = folder / "scenarios" / "studies" / "independents.yaml"
        target.write_text(mutate(target.read_text(encoding="utf-8"), data), encoding="utf-8")
        before = files_of(folder)
        check(*run_in(folder, ["validate", "scenarios/studies/independents.yaml"]))
        assert files_of(folder) == before
    finally:
        shutil.rmtree(folder)


ARGUMENTS = [
    ["--seed", "1.0"],
    ["--seed", "-3"],
    ["--seed", "7"],
    ["-n", "0"],
    ["-n", "1"],
    ["-n", "true"],
    ["-w", "1"],
    ["-w", "1e3"],
    ["--end", ""],
    ["--end", "2100-01"],
    ["--end", "2021-08"],
    ["--reference", ""],
    ["--reference", "tiny"],
    ["--out", "existing.txt"],
    ["--out", "existing.txt/below"],
    ["--out", "/proc/out"],
    ["--scheduler", "notaurl"],
    ["--scheduler", "tcp://127.0.0.1:9"],
    ["--max-runs", "1"],
    ["--max-runs", "x"],
    ["--bogus"],
    ["--no-figures"],
    ["-q"],
]


@FUZZ
@given(
    command=st.sampled_from(["run", "compare", "sweep", "validate"]),
    extra=st.lists(st.sampled_from(ARGUMENTS), max_size=3),
)
def test_random_arguments_exit_0_or_2_and_write_only_the_out_folder(
    command: str, extra: list[list[str]]
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-args-"))
    try:
        base = ROOT / "scenarios" / "baseline.yaml"
        (folder / "tiny.yaml").write_text(f"extends: {base}\nname: tiny\nend: 2021-07\n")
        (folder / "other.yaml").write_text(f"extends: {base}\nname: other\nend: 2021-07\n")
        (folder / "existing.txt").write_text("mine")
        (folder / "sw.yaml").write_text(
            f"name: s\nbase: {base}\nend: 2021-07\nreplications: 1\ndesign: {{kind: grid}}\n"
            "parameters:\n  - {path: policy.subsidy_scale, values: [0.0, 1.0]}\n"
            "outcomes: [peak_month]\n"
        )
        positional = {
            "run": ["tiny.yaml"],
            "compare": ["tiny.yaml", "other.yaml"],
            "sweep": ["sw.yaml", "--dry-run"],
            "validate": ["tiny.yaml"],
        }[command]
        args = [command, *positional, "-q", "--no-figures", *(a for pair in extra for a in pair)]
        if command == "validate":
            args = [command, *positional, *(a for pair in extra for a in pair)]
        if command in ("run", "compare") and "--out" not in args:
            args += ["--out", "out"]
        before = files_of(folder)
        code, output = run_in(folder, args)
        check(code, output)
        added = files_of(folder) - before
        assert all(p == "out" or p.startswith("out/") for p in added), added
        if code == 2:
            assert not added
    finally:
        shutil.rmtree(folder)
