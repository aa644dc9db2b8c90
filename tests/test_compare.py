"""Comparison tables and the compare command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.compare import HEADLINE_COLUMNS, format_comparison, headline_table

from .conftest import BASELINE

runner = CliRunner()


def test_headline_table_pairs_replications() -> None:
    # Two scenarios, three replications, one outcome; paired differences are 1, -2, 4.
    outcomes = pd.DataFrame(
        {
            "scenario": ["a"] * 3 + ["b"] * 3,
            "replication": [0, 1, 2] * 2,
            "x": [10.0, 20.0, 30.0, 11.0, 18.0, 34.0],
        }
    )
    t = headline_table(outcomes, "a").set_index(["scenario", "outcome"])
    assert t.loc[("b", "x"), "level_median"] == pytest.approx(18.0)
    assert t.loc[("b", "x"), "level_p90"] == pytest.approx(np.quantile([11, 18, 34], 0.9))
    assert t.loc[("b", "x"), "diff_median"] == pytest.approx(1.0)
    assert t.loc[("b", "x"), "diff_p10"] == pytest.approx(np.quantile([1, -2, 4], 0.1))
    assert t.loc[("a", "x"), "diff_median"] == 0.0
    assert list(dict.fromkeys(t.index.get_level_values(0))) == ["a", "b"]  # input order kept


def write(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"extends: {BASELINE}\nname: {name}\nend: 2023-12\n{extra}", encoding="utf-8")
    return path


def test_compare_writes_a_complete_folder(tmp_path: Path) -> None:
    a = write(tmp_path, "low_subsidy", "policy:\n  subsidy_scale: 0.5\n")
    b = write(tmp_path, "high_subsidy", "policy:\n  subsidy_scale: 2.0\n")
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["compare", str(a), str(b), "-n", "2", "-w", "1", "-q", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {
        "headline.csv",
        "outcomes.csv",
        "metrics.parquet",
        "manifest.json",
        "summary.txt",
        "scenarios",
        "figures",
    } <= names
    assert {p.name for p in (out / "scenarios").iterdir()} == {
        "low_subsidy.resolved.yaml",
        "high_subsidy.resolved.yaml",
    }
    assert len(list((out / "figures").glob("*.png"))) == 4
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(dict.fromkeys(metrics["scenario"])) == ["low_subsidy", "high_subsidy"]
    # Same seeds for both scenarios (common random numbers).
    seeds = metrics.groupby("scenario")["seed"].apply(lambda s: sorted(set(s)))
    assert seeds["low_subsidy"] == seeds["high_subsidy"]
    assert "high_subsidy" in res.output and "low_subsidy" in res.output
    # Level and paired difference in separate, labelled columns, with units.
    head = pd.read_csv(out / "headline.csv")
    assert list(head.columns) == list(HEADLINE_COLUMNS)
    row = head[(head["outcome"] == "active_developers@2023-12")]
    assert row.empty  # not a standard outcome at this horizon
    pivots = head[(head["outcome"] == "exits_pivoted") & (head["scenario"] == "high_subsidy")]
    wide = pd.read_csv(out / "outcomes.csv")
    ref = wide[wide["scenario"] == "low_subsidy"].set_index("replication")["exits_pivoted"]
    alt = wide[wide["scenario"] == "high_subsidy"].set_index("replication")["exits_pivoted"]
    assert pivots["diff_median"].iloc[0] == pytest.approx(float(np.median(alt - ref)))
    assert pivots["unit"].iloc[0] == "count"
    assert "level median" in res.output and "diff. to low_subsidy median" in res.output
    assert "pivoted (whole run) [count]" in res.output
    defined = pd.read_csv(out / "outcomes_defined.csv")
    assert "median [10-90 %]" in defined.set_index("outcome").loc["peak_month", "definition"]


def test_format_comparison_is_a_table_with_units_and_separate_difference_columns() -> None:
    outcomes = pd.DataFrame(
        {
            "scenario": ["base"] * 3 + ["alt"] * 3,
            "replication": [0, 1, 2] * 2,
            "market_size@2028": [100.0, 110.0, 120.0, 90.0, 95.0, 130.0],
        }
    )
    text = format_comparison(headline_table(outcomes, "base"), "base", 3)
    lines = text.splitlines()
    row = next(line for line in lines if line.strip().startswith("alt"))
    # median level 95, 10-90 % 91.0 to 123.0; differences -10, -15, +10: median -10.
    assert "95.0" in row and "91.0 to 123.0" in row and "-10.0" in row and "-14.0 to +6.0" in row
    assert any("market 2028, calendar-year [bn RMB]" in line for line in lines)
    assert "median [10-90 %]" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["same", "same"], "distinct names"),
        (["same"], "at least two"),
        (["same", "other", "--reference", "nobody"], "not among the scenarios"),
        (["same", "broken"], "demand.churn_per_month"),
    ],
)
def test_compare_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path, "same")
    write(tmp_path, "other")
    write(tmp_path, "broken", "demand:\n  churn_per_month: 7\n")
    files = [
        str(tmp_path / f"{a}.yaml") if not a.startswith("-") and a != "nobody" else a for a in args
    ]
    out = tmp_path / "out"
    res = runner.invoke(app, ["compare", *files, "-q", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_paired_differences_are_taken_replication_by_replication() -> None:
    from sim.plots import paired_differences

    rows = []
    for scenario, shift in (("base", 0.0), ("policy", 1.0)):
        for rep, luck in ((0, 10.0), (1, -10.0)):
            for month in (0, 1):
                rows.append(
                    {"scenario": scenario, "replication": rep, "month": month,
                     "x": 100 + luck + shift * (month + 1)}
                )  # fmt: skip
    d = paired_differences(pd.DataFrame(rows), "x", "base")
    assert set(d["scenario"]) == {"policy"}
    # The shared luck (+-10) cancels: the difference is the policy's effect alone.
    assert d.sort_values(["replication", "month"])["x"].tolist() == [1.0, 2.0, 1.0, 2.0]
