"""Studies: PRIM finds known boxes, NSGA-II a known front, a killed search resumes identically,
the model's discovery finds its own mechanism, and bad study files exit 2 naming the key path."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import study as st
from sim.cli import app

from .conftest import BASELINE

runner = CliRunner()

TINY = """name: tiny
base: BASE
end: 2023-06
replications: 1
seed: 2
uncertainties:
  - {path: talent.frontier_pool_2021_people, range: [2000, 8000]}
levers:
  - {path: policy.subsidy_scale, range: [0, 3]}
  - {path: capital.chatgpt_shock, range: [1, 8]}
  - {path: policy.export_control_shift_months, range: [-6, 6], integer: true}
declare:
  independent:
    expression: active_startup + active_institute + active_vertical
    unit: count
    definition: developers that are not a megatech's unit
outcomes: [independent@2023-06]
discover:
  condition: active_developers@2023-06 >= 60
  experiments: 48
optimise:
  objectives:
    - {outcome: active_developers@2023-06, direction: maximise}
    - {outcome: subsidies_paid_m_rmb@2023-06, direction: minimise}
  trials: 8
  population: 4
  scenarios: 2
"""


def write_study(tmp_path: Path, body: str = TINY, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body.replace("BASE", str(BASELINE)), encoding="utf-8")
    return path


def test_prim_recovers_a_known_box(tmp_path: Path) -> None:
    """Synthetic outcome: the condition holds exactly where subsidy_scale > 2 and
    chatgpt_shock < 3; the other two dimensions do not matter."""
    study = st.load_study(write_study(tmp_path))
    rng = np.random.default_rng(4)
    n = 3000
    paths = [*study.uncertainty_paths, *study.lever_paths]
    x = {p: rng.uniform(*study.ranges[p], n) for p in paths}
    inside = (x["policy.subsidy_scale"] > 2.0) & (x["capital.chatgpt_shock"] < 3.0)
    table = pd.DataFrame(x).assign(
        error="", **{"active_developers@2023-06": np.where(inside, 70, 50)}
    )
    found = st.discover_box(study, table)
    assert found.stats["coverage"] > 0.9 and found.stats["density"] > 0.9
    box = found.box.set_index("dimension")
    assert set(box.index[box["restricted"]]) == {"policy.subsidy_scale", "capital.chatgpt_shock"}
    assert box.loc["policy.subsidy_scale", "low"] == pytest.approx(2.0, abs=0.1)
    assert box.loc["capital.chatgpt_shock", "high"] == pytest.approx(3.0, abs=0.15)
    words = st.describe(study, found)
    assert "policy.subsidy_scale is above" in words and "capital.chatgpt_shock is below" in words
    assert "frontier_pool" not in words  # a free dimension is not part of the answer


def _zdt1(p: dict[str, float]) -> list[float]:
    x = np.array([p[k] for k in ("x1", "x2", "x3", "x4")])
    g = 1 + 9 * x[1:].mean()
    return [float(x[0]), float(g * (1 - np.sqrt(x[0] / g)))]


def _gap_and_spread(values: list[list[float]]) -> tuple[float, float]:
    """Mean distance above ZDT1's true front (f2 = 1 - sqrt(f1)) of the non-dominated points,
    and how much of f1 they span."""
    f = np.asarray(values)
    front = f[st.pareto_mask(f, np.array([-1, -1]))]
    return float(np.mean(front[:, 1] - (1 - np.sqrt(front[:, 0])))), float(np.ptp(front[:, 0]))


def test_the_optimiser_finds_a_known_pareto_front(tmp_path: Path) -> None:
    """ZDT1 (4 variables): NSGA-II's front lies near the true one and spans it; random search
    with the same budget stays far above it."""
    levers = {k: st.Dimension(0.0, 1.0) for k in ("x1", "x2", "x3", "x4")}
    spec = st.Optimise(
        objectives=[{"outcome": "f", "direction": "minimise"}], trials=400, population=20, seed=1
    )
    logged = st.search_loop(
        levers, [-1, -1], spec, tmp_path / "t.jsonl", lambda n, p: (_zdt1(p), {})
    )
    gap, spread = _gap_and_spread([r["values"] for r in logged])
    rng = np.random.default_rng(1)
    random_gap, _ = _gap_and_spread(
        [_zdt1(dict(zip(levers, rng.uniform(0, 1, 4), strict=True))) for _ in range(400)]
    )
    assert gap < 0.15 and spread > 0.8
    assert gap < 0.1 * random_gap


def test_an_interrupted_search_continues_exactly(tmp_path: Path) -> None:
    levers = {
        "x1": st.Dimension(0.0, 1.0),
        "x2": st.Dimension(0.0, 1.0),
        "k": st.Dimension(0, 5, True),
    }
    spec = st.Optimise(
        objectives=[{"outcome": "f", "direction": "minimise"}], trials=30, population=6, seed=3
    )

    def f(n: int, p: dict[str, float]) -> tuple[list[float], dict]:
        return [p["x1"] + p["k"], 1 - p["x1"] + p["x2"]], {}

    whole = st.search_loop(levers, [-1, -1], spec, tmp_path / "a.jsonl", f)
    st.search_loop(levers, [-1, -1], spec, tmp_path / "b.jsonl", f, stop_after=11)
    with (tmp_path / "b.jsonl").open("a") as log:
        log.write('{"number": 11, "par')  # a line cut short by a kill
    parts = st.search_loop(levers, [-1, -1], spec, tmp_path / "b.jsonl", f)
    assert [r["params"] for r in parts] == [r["params"] for r in whole]
    assert [r["values"] for r in parts] == [r["values"] for r in whole]


def test_the_model_s_discovery_finds_the_hype_mechanism_and_resumes(tmp_path: Path) -> None:
    """Whether 60 developers are active in mid-2023 turns on the strength of the ChatGPT hype
    shock (entry follows hype); PRIM should restrict that dimension from below, and a rerun
    reuses every stored run."""
    study = write_study(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["discover", str(study), "--out", str(out), "-q", "--workers", "2"])
    assert res.exit_code == 0, res.output
    box = pd.read_csv(out / "discovery" / "box.csv").set_index("dimension")
    assert box.loc["capital.chatgpt_shock", "restricted"]
    assert box.loc["capital.chatgpt_shock", "low"] > 1.5
    assert not box.loc["policy.subsidy_scale", "restricted"]
    runs = pd.read_parquet(out / "discovery" / "experiment.parquet")
    assert len(runs) == 48 and runs["condition_holds"].any() and not runs["condition_holds"].all()
    assert (runs["condition_holds"] == (runs["active_developers@2023-06"] >= 60)).all()
    for name in ("summary.txt", "manifest.json", "tradeoff.png", "box.png"):
        assert (out / "discovery" / name).is_file(), name
    again = runner.invoke(app, ["discover", str(study), "--out", str(out), "-q"])
    assert again.exit_code == 0
    assert '"reused_runs": 48' in (out / "discovery" / "manifest.json").read_text()
    # The same study on a Dask cluster: the same experiment, run for run.
    dask = tmp_path / "dask"
    res = runner.invoke(
        app, ["discover", str(study), "--out", str(dask), "-q", "--dask-local", "2"]
    )
    assert res.exit_code == 0, res.output
    keep = [c for c in runs.columns if c != "error"]
    on_dask = pd.read_parquet(dask / "discovery" / "experiment.parquet")
    pd.testing.assert_frame_equal(on_dask[keep], runs[keep])
    assert (dask / "discovery" / "box.csv").read_text() == (
        out / "discovery" / "box.csv"
    ).read_text()
    # The search shares the study's run store; the report shows both, tables as on disk.
    res = runner.invoke(app, ["optimise", str(study), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h2>Study: out</h2>" in page and 'id="fig-study-box"' in page
    assert 'id="fig-study-pareto"' in page and "robustness" in page
    body = re.search(r'<table class="box">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    disk = pd.read_csv(out / "discovery" / "box.csv")
    assert len(rows) == len(disk)
    for html_row, rec in zip(rows, disk.to_dict("records"), strict=True):
        assert re.findall(r"<td[^>]*>(.*?)</td>", html_row)[0] == rec["dimension"]
        values = [float(v) for v in re.findall(r'data-value="([^"]+)"', html_row)]
        assert values[:2] == pytest.approx([rec["low"], rec["high"]])


def test_a_killed_optimise_resumes_to_the_same_trials(tmp_path: Path) -> None:
    """The command killed (SIGKILL) after a few trials, then rerun, gives the same trials table
    as an uninterrupted run."""
    study = write_study(tmp_path, TINY.replace("trials: 8", "trials: 10"))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "sim.cli", "optimise", str(study), "-q", "--workers", "1"]
    whole = tmp_path / "whole"
    subprocess.run([*cmd, "--out", str(whole)], check=True, env=env, capture_output=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen([*cmd, "--out", str(cut)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    log = cut / "optimise" / st.TRIALS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(st.read_log(log)) < 3 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(st.read_log(log)) < 10
    subprocess.run([*cmd, "--out", str(cut)], check=True, env=env, capture_output=True)
    a = pd.read_csv(whole / "optimise" / "trials.csv")
    b = pd.read_csv(cut / "optimise" / "trials.csv")
    pd.testing.assert_frame_equal(a, b)
    assert a["pareto"].any()
    robust = pd.read_csv(cut / "optimise" / "robustness.csv")
    assert set(robust["trial"]) == set(a.loc[a["pareto"], "trial"])
    assert (robust["worst"] <= robust["best"]).where(robust["direction"] == "maximise", True).all()


@pytest.mark.parametrize(
    ("old", "new", "key_path", "message"),
    [
        ("seed: 2", "seed: 2\nsede: 3", "sede", "unknown key"),
        ("range: [0, 3]}", "range: [3, 0]}", "levers[0].range", "must be below"),
        ("policy.subsidy_scale, range", "policy.subsidy_scal, range", "levers[0].path",
         "subsidy_scal"),
        ("policy.subsidy_scale, range: [0, 3]", "policy.subsidy_scale, range: [0, 300]",
         "levers[0].range", "not allowed"),
        (">= 60", "=> 60", "discover.condition", "not '<outcome> <op> <number>'"),
        ("active_developers@2023-06 >= 60", "active_developers@2029-06 >= 60",
         "discover.condition", "outside the simulated months"),
        ("subsidies_paid_m_rmb@2023-06", "nonsense@2023-06", "optimise.objectives[1].outcome",
         "unknown outcome"),
        ("direction: minimise", "direction: lower", "optimise.objectives[1].direction", "maximise"),
        ("talent.frontier_pool_2021_people, range: [2000, 8000]",
         "policy.subsidy_scale, range: [0, 1]", "levers[0].path", "already declared"),
        ("range: [2000, 8000]", "range: posterior", "uncertainties[0].range", "posterior: file"),
        ("unit: count", "unit: count\n    year: median", "declare.independent.year", "'sum'"),
    ],
)  # fmt: skip
def test_bad_study_files_exit_2(
    tmp_path: Path, old: str, new: str, key_path: str, message: str
) -> None:
    assert old in TINY
    path = write_study(tmp_path, TINY.replace(old, new, 1))
    for command in (["validate", str(path)], ["discover", str(path), "--out", str(tmp_path / "o")]):
        res = runner.invoke(app, command)
        assert res.exit_code == 2, res.output
        assert "study.yaml" in res.output and key_path in res.output, res.output
        assert message in res.output, res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_a_study_needs_a_question_and_validate_names_it(tmp_path: Path) -> None:
    head = TINY.split("discover:")[0]
    res = runner.invoke(app, ["validate", str(write_study(tmp_path, head))])
    assert res.exit_code == 2 and "discover:, optimise: or both" in res.output
    ok = runner.invoke(app, ["validate", str(write_study(tmp_path, TINY, "ok.yaml"))])
    assert ok.exit_code == 0
    assert "study 'tiny': 1 uncertainties, 3 levers; discover and optimise" in ok.output


def test_ranges_from_the_posterior_and_from_the_schema(tmp_path: Path) -> None:
    posterior = Path(__file__).resolve().parent.parent / "calibration" / "posterior.parquet"
    body = (
        TINY.replace("seed: 2", f"seed: 2\nposterior: {posterior}")
        .replace(
            "talent.frontier_pool_2021_people, range: [2000, 8000]",
            "demand.demand_scale, range: posterior",
        )
        .replace("policy.subsidy_scale, range: [0, 3]", "policy.subsidy_scale, range: schema")
    )
    study = st.load_study(write_study(tmp_path, body))
    assert study.ranges["policy.subsidy_scale"] == (0.0, 10.0)  # the schema's ge=0, le=10
    post = pd.read_parquet(posterior).sort_values("demand.demand_scale")
    cum = post["weight"].cumsum() / post["weight"].sum()
    values = post["demand.demand_scale"].to_numpy()
    expected = (values[np.searchsorted(cum, 0.05)], values[np.searchsorted(cum, 0.95)])
    assert study.ranges["demand.demand_scale"] == pytest.approx(expected)
    bad = body.replace(
        "demand.demand_scale, range: posterior", "demand.spend_scal, range: posterior"
    )
    res = runner.invoke(app, ["validate", str(write_study(tmp_path, bad, "bad.yaml"))])
    assert res.exit_code == 2 and "uncertainties[0].range" in res.output


def test_a_search_refuses_a_log_that_is_not_its_own(tmp_path: Path) -> None:
    """Rerunning optimise into a folder after changing the study, or with a damaged log, exits 2
    rather than continuing from someone else's history; raising the trial count continues."""
    study = write_study(tmp_path, TINY.replace("trials: 8", "trials: 3"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["optimise", str(study), "--out", str(out), "-q"]).exit_code == 0
    log = out / "optimise" / st.TRIALS_FILE
    changes = [
        ("direction: minimise", "direction: maximise"),
        ("range: [2000, 8000]", "range: [2000, 7000]"),
        ("active_startup + active_institute", "active_startup * 2 + active_institute"),
        ("scenarios: 2", "scenarios: 3"),
    ]
    for old, new in changes:
        changed = write_study(tmp_path, TINY.replace("trials: 8", "trials: 3").replace(old, new))
        res = runner.invoke(app, ["optimise", str(changed), "--out", str(out), "-q"])
        assert res.exit_code == 2, (old, res.output)
        assert "different study definition" in res.output and "Traceback" not in res.output
    more = write_study(tmp_path, TINY.replace("trials: 8", "trials: 5"))
    assert runner.invoke(app, ["optimise", str(more), "--out", str(out), "-q"]).exit_code == 0
    assert len(st.read_log(log)) == 5
    lines = log.read_text().splitlines()
    log.write_text("\n".join([*lines[:2], "garbage", *lines[2:]]) + "\n")
    res = runner.invoke(app, ["optimise", str(more), "--out", str(out), "-q"])
    assert res.exit_code == 2 and "line 3" in res.output and "damaged" in res.output


def test_more_bad_studies_found_by_review(tmp_path: Path) -> None:
    cases = [
        (TINY.replace("subsidies_paid_m_rmb@2023-06", "active_developers@2023-06"),
         "optimise.objectives[1].outcome", "already an objective"),
        (TINY.replace(">= 60", ">= 1e999"), "discover.condition", "finite"),
        (TINY.replace("range: [-6, 6], integer: true", "range: [0.6, 1.4], integer: true"),
         "levers[2].range", "whole numbers"),
        (TINY.replace("range: [0, 3]}", "range: '0-3'}"), "levers[0].range", "[low, high]"),
    ]  # fmt: skip
    for body, key_path, message in cases:
        res = runner.invoke(app, ["validate", str(write_study(tmp_path, body))])
        assert res.exit_code == 2, res.output
        assert key_path in res.output and message in res.output, res.output
        assert "2 problems" not in res.output
    # A folder holding other things is not a study folder to resume into.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["discover", str(write_study(tmp_path)), "--out", str(other)])
    assert res.exit_code == 2 and "notes.txt" in res.output
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    big = TINY.replace("trials: 8", "trials: 20000")
    res = runner.invoke(
        app, ["optimise", str(write_study(tmp_path, big)), "--out", str(tmp_path / "b")]
    )
    assert res.exit_code == 2 and "--max-runs" in res.output
    assert not (tmp_path / "b").exists()


def test_whole_number_fields_are_drawn_as_whole_numbers(tmp_path: Path) -> None:
    """export_control_shift_months is an integer field: drawn as one even without integer: true,
    and recorded as the value the model ran with."""
    body = TINY.replace("range: [-6, 6], integer: true", "range: [-6.5, 6.5]")
    study = st.load_study(write_study(tmp_path, body))
    assert study.ranges["policy.export_control_shift_months"] == (-6.0, 6.0)
    _, jobs = st.experiment(study)
    shifts = [dict(j.values)["policy.export_control_shift_months"] for j in jobs]
    assert all(float(v).is_integer() and -6 <= v <= 6 for v in shifts)
    assert len(set(shifts)) > 5


def test_posterior_uncertainties_are_drawn_jointly_in_the_search(tmp_path: Path) -> None:
    """Candidates face posterior particles as fitted (pairs of values that occur together in the
    sample), not independent draws from each marginal range."""
    posterior = Path(__file__).resolve().parent.parent / "calibration" / "posterior.parquet"
    body = (
        TINY.replace("seed: 2", f"seed: 2\nposterior: {posterior}")
        .replace(
            "  - {path: talent.frontier_pool_2021_people, range: [2000, 8000]}",
            "  - {path: demand.demand_scale, range: posterior}\n"
            "  - {path: demand.spend_scale, range: posterior}\n"
            "  - {path: talent.frontier_pool_2021_people, range: [2000, 8000]}",
        )
        .replace("scenarios: 2", "scenarios: 12")
    )
    study = st.load_study(write_study(tmp_path, body))
    draws = st.uncertainty_draws(study)
    assert list(draws.columns) == study.uncertainty_paths and len(draws) == 12
    post = pd.read_parquet(posterior)
    pairs = set(zip(post["demand.demand_scale"], post["demand.spend_scale"], strict=True))
    assert all(
        (a, b) in pairs
        for a, b in zip(draws["demand.demand_scale"], draws["demand.spend_scale"], strict=True)
    )
    pool = draws["talent.frontier_pool_2021_people"]
    assert pool.between(2000, 8000).all() and pool.nunique() == 12  # the Latin hypercube
    assert st.uncertainty_draws(study).equals(draws)  # the same seed, the same draws
