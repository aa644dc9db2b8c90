"""Calibration: the loss by hand, recovery of a known parameter, resuming, bad files."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import calibrate as cb
from sim.cli import app
from sim.executor import ProcessExecutor, SequentialExecutor
from sim.scenario import load_scenario

from .conftest import BASELINE

runner = CliRunner()
TARGET_HEADER = "target,period,value,unit,tolerance,weight,definition,source\n"


def write_calibration(
    tmp_path: Path, targets: str, extra: str = "", trials: int = 24, end: str = "2023-12"
) -> Path:
    (tmp_path / "targets.csv").write_text(TARGET_HEADER + targets, encoding="utf-8")
    path = tmp_path / "cal.yaml"
    path.write_text(
        f"name: test\nbase: {BASELINE}\nend: {end}\nreplications: 2\nseed: 1\n"
        "parameters:\n  - {path: demand.demand_scale, low: 0.5, high: 3.0, log: true}\n"
        f"optimizer: {{trials: {trials}, batch: 4, startup_trials: 8, seed: 3}}\n"
        "profile_points: 3\nfinal_replications: 2\n" + extra,
        encoding="utf-8",
    )
    return path


def test_loss_terms_by_hand(tmp_path: Path) -> None:
    path = write_calibration(
        tmp_path,
        "market_size,2023,10,bn,0.1,1,d,src one\nmarket_size,2028,100,bn,0.1,1,d,src two\n"
        "active_models,2023-07,78,models,8,2,d,src three\n",
        end="2028-12",
    )
    cal = cb.load_calibration(path)
    stats = pd.DataFrame(
        {
            "replication": [0, 1, 2],
            "market_size_2023": [11.0, 11.0, 50.0],
            "market_size_2028": [100.0, 100.0, 100.0],
            "active_models_2023-07": [70.0, 70.0, 90.0],
        }
    )
    terms = cb.loss_terms(cal, stats)
    assert terms["market_size_2023"] == pytest.approx(1.0)  # ln(1.1)/ln(1.1), squared
    assert terms["market_size_2028"] == pytest.approx(0.0)
    assert terms["active_models_2023-07"] == pytest.approx(2.0)  # weight 2 x ((70-78)/8)^2
    growth = (math.log(100 / 11) - math.log(100 / 10)) / math.hypot(math.log(1.1), math.log(1.1))
    assert terms["growth_2023_2028"] == pytest.approx(growth**2)


def test_recovers_a_known_parameter(tmp_path: Path) -> None:
    """Targets generated from a run with demand_scale = 1.7; the calibration finds it again."""
    truth = 1.7
    probe = cb.load_calibration(
        write_calibration(tmp_path, "market_size,2023,1,bn,0.05,1,d,generated\n")
    )
    value = float(cb.simulate(probe, {"demand.demand_scale": truth})["market_size_2023"].median())
    path = write_calibration(tmp_path, f"market_size,2023,{value},bn,0.05,1,d,generated\n")
    cal = cb.load_calibration(path)
    study = cb.optimise(cal, SequentialExecutor())
    best = cb.best_values(study)["demand.demand_scale"]
    assert best == pytest.approx(truth, rel=0.1)


class DiesAfter(SequentialExecutor):
    def __init__(self, batches: int) -> None:
        self.left = batches

    def as_completed(self, fn, items):  # type: ignore[no-untyped-def]
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        yield from super().as_completed(fn, items)


def test_a_killed_calibration_continues(tmp_path: Path) -> None:
    path = write_calibration(tmp_path, "market_size,2023,10,bn,0.15,1,d,src\n", trials=12)
    cal = cb.load_calibration(path)
    with pytest.raises(KeyboardInterrupt):
        cb.optimise(cal, DiesAfter(2))
    first = cb.open_study(cal)
    kept = {t.number: t.params for t in first.trials if t.state.name == "COMPLETE"}
    assert len(kept) == 8
    study = cb.optimise(cb.load_calibration(path), SequentialExecutor())
    assert cb.finished_trials(study) == 12  # continued to the budget, not restarted
    interrupted = [t for t in study.trials if t.user_attrs.get("error") == cb.INTERRUPTED]
    assert len(interrupted) == 4  # the batch the kill cut short, recorded and asked again
    for t in study.trials:
        if t.number in kept:
            assert t.params == kept[t.number]


def test_calibrated_file_is_inherited_through_calibration_file(tmp_path: Path) -> None:
    (tmp_path / "calibrated.yaml").write_text("demand:\n  demand_scale: 2.25\n")
    scen = tmp_path / "s.yaml"
    scen.write_text(f"extends: {BASELINE}\nname: s\ncalibration_file: calibrated.yaml\n")
    assert load_scenario(scen).demand.demand_scale == 2.25
    # A value set in the scenario itself wins over the calibration.
    scen.write_text(
        f"extends: {BASELINE}\nname: s\ncalibration_file: calibrated.yaml\n"
        "demand:\n  demand_scale: 0.5\n"
    )
    assert load_scenario(scen).demand.demand_scale == 0.5


@pytest.mark.parametrize(
    ("targets", "extra", "key_path"),
    [
        (
            "market_size,2023,10,bn,0.1,1,d,src\n",
            "parameters:\n  - {path: demand.demand_scal, low: 1, high: 2}\n",
            "parameters[0].path",
        ),
        (
            "market_size,2023,10,bn,0.1,1,d,src\n",
            "parameters:\n  - {path: demand.demand_scale, low: 2, high: 1}\n",
            "parameters[0]",
        ),
        ("happiness,2023,10,bn,0.1,1,d,src\n", "", "row 2"),
        ("market_size,2023,10,bn,0,1,d,src\n", "", "row 2"),
    ],
)
def test_bad_calibration_files_exit_2(
    tmp_path: Path, targets: str, extra: str, key_path: str
) -> None:
    path = write_calibration(tmp_path, targets)
    if extra:
        text = path.read_text().split("parameters:")[0] + extra + "optimizer: {trials: 2}\n"
        path.write_text(text)
    res = runner.invoke(app, ["calibrate", str(path), "-q"])
    assert res.exit_code == 2, res.output
    assert key_path in res.output and "Traceback" not in res.output
    assert not (tmp_path / "calibrated.yaml").exists()


def test_calibrated_baseline_meets_the_targets() -> None:
    """The committed calibration, as every scenario inherits it through the baseline: median
    market within 15 % of both iiMedia points and 70-90 active models in mid-2023."""
    from sim.runner import run_scenario
    from sim.summary import annual_market_bn_rmb

    from .conftest import ROOT

    targets = pd.read_csv(ROOT / "calibration" / "targets.csv", dtype={"period": str})
    baseline = load_scenario(BASELINE, {"end": "2028-12"})
    result, _ = run_scenario(baseline, record_firms=False)  # the baseline's own seed and count
    annual = annual_market_bn_rmb(result.metrics).groupby("year")["market_bn_rmb"].median()
    for t in targets[targets["target"] == "market_size"].itertuples():
        assert annual[int(t.period)] == pytest.approx(t.value, rel=0.15), t.period
    m = result.metrics
    assert 70 <= m.loc[m["date"] == "2023-07", "active_developers"].median() <= 90


def test_final_replications_on_a_pool_match_one_process(tmp_path: Path) -> None:
    path = write_calibration(
        tmp_path, "market_size,2023,10,bn,0.15,1,d,src\nactive_models,2023-07,78,models,8,1,d,src\n"
    )
    cal = cb.load_calibration(path)
    values = {"demand.demand_scale": 1.3}
    with ProcessExecutor(2) as pool:
        on_pool = cb.simulate(cal, values, 3, pool)
    assert list(on_pool["replication"]) == [0, 1, 2]
    pd.testing.assert_frame_equal(on_pool, cb.simulate(cal, values, 3))
