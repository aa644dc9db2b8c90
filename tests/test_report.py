"""The HTML report and single figures: complete, offline, and saying what the tables say."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.report import RUN_FIGURES, kaplan_meier, run_facts
from sim.runner import load_tables

from .conftest import BASELINE

runner = CliRunner()


def test_kaplan_meier_by_hand() -> None:
    # Five firms: exits at 2, 3, 3 months; censored at 3 and 5 months.
    km = kaplan_meier(np.array([2, 3, 3, 3, 5]), np.array([True, True, True, False, False]))
    # t=2: 1 of 5 at risk exits -> 0.8; t=3: 2 of 4 exit -> 0.8 * 0.5 = 0.4.
    assert km["months"].tolist() == [0.0, 2.0, 3.0]
    np.testing.assert_allclose(km["survival"], [1.0, 0.8, 0.4])
    # Greenwood: var(S(2)) = 0.8^2 * 1 / (5 * 4) = 0.032; the 90 % band is S -+ 1.645 * se.
    np.testing.assert_allclose(km["lower"][1], 0.8 - 1.6449 * 0.032**0.5, atol=1e-3)
    assert (km["lower"] <= km["survival"]).all() and (km["survival"] <= km["upper"]).all()


def test_a_pivot_ends_a_developers_life() -> None:
    from sim.report import firm_lifetimes

    firms = pd.DataFrame(
        {
            "replication": 0,
            "firm_id": [1, 1, 1, 2, 2, 2],
            "firm": ["a", "a", "a", "b", "b", "b"],
            "kind": "startup",
            "entry_month": [0, 0, 0, 0, 0, 0],
            "month": [0, 1, 2, 0, 1, 2],
            "status": ["active", "app_layer", "app_layer", "active", "active", "active"],
        }
    )
    life = firm_lifetimes(firms).set_index("firm")
    assert life.loc["a", "exited"] and life.loc["a", "months"] == 1
    assert not life.loc["b", "exited"] and life.loc["b", "months"] == 2


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    scen = tmp / "small.yaml"
    scen.write_text(f"extends: {BASELINE}\nname: small\nend: 2025-12\n", encoding="utf-8")
    out = tmp / "out"
    res = runner.invoke(
        app, ["run", str(scen), "-n", "3", "-w", "1", "-q", "--no-figures", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return out


def test_report_is_complete_and_offline(run_folder: Path) -> None:
    res = runner.invoke(app, ["report", str(run_folder)])
    assert res.exit_code == 0, res.output
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    for name in RUN_FIGURES:
        assert f'id="fig-{name}"' in page, name
    assert page.count("<img ") == len(RUN_FIGURES)
    assert "data:image/png;base64," in page
    # Nothing is fetched: no external addresses, scripts or style sheets.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "http://" not in page and "https://" not in page
    assert "Resolved scenario" in page and "Manifest" in page


def test_summary_states_the_numbers_of_the_tables(run_folder: Path) -> None:
    runner.invoke(app, ["report", str(run_folder)])
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    text = re.search(r'<p class="summary" id="summary">(.*?)</p>', page, re.S).group(1)
    tables = load_tables(run_folder)
    m = tables.metrics
    # Recomputed here from the tables, independently of run_facts.
    at = m[m["date"] == "2025-12"]
    lo, hi = (int(np.quantile(at["active_developers"], q, method="nearest")) for q in (0.1, 0.9))
    assert f"{lo}-{hi} developers remain in 2025-12" in text
    assert f"hold {at['cr3_users'].median():.0%} of users" in text
    n_bankrupt = (tables.events["event"] == "bankrupt").sum() / m["replication"].nunique()
    assert f"{n_bankrupt:.0f} bankruptcies" in text
    facts = run_facts(m, tables.firms, tables.events, "2025-12")
    assert facts["replications"] == 3


def test_history_checks_hold_the_run_against_every_target_it_reaches(run_folder: Path) -> None:
    """The run (3 replications to 2025-12) against calibration/targets.csv: targets after its
    end are left out; the mid-2023 count is the median over replications, recomputed here from
    the metrics; fitted and reported targets are told apart; the report shows the same rows."""
    from sim.calibrate import history_checks, load_calibration

    from .conftest import ROOT

    # The installed calibration's weights: the start-ups' unit economics are held in by it.
    targets = load_calibration(ROOT / "calibration" / "calibrate.yaml").targets
    m = load_tables(run_folder).metrics
    table = history_checks(targets, m).set_index(["target", "period"])
    reached = {(t.kind, t.period) for t in targets if t.month <= 59}  # 2025-12
    assert set(table.index) == reached and ("market_size", "2028") not in table.index
    count = m.loc[m["date"] == "2023-07", "active_developers"].to_numpy()
    row = table.loc[("active_models", "2023-07")]
    assert row["simulated_median"] == np.median(count)
    assert row["simulated_p10"] == np.quantile(count, 0.1)
    assert row["error_tolerance_units"] == pytest.approx((np.median(count) - 78) / 8)
    assert row["within_tolerance"] == (abs(np.median(count) - 78) <= 8)
    fitted = {(t.kind, t.period) for t in targets if t.weight > 0 and t.month <= 59}
    assert set(table.index[table["fitted"]]) == fitted
    assert table.loc[("startup_loss_ratio", "2024"), "fitted"]
    assert not table.loc[("token_growth", "2025-06"), "fitted"]

    runner.invoke(app, ["report", str(run_folder)])
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    body = re.search(r'<table class="history">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == len(table)
    for html_row, ((kind, period), r) in zip(rows, table.iterrows(), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", html_row)
        assert cells[:2] == [kind, period]
        assert cells[4] == ("yes" if r["fitted"] else "reported")
        values = [float(v) for v in re.findall(r'data-value="([^"]+)"', html_row)]
        numbers = ["value", "simulated_median", "simulated_p10", "simulated_p90"]
        assert values[:4] == pytest.approx(r[numbers].astype(float).tolist(), nan_ok=True)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_redraws_one_figure(run_folder: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"survival{suffix}"
    res = runner.invoke(app, ["plot", str(run_folder), "--figure", "survival", "--out", str(out)])
    assert res.exit_code == 0, res.output
    head = out.read_bytes()[:100]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in out.read_bytes()[:2000]


def test_plot_and_report_reject_bad_input(run_folder: Path, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["plot", str(run_folder), "--figure", "pie"])
    assert bad.exit_code == 2 and "allowed" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["report", str(empty)])
    assert res.exit_code == 2 and "not a results folder" in res.output


def test_report_of_a_comparison(tmp_path: Path) -> None:
    files = []
    for name, scale in (("low", 0.5), ("high", 2.0)):
        f = tmp_path / f"{name}.yaml"
        f.write_text(
            f"extends: {BASELINE}\nname: {name}\nend: 2023-12\npolicy:\n  subsidy_scale: {scale}\n",
            encoding="utf-8",
        )
        files.append(str(f))
    out = tmp_path / "cmp"
    assert (
        runner.invoke(
            app, ["compare", *files, "-n", "2", "-w", "1", "-q", "--no-figures", "--out", str(out)]
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Headline outcomes" in page and page.count("<img ") == 4
    headline = pd.read_csv(out / "headline.csv")
    assert set(headline["scenario"]) == {"low", "high"}
    # The page's table is the table on disk: every row, every number in full, in order.
    body = re.search(r'<table class="headline">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == len(headline)
    numeric = ["n", "level_median", "level_p10", "level_p90", "diff_median", "diff_p10", "diff_p90"]
    for html_row, (_, row) in zip(rows, headline.iterrows(), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", html_row)
        assert cells[:3] == [row["outcome"], str(row["unit"]), row["scenario"]]
        values = [float(v) for v in re.findall(r'data-value="([^"]+)"', html_row)]
        assert values == pytest.approx(row[numeric].astype(float).tolist(), nan_ok=True)
    assert "difference to low, paired" in page  # the reference, from the manifest
    assert '<pre class="summary">' in page  # the terminal summary, as written


def test_plot_and_report_name_sweep_and_calibration_folders(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep-x"
    (sweep / "runs").mkdir(parents=True)
    res = runner.invoke(app, ["plot", str(sweep), "--figure", "survival"])
    assert res.exit_code == 2 and "runs have not finished" in res.output
    assert "Traceback" not in res.output
    (sweep / "sweep.resolved.yaml").write_text("name: x\n")
    (sweep / "outcomes.parquet").write_bytes(b"")
    res = runner.invoke(app, ["plot", str(sweep), "--figure", "survival"])
    assert res.exit_code == 2 and "this is a sweep folder" in res.output
    calibration = Path(__file__).resolve().parent.parent / "calibration"
    res = runner.invoke(app, ["plot", str(calibration), "--figure", "survival"])
    assert res.exit_code == 2 and "this is a calibration folder" in res.output
    out = tmp_path / "cal.html"
    res = runner.invoke(app, ["report", str(calibration), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert "<h2>Calibration: calibration</h2>" in page and "data:image/png;base64," in page


def test_thin_early_years_end_when_the_median_run_keeps_three_developers() -> None:
    from sim.plots import THIN_FIELD, thin_until

    counts = {0: [0, 1, 5], 1: [2, 4, 2], 2: [3, 3, 3], 3: [1, 5, 2], 4: [3, 4, 3], 5: [9, 9, 9]}
    rows = [
        {"replication": r, "month": m, "active_developers": c}
        for m, cs in counts.items()
        for r, c in enumerate(cs)
    ]
    # Medians 1, 2, 3, 2, 3, 9: month 3 dips below three again, so the field is thin until 4.
    assert THIN_FIELD == 3
    assert thin_until(pd.DataFrame(rows)) == 4
    always = pd.DataFrame([{"replication": 0, "month": m, "active_developers": 5} for m in (7, 8)])
    assert thin_until(always) == 7
    never = pd.DataFrame([{"replication": 0, "month": m, "active_developers": 1} for m in (0, 1)])
    assert thin_until(never) is None
