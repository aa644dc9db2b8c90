"""Hostile and malformed input: exit 2, a short message naming the file and key, nothing written.

Each case writes its files into an empty folder, runs one command there (in-process, or in a
subprocess with a generous timeout where the old behaviour was a hang) and checks the promise:
exit status 2, no traceback, a message under 2 kB that names the file in which the bad value was
written and its key path, and no file added to the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app

from .conftest import BASELINE, ROOT

runner = CliRunner()
SOBOL = ROOT / "scenarios" / "sweeps" / "behaviour_sobol.yaml"
CAL_HEADER = "target,period,value,unit,tolerance,weight,definition,source\n"
GOOD_TARGET = "market_size,2023,7.9,bn,0.15,1,d,some source\n"


def child(extra: str, end: str = "2023-12") -> str:
    """A scenario extending the baseline, with ``extra`` appended."""
    return f"extends: {BASELINE}\nname: child\nend: {end}\n{extra}"


def sweep_text(extra: str = "", params: str | None = None, design: str = "{kind: grid}") -> str:
    params = params or "  - {path: policy.subsidy_scale, values: [0.0, 2.0]}\n"
    return (
        f"name: s\nbase: {BASELINE}\nend: 2023-06\nreplications: 1\nseed: 3\n"
        f"design: {design}\nparameters:\n{params}outcomes: [peak_month]\n{extra}"
    )


def calibration_text(extra: str = "", end: str = "2023-12") -> str:
    return (
        f"name: c\nbase: {BASELINE}\nend: {end}\nreplications: 1\nseed: 1\n"
        "parameters:\n  - {path: demand.demand_scale, low: 0.5, high: 3.0, log: true}\n"
        f"optimizer: {{trials: 2, batch: 1, startup_trials: 1}}\n{extra}"
    )


def billion_laughs(key: str = "description") -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    body = "\n".join(f"  {line}" for line in lines)
    return f"extends: {BASELINE}\nname: bomb\nanchors:\n{body}\n{key}: *i\n"


@dataclass
class Case:
    """Files to write (name -> text or bytes), the command, and what the message must name."""

    files: dict[str, str | bytes]
    args: list[str]
    file: str
    key: str = ""
    words: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None
    subprocess: bool = False
    extra: dict[str, object] = field(default_factory=dict)


CASES: dict[str, Case] = {
    # --- files that are not UTF-8, unreadable files, system paths ---------------------------------
    "latin1 scenario": Case(
        {"s.yaml": child("description: caf\xe9\n").encode("latin-1")},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("not UTF-8", "line 4"),
    ),
    "utf16 scenario": Case(
        {"s.yaml": child("").encode("utf-16")}, ["run", "s.yaml", "-q"], "s.yaml", words=("UTF-16",)
    ),
    "binary scenario": Case(
        {"s.yaml": b"name: x\n\x00\x01\x02\xff"}, ["validate", "s.yaml"], "s.yaml", words=("NUL",)
    ),
    "latin1 extended base": Case(
        {
            "base.yaml": f"extends: {BASELINE}\ndescription: caf\xe9\n".encode("latin-1"),
            "s.yaml": "extends: base.yaml\nname: child\n",
        },
        ["validate", "s.yaml"],
        "base.yaml",
        words=("not UTF-8",),
    ),
    "binary roster": Case(
        {"r.yaml": b"\x89PNG\r\n\x1a\n\x00\x00", "s.yaml": child("roster_file: r.yaml\n")},
        ["validate", "s.yaml"],
        "r.yaml",
    ),
    "utf16 compare argument": Case(
        {"a.yaml": child(""), "b.yaml": child("").replace("child", "other").encode("utf-16")},
        ["compare", "a.yaml", "b.yaml", "-q"],
        "b.yaml",
        words=("UTF-16",),
    ),
    "latin1 sweep file": Case(
        {"sw.yaml": sweep_text("# caf\xe9\n").encode("latin-1")},
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
    ),
    "latin1 targets": Case(
        {"c.yaml": calibration_text(), "targets.csv": (CAL_HEADER + "m,\xe9\n").encode("latin-1")},
        ["calibrate", "c.yaml", "-q"],
        "targets.csv",
    ),
    "folder as scenario": Case({"d/keep.txt": "x"}, ["validate", "d"], "d", words=("folder",)),
    "proc path": Case({}, ["validate", "/proc/self/status"], "/proc/self/status"),
    "proc mem": Case({}, ["run", "/proc/self/mem", "-q"], "/proc/self/mem"),
    "device": Case({}, ["validate", "/dev/zero"], "/dev/zero"),
    "named pipe": Case(
        {}, ["validate", "fifo.yaml"], "fifo.yaml", setup=lambda d: os.mkfifo(d / "fifo.yaml")
    ),
    # --- size, depth and aliases ------------------------------------------------------------------
    "10000-level list": Case(
        {"s.yaml": "name: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("nested",),
        subprocess=True,
    ),
    "3000 nested mappings": Case(
        {"s.yaml": "name: x\ndemand: " + "{k: " * 3000 + "1" + "}" * 3000 + "\n"},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("nested",),
        subprocess=True,
    ),
    "alias bomb as a value": Case(
        {"s.yaml": billion_laughs()},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("aliases",),
        subprocess=True,
    ),
    "30 MB file": Case(
        {"s.yaml": "name: x\n" + "# padding\n" * 3_000_000},
        ["run", "s.yaml", "-q"],
        "s.yaml",
        words=("too large",),
        subprocess=True,
    ),
    "2 MB description": Case(
        {"s.yaml": child("description: " + "x" * 2_000_000 + "\n")},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("too large",),
    ),
    # --- duplicate keys ---------------------------------------------------------------------------
    "demand twice": Case(
        {"s.yaml": child("demand:\n  demand_scale: 2\ndemand:\n  spend_scale: 2\n")},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("duplicate key 'demand'", "line 6"),
    ),
    "name twice": Case(
        {"s.yaml": child("name: again\n")},
        ["run", "s.yaml", "-q"],
        "s.yaml",
        words=("duplicate key 'name'",),
    ),
    "sweep parameters twice": Case(
        {"sw.yaml": sweep_text("parameters:\n  - {path: demand.spend_scale, values: [1, 2]}\n")},
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        words=("duplicate key 'parameters'",),
    ),
    "key repeated in a list entry": Case(
        {
            "s.yaml": child(
                "policy:\n  open_weight_releases:\n"
                "    - {date: 2023-06, name: a, name: b, gap_to_frontier_log10: 1, source: src}\n"
            )
        },
        ["validate", "s.yaml"],
        "s.yaml",
        words=("duplicate key 'name'",),
    ),
    # --- loose typing -----------------------------------------------------------------------------
    "true as a number": Case(
        {"s.yaml": child("demand:\n  demand_scale: true\n")},
        ["validate", "s.yaml"],
        "s.yaml",
        "demand.demand_scale",
        words=("valid number",),
    ),
    "'yes' as a boolean": Case(
        {
            "sw.yaml": sweep_text(
                design="{kind: sobol, samples: 4, second_order: 'yes'}",
                params="  - {path: policy.subsidy_scale, range: [0, 1]}\n",
            )
        },
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "design.second_order",
    ),
    "unquoted yes as a boolean in a roster": Case(
        {
            "r.yaml": "firms:\n  - {name: X, kind: startup, entry: 2023-01, cash_m_rmb: 10, "
            "open_source: yes, source: some source}\n",
            "s.yaml": child("roster_file: r.yaml\n"),
        },
        ["validate", "s.yaml"],
        "r.yaml",
        "firms[0].open_source",
    ),
    "binary tag": Case(
        {"s.yaml": child("description: !!binary aGVsbG8=\n")},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("!!binary",),
    ),
    "set of fund names": Case(
        {"s.yaml": child("capital:\n  funds: !!set {A, B, C}\n")},
        ["validate", "s.yaml"],
        "s.yaml",
        words=("!!set",),
    ),
    "seed 1.0": Case({"s.yaml": child("")}, ["run", "s.yaml", "--seed", "1.0", "-q"], "", "--seed"),
    "empty --end": Case(
        {"a.yaml": child(""), "b.yaml": child("").replace("child", "b")},
        ["compare", "a.yaml", "b.yaml", "--end", "", "-q"],
        "--end",
    ),
    "empty --reference": Case(
        {"a.yaml": child(""), "b.yaml": child("").replace("child", "b")},
        ["compare", "a.yaml", "b.yaml", "--reference", "", "-q"],
        "--reference",
    ),
    "supply midpoint 9999-12": Case(
        {"s.yaml": child("compute:\n  domestic_supply_midpoint: 9999-12\n")},
        ["run", "s.yaml", "-q"],
        "s.yaml",
        "compute.domestic_supply_midpoint",
        words=("outside",),
    ),
    "policy dated 1900": Case(
        {
            "s.yaml": child(
                "policy:\n  open_weight_releases:\n"
                "    - {date: 1900-01, name: a, gap_to_frontier_log10: 1, source: src}\n"
            )
        },
        ["validate", "s.yaml"],
        "s.yaml",
        "policy.open_weight_releases[0].date",
    ),
    "end 2100 via --end": Case(
        {"a.yaml": child(""), "b.yaml": child("").replace("child", "b")},
        ["compare", "a.yaml", "b.yaml", "--end", "2100-01", "-q"],
        "--end",
    ),
    # --- output locations, checked before any work ------------------------------------------------
    "--out under a file": Case(
        {"s.yaml": child(""), "f.txt": "x"},
        ["run", "s.yaml", "-q", "-n", "1", "--out", "f.txt/out"],
        "--out f.txt/out",
    ),
    "--out under /proc": Case(
        {"s.yaml": child("")}, ["run", "s.yaml", "-q", "-n", "1", "--out", "/proc/out"], "/proc"
    ),
    "sweep --out existing file, dry run": Case(
        {"sw.yaml": sweep_text(), "f.txt": "x"},
        ["sweep", "sw.yaml", "--dry-run", "--out", "f.txt"],
        "--out f.txt",
    ),
    "calibration results folder under a file": Case(
        {"c.yaml": calibration_text(), "f.txt": "x", "targets.csv": CAL_HEADER + GOOD_TARGET},
        ["calibrate", "c.yaml", "-q", "--out", "f.txt/o"],
        "--out f.txt/o",
    ),
    # --- Dask -------------------------------------------------------------------------------------
    "unreachable scheduler": Case(
        {"sw.yaml": sweep_text()},
        ["sweep", "sw.yaml", "--scheduler", "tcp://127.0.0.1:9", "--out", "o", "-q"],
        "--scheduler",
        words=("cannot connect",),
    ),
    "scheduler not a URL": Case(
        {"sw.yaml": sweep_text()},
        ["sweep", "sw.yaml", "--scheduler", "notaurl", "--out", "o", "-q"],
        "--scheduler",
        words=("tcp://HOST:PORT",),
    ),
    # --- sweep sizes ------------------------------------------------------------------------------
    "three parameters of 1000 steps": Case(
        {
            "sw.yaml": sweep_text(
                params="".join(
                    f"  - {{path: {p}, range: [0.1, 0.9], steps: 1000}}\n"
                    for p in ("policy.subsidy_scale", "demand.spend_scale", "demand.demand_scale")
                )
            )
        },
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "design",
        words=("--max-runs",),
        subprocess=True,
    ),
    "a million samples, 10^4 replications": Case(
        {
            "sw.yaml": sweep_text(
                design="{kind: lhs, samples: 1000000}",
                params="  - {path: policy.subsidy_scale, range: [0, 1]}\n",
            ).replace("replications: 1", "replications: 10000")
        },
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "design",
        words=("--max-runs",),
        subprocess=True,
    ),
    # --- errors blamed on the right file ----------------------------------------------------------
    "bad value in the roster file": Case(
        {
            "r.yaml": "firms:\n  - {name: X, kind: startup, entry: 2023-01, cash_m_rmb: -5, "
            "source: some source}\n",
            "s.yaml": child("roster_file: r.yaml\n"),
        },
        ["validate", "s.yaml"],
        "r.yaml",
        "firms[0].cash_m_rmb",
    ),
    "duplicate names in the roster file": Case(
        {
            "r.yaml": "firms:\n"
            "  - {name: X, kind: startup, entry: 2023-01, cash_m_rmb: 5, source: some source}\n"
            "  - {name: X, kind: startup, entry: 2023-01, cash_m_rmb: 5, source: some source}\n",
            "s.yaml": child("roster_file: r.yaml\n"),
        },
        ["validate", "s.yaml"],
        "r.yaml",
        "firms[1].name",
    ),
    "bad value in the calibration file": Case(
        {
            "cal.yaml": "demand:\n  demand_scale: -1\n",
            "s.yaml": child("calibration_file: cal.yaml\n"),
        },
        ["validate", "s.yaml"],
        "cal.yaml",
        "demand.demand_scale",
    ),
    "bad value in an extended base": Case(
        {
            "base.yaml": f"extends: {BASELINE}\ndemand:\n  churn_per_month: 7\n",
            "s.yaml": "extends: base.yaml\nname: child\n",
        },
        ["validate", "s.yaml"],
        "base.yaml",
        "demand.churn_per_month",
    ),
    "bad sweep end": Case(
        {"sw.yaml": sweep_text().replace("end: 2023-06", "end: 2023-13")},
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "end",
    ),
    "bad calibration end": Case(
        {"c.yaml": calibration_text(end="2100-01"), "targets.csv": CAL_HEADER + GOOD_TARGET},
        ["calibrate", "c.yaml", "-q"],
        "c.yaml",
        "end",
    ),
    "grid parameter without steps": Case(
        {"sw.yaml": sweep_text(params="  - {path: policy.subsidy_scale, range: [0, 1]}\n")},
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "parameters[0]",
        words=("values or steps",),
    ),
    "repeated sweep parameter": Case(
        {
            "sw.yaml": sweep_text(
                params="  - {path: policy.subsidy_scale, values: [0, 1]}\n"
                "  - {path: policy.subsidy_scale, values: [1, 2]}\n"
            )
        },
        ["sweep", "sw.yaml", "--dry-run", "--out", "o"],
        "sw.yaml",
        "parameters[1].path",
    ),
    # --- targets CSV ------------------------------------------------------------------------------
    "empty targets": Case(
        {"c.yaml": calibration_text(), "targets.csv": ""},
        ["calibrate", "c.yaml", "-q"],
        "targets.csv",
        words=("empty",),
    ),
    "tolerance abc": Case(
        {
            "c.yaml": calibration_text(),
            "targets.csv": CAL_HEADER + GOOD_TARGET.replace("0.15", "abc"),
        },
        ["calibrate", "c.yaml", "-q"],
        "targets.csv",
        "row 2.tolerance",
    ),
    # --- model bounds -----------------------------------------------------------------------------
    "shrinking potential": Case(
        {"s.yaml": child("demand:\n  potential_growth_per_year: -0.5\n")},
        ["run", "s.yaml", "-q"],
        "s.yaml",
        "demand.potential_growth_per_year",
    ),
}


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def invoke(case: Case, folder: Path) -> tuple[int, str]:
    if case.subprocess:
        proc = subprocess.run(
            [sys.executable, "-c", "from sim.cli import main; main()", *case.args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,  # a guard against hangs, not a timing assertion
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr
    old = Path.cwd()
    os.chdir(folder)
    try:
        res = runner.invoke(app, case.args)
    finally:
        os.chdir(old)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_exits_2_naming_file_and_key(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    for rel, content in case.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if case.setup:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    code, output = invoke(case, tmp_path)
    assert code == 2, output[-2000:]
    assert "Traceback" not in output
    assert len(output.encode()) < 2048, output[:300]
    assert case.file in output and case.key in output, output
    for word in case.words:
        assert word in output, output
    assert snapshot(tmp_path) == before


def test_the_shipped_sobol_sweep_dry_runs_without_building_points(tmp_path: Path) -> None:
    """The dry run counts by arithmetic and validates each range once (no point is built)."""
    from sim import sweep as sw

    built: list[int] = []
    original = sw._point_scenario

    def counting(sweep: sw.Sweep, values: dict[str, float]):  # type: ignore[no-untyped-def]
        built.append(1)
        return original(sweep, values)

    sw._point_scenario = counting  # type: ignore[assignment]
    try:
        res = runner.invoke(app, ["sweep", str(SOBOL), "--dry-run", "--out", str(tmp_path / "o")])
    finally:
        sw._point_scenario = original  # type: ignore[assignment]
    assert res.exit_code == 0, res.output
    assert "512 runs" in res.output
    assert len(built) == 2 * 6  # both ends of each of the six ranges
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("design", "params"),
    [
        ("{kind: grid}", "[0.5, 1]\n    steps: 3"),
        ("{kind: lhs, samples: 5}", "[0.5, 1]"),
        ("{kind: sobol, samples: 4}", "[0.5, 1]"),
        ("{kind: sobol, samples: 4, second_order: true}", "[0.5, 1]"),
        ("{kind: morris, samples: 3}", "[0.5, 1]"),
    ],
)
def test_run_counts_by_arithmetic_match_the_design(
    tmp_path: Path, design: str, params: str
) -> None:
    from sim import sweep as sw

    body = "".join(
        f"  - path: {p}\n    range: {params}\n"
        for p in ("policy.subsidy_scale", "demand.spend_scale")
    )
    path = tmp_path / "sw.yaml"
    path.write_text(sweep_text(params=body, design=design), encoding="utf-8")
    spec = sw.load_sweep(path)
    assert sw.n_points(spec.spec) == len(sw.design_points(spec))


def test_max_runs_lifts_the_limit(tmp_path: Path) -> None:
    params = "  - {path: policy.subsidy_scale, range: [0, 1], steps: 300}\n"
    path = tmp_path / "sw.yaml"
    path.write_text(sweep_text(params=params).replace("replications: 1", "replications: 100"))
    args = ["sweep", str(path), "--dry-run", "--out", str(tmp_path / "o")]
    assert runner.invoke(app, args).exit_code == 2
    res = runner.invoke(app, [*args, "--max-runs", "30000"])
    assert res.exit_code == 0 and "30000 runs" in res.output


def test_dates_written_as_yaml_strings_still_work(tmp_path: Path) -> None:
    """Quoted and unquoted dates, YYYY-MM and YYYY-MM-DD, are all text to the schema."""
    from sim.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(
        child(
            "capital:\n  chatgpt_release: '2022-11-30'\n"
            "compute:\n  domestic_supply_midpoint: 2027-06\n",
            end='"2024-06"',
        )
    )
    sc = load_scenario(path)
    assert sc.end == "2024-06" and sc.capital.chatgpt_release == "2022-11-30"
    assert sc.compute.domestic_supply_midpoint == "2027-06"


def test_provenance_reads_git_without_optional_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim import runner as rn

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="abc\n", stderr="")

    monkeypatch.setattr(rn.subprocess, "run", fake_run)
    assert rn._git_commit() == "abc-dirty"
    status = [c for c in calls if "status" in c]
    assert status and all("--no-optional-locks" in c for c in status)


def test_a_deleted_block_header_gives_one_short_message(tmp_path: Path) -> None:
    """Deleting the `compute:` line moves eleven keys into `talent:`: every one is named, but the
    block's allowed keys are listed once, so the message stays short (found by the fuzz test)."""
    shutil.copytree(BASELINE.parent, tmp_path / "scenarios")
    (tmp_path / "calibration").mkdir()
    shutil.copy(ROOT / "calibration" / "calibrated.yaml", tmp_path / "calibration")
    bad = tmp_path / "scenarios" / "baseline.yaml"
    text = bad.read_text(encoding="utf-8")
    assert "\ncompute:\n" in text
    bad.write_text(text.replace("\ncompute:\n", "\n", 1), encoding="utf-8")
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    assert "talent.imported_supply_2021_h100e_per_month: unknown key" in res.output
    assert res.output.count("allowed keys here: basic_per_frontier") == 1
    assert res.output.count("as listed above") >= 7
    assert len(res.output.encode()) < 2048 and "Traceback" not in res.output
