"""The dashboard's logic without a browser: schema-built levers, runs, reference, tables, CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import dashboard as dash
from sim.cli import app
from sim.errors import InputError
from sim.scenario import Policy, Regulation, Scenario, load_scenario

from .conftest import BASELINE

SHORT = {"end": "2023-12"}


def test_levers_are_read_from_the_schema() -> None:
    by_path = {lv.path: lv for lv in dash.LEVERS}
    assert set(by_path) == set(dash.LEVER_PATHS)
    export = by_path["policy.export_control_scale"]
    assert (export.low, export.high) == (0, 5)
    assert export.description == Policy.model_fields["export_control_scale"].description
    delay = by_path["policy.regulation.approval_delay_mean_months"]
    assert delay.unit == "months" and delay.high == 60
    assert delay.description == Regulation.model_fields["approval_delay_mean_months"].description
    inflow = by_path["capital.inflow_2021_m_rmb_per_month"]
    assert inflow.unit == "M RMB per month" and not inflow.integer
    seed = by_path["seed"]
    assert seed.integer and seed.high == 2**32 - 1
    assert seed.description == Scenario.model_fields["seed"].description
    with pytest.raises(KeyError):
        dash.lever("policy.no_such_lever")


def test_lever_values_are_the_scenario_file_values() -> None:
    values = dash.lever_values(load_scenario(dash.SCENARIOS / "subsidy_boom.yaml"))
    assert values["policy.subsidy_scale"] > 1  # the boom scenario doubles subsidies or more
    assert values["seed"] == load_scenario(BASELINE).seed


def test_a_bad_lever_value_gives_the_schema_message() -> None:
    with pytest.raises(InputError) as info:
        dash.DashboardRun(BASELINE, {"policy.export_control_scale": 9.0})
    message = str(info.value)
    assert "policy.export_control_scale" in message and "less than or equal to 5" in message
    assert "Traceback" not in message


def test_steps_month_by_month_and_stops_at_the_end() -> None:
    run = dash.DashboardRun(BASELINE, {**SHORT, "policy.subsidy_scale": 2.0})
    assert run.months_done == 0 and "not started" in run.month_text()
    run.step(3)
    assert run.months_done == 3 and run.month_text().startswith("Month: 2021-03")
    assert list(run.metrics()["month"]) == [0, 1, 2]
    run.run_to_end()
    assert run.months_done == run.n_months == 36 and not run.running
    run.step(5)  # nothing beyond the end
    assert run.months_done == 36 and len(run.metrics(reference=True)) == 36


def test_series_come_from_the_models_recorder() -> None:
    run = dash.DashboardRun(BASELINE, SHORT)
    run.step(12)
    recorded = run.model.datacollector.get_model_vars_dataframe()
    shown = run.metrics()
    assert shown["date"].iloc[-1] == "2021-12"
    pd.testing.assert_frame_equal(shown.drop(columns="date"), recorded)


def test_reference_is_the_file_with_the_same_seed() -> None:
    same = dash.DashboardRun(BASELINE, {**SHORT, "seed": 7})
    assert same.is_reference and same.reference_scenario.seed == 7
    tight = dash.DashboardRun(BASELINE, {**SHORT, "seed": 7, "policy.export_control_scale": 4.0})
    assert not tight.is_reference and tight.reference_scenario.seed == 7
    tight.step(36)
    price = "compute_price_m_rmb_per_h100e_month"
    assert tight.metrics()[price].iloc[-1] > tight.metrics(reference=True)[price].iloc[-1]
    same.step(36)
    pd.testing.assert_series_equal(same.metrics(reference=True)[price], tight.metrics(True)[price])


def test_event_feed_names_firms_newest_first() -> None:
    run = dash.DashboardRun(BASELINE, SHORT)
    run.step(30)
    feed = run.events(dash.FEED_EVENTS)
    assert not feed.empty and set(feed["event"]) <= set(dash.FEED_EVENTS)
    assert {"entry", "pivoted"} <= set(feed["event"])
    assert (feed["firm"] != "").all()
    assert feed["month"].is_monotonic_decreasing


def test_tables_download_as_csv() -> None:
    run = dash.DashboardRun(BASELINE, {**SHORT, "policy.subsidy_scale": 0.0})
    run.step(6)
    tables = run.csv_tables()
    assert set(tables) == {"metrics.csv", "reference_metrics.csv", "events.csv", "firms.csv"}
    metrics = pd.read_csv(io.BytesIO(tables["metrics.csv"]))
    assert list(metrics["date"]) == [f"2021-0{m}" for m in range(1, 7)]
    assert metrics["active_developers"].tolist() == run.metrics()["active_developers"].tolist()
    assert len(pd.read_csv(io.BytesIO(tables["firms.csv"]))) == len(run.firms())


def test_charts_overlay_the_reference_only_when_levers_differ() -> None:
    def dashed(run: dash.DashboardRun) -> int:
        figs = dash.charts(run)
        assert set(figs) == {"consolidation", "market", "concentration", "compute", "leaders"}
        return sum(
            line.get_linestyle() == "--" and len(line.get_xdata()) > 0
            for fig in figs.values()
            for ax in fig.axes
            for line in ax.get_lines()
        )

    plain = dash.DashboardRun(BASELINE, SHORT)
    plain.step(24)
    assert dashed(plain) == 0
    lever = dash.DashboardRun(BASELINE, {**SHORT, "technology.open_release_gap_log10": 2.0})
    lever.step(24)
    assert dashed(lever) >= len(dash.KINDS) + 6  # every series of every chart has its reference
    assert dash.charts(dash.DashboardRun(BASELINE, SHORT))  # drawable before the first month


def test_market_chart_points_are_iimedias() -> None:
    assert dash.market_targets() == [(2023, 7.93), (2028, 276.74)]


def test_scenario_choices_list_the_library_and_the_given_file(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"extends: {BASELINE}\nname: mine\n", encoding="utf-8")
    choices = dash.scenario_choices(mine)
    assert {"baseline", "vc_winter", "total_embargo", "mine"} <= set(choices)
    assert choices["mine"] == mine


def test_cli_refuses_a_bad_scenario_or_port_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASELINE}\npolicy:\n  subsidy_scale: 99\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["dashboard", str(bad)])
    assert res.exit_code == 2
    assert "policy.subsidy_scale" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["dashboard", "--port", "70000"])
    assert res.exit_code == 2 and "Traceback" not in res.output
