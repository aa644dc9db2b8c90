"""Declared outcomes: any month, checked against the tables directly; clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.errors import InputError
from sim.outcomes import METRIC_COLUMNS, outcome_table, parse_outcome, parse_outcomes, quantiles
from sim.runner import RunResult, run_many

from .conftest import scenario_with


@pytest.fixture(scope="module")
def runs() -> RunResult:
    sc = scenario_with(end="2026-12")
    return run_many([sc], 3, root_seed=5)[0]


def test_metric_columns_are_the_model_s_columns(runs: RunResult) -> None:
    recorded = [
        c
        for c in runs.metrics.columns
        if c not in ("scenario", "replication", "seed", "month", "date")
    ]
    assert sorted(recorded) == sorted(METRIC_COLUMNS)


def test_an_arbitrary_month_gives_the_metrics_table_value(runs: RunResult) -> None:
    o = parse_outcome("active_developers@2026-06")
    values = o.values(runs.metrics, runs.events)
    m = runs.metrics
    direct = m[m["date"] == "2026-06"].set_index(["scenario", "replication"])["active_developers"]
    assert len(values) == 3
    assert values.to_dict() == pytest.approx(direct.astype(float).to_dict())
    price = parse_outcome("compute_price_m_rmb_per_h100e_month@2024-03")
    direct = m[m["date"] == "2024-03"]["compute_price_m_rmb_per_h100e_month"].to_numpy()
    assert price.values(m, runs.events).to_numpy() == pytest.approx(direct)


def test_tables_written_before_the_value_chain_still_give_market_sizes(runs: RunResult) -> None:
    """Older results folders have no market_m_rmb column; their revenue was the market (share
    1), so market sizes read it instead of failing."""
    from sim.summary import annual_market_bn_rmb

    m = runs.metrics
    old = m.drop(columns="market_m_rmb").assign(revenue_m_rmb=m["market_m_rmb"])
    year = parse_outcome("market_size@2025")
    assert year.values(old, runs.events).to_numpy() == pytest.approx(
        year.values(m, runs.events).to_numpy()
    )
    pd.testing.assert_frame_equal(annual_market_bn_rmb(old), annual_market_bn_rmb(m))


def test_market_calendar_year_and_december_annualised_differ_and_are_labelled(
    runs: RunResult,
) -> None:
    m = runs.metrics
    year = parse_outcome("market_size@2025")
    dec = parse_outcome("market_annualised@2025-12")
    in_2025 = m[m["date"].str.startswith("2025")]
    expected = in_2025.groupby("replication")["market_m_rmb"].sum().to_numpy() / 1000
    assert year.values(m, runs.events).to_numpy() == pytest.approx(expected)
    dec_expected = m[m["date"] == "2025-12"]["market_m_rmb"].to_numpy() * 12 / 1000
    assert dec.values(m, runs.events).to_numpy() == pytest.approx(dec_expected)
    assert "calendar-year" in year.label and "x 12" in dec.label
    assert year.unit != dec.unit
    # An incomplete year has no calendar-year market.
    short = m[m["month"] <= m["month"].max() - 3]
    assert np.isnan(parse_outcome("market_size@2026").values(short, runs.events)).all()


def test_peak_exits_and_aliases(runs: RunResult) -> None:
    m, ev = runs.metrics, runs.events
    table = outcome_table(
        m,
        ev,
        parse_outcomes(
            [
                "peak_month",
                "peak_developers",
                "exits_pivoted",
                "exits_bankrupt@2024",
                "active_developers_2025-12",
            ]
        ),
    )
    for rep, g in m.groupby("replication"):
        row = table[table["replication"] == rep].iloc[0]
        assert row["peak_developers"] == g["active_developers"].max()
        assert row["peak_month"] == g.loc[g["active_developers"].idxmax(), "month"]
        e = ev[ev["replication"] == rep]
        assert row["exits_pivoted"] == (e["event"] == "pivoted").sum()
        in_2024 = e[(e["event"] == "bankrupt") & (e["month"] // 12 == 3)]
        assert row["exits_bankrupt@2024"] == len(in_2024)
        # The yearly event count agrees with the monthly metric column over that year.
        assert len(in_2024) == g[g["date"].str.startswith("2024")]["exits_bankrupt"].sum()
    assert "active_developers@2025-12" in table.columns  # the alias is stored canonically
    assert parse_outcome("survivors_startup_2028-12").name == "active_startup@2028-12"
    assert parse_outcome("market_bn_rmb_2028").name == "market_size@2028"


@pytest.mark.parametrize(
    ("text", "n_months", "message"),
    [
        ("happiness", None, "unknown outcome 'happiness'"),
        ("happiness@2026-06", None, "not a monthly metric column"),
        ("active_developers@2026-13", None, "month 13"),
        ("active_developers@2031-01", 120, "outside the simulated months"),
        ("market_size@2030", 110, "outside the simulated months"),
        ("exits_exploded", None, "exits_<cause>@YYYY"),
    ],
)
def test_bad_outcomes_are_named_with_what_is_allowed(
    text: str, n_months: int | None, message: str
) -> None:
    with pytest.raises(InputError) as err:
        parse_outcome(text, n_months, "s.yaml", "outcomes[0]")
    assert message in str(err.value)
    assert "s.yaml: outcomes[0]" in str(err.value)


def test_duplicate_outcomes_after_aliasing_are_refused() -> None:
    with pytest.raises(InputError, match=r"outcomes\[1\].*already listed"):
        parse_outcomes(["market_size@2028", "market_bn_rmb_2028"], key="outcomes")


def test_quantiles_ignore_missing_values() -> None:
    q = quantiles([1.0, 2.0, np.nan, 3.0])
    assert q["median"] == 2.0 and q["p10"] == pytest.approx(1.2)
    assert np.isnan(quantiles(pd.Series([np.nan]))["median"])


def test_summary_compare_and_report_state_the_same_numbers(runs: RunResult) -> None:
    from sim.compare import headline_table
    from sim.report import run_facts
    from sim.summary import headline, replication_outcomes

    m, ev = runs.metrics, runs.events
    h = headline(m, ev)
    table = headline_table(replication_outcomes(m, ev), "baseline").set_index("outcome")
    facts = run_facts(m, m.assign(status="active", kind="megatech"), ev, "2025-12")
    peak = table.loc["peak_month", "level_median"]
    assert (
        h["peak_month"]
        == facts["peak_date"]
        == f"{2021 + int(peak) // 12}-{int(peak) % 12 + 1:02d}"
    )
    assert h["peak_active_developers"]["median"] == table.loc["peak_developers", "level_median"]
    assert facts["peak_median"] == table.loc["peak_developers", "level_median"]
    market = table.loc["market_size@2025", "level_median"]
    assert h["annual_market_bn_rmb"][2025]["median"] == pytest.approx(market)
    assert facts["market_bn_rmb_median"] == pytest.approx(market)
    active = table.loc["active_developers@2025-12", ["level_p10", "level_median", "level_p90"]]
    q = h["checkpoints"]["2025-12"]["active_developers"]
    assert [q["p10"], q["median"], q["p90"]] == pytest.approx(active.to_list())
    pivots = h["exits_by_cause"]["pivoted"]["median"]
    assert pivots == table.loc["exits_pivoted", "level_median"]


# -- outcomes users declare in YAML (sim.declared) ------------------------------------------------

DECLARE = {
    "independent_developers": {
        "expression": "active_startup + active_institute + active_vertical",
        "unit": "count",
        "definition": "developers that are not a megatech's unit",
        "year": "end",
    },
    "public_money": {
        "expression": "(subsidies_paid_m_rmb + gov_equity_m_rmb) / max(active_developers, 1)",
        "unit": "M RMB per developer",
        "definition": "public money per developer",
        "year": "sum",
    },
    "crowded": {
        "expression": "where(active_developers >= 20, 1, 0)",
        "unit": "share of months",
        "definition": "months with at least 20 developers",
        "year": "mean",
    },
    "wage_k": {
        "expression": "frontier_wage_m_rmb_per_year * 1000",
        "unit": "k RMB",
        "definition": "w",
    },
}


def test_a_declared_series_at_any_month_and_over_a_year_matches_the_tables(
    runs: RunResult,
) -> None:
    from sim.declared import parse_block

    declared = parse_block(DECLARE, "outcomes.yaml")
    m = runs.metrics.set_index(["scenario", "replication"])
    indep = m["active_startup"] + m["active_institute"] + m["active_vertical"]
    money = (m["subsidies_paid_m_rmb"] + m["gov_equity_m_rmb"]) / np.maximum(
        m["active_developers"], 1
    )
    at = (m["date"] == "2025-07").to_numpy()
    in_2025 = m["date"].str.startswith("2025").to_numpy()
    cases = {
        "independent_developers@2025-07": indep[at],
        "independent_developers@2025": indep[(m["date"] == "2025-12").to_numpy()],
        "public_money@2025": money[in_2025].groupby(level=[0, 1]).sum(),
        "crowded@2025": (m["active_developers"][in_2025] >= 20).groupby(level=[0, 1]).mean(),
        "wage_k@2024-02": m["frontier_wage_m_rmb_per_year"][(m["date"] == "2024-02").to_numpy()]
        * 1000,
    }
    for name, direct in cases.items():
        got = parse_outcome(name, 72, declared=declared).values(runs.metrics, runs.events)
        assert got.to_numpy() == pytest.approx(direct.astype(float).to_numpy()), name
    # A year needs all twelve months; a series without a year rule has no yearly form.
    short = runs.metrics[runs.metrics["month"] < parse_month_index("2026-06")]
    got = parse_outcome("public_money@2026", declared=declared).values(short, runs.events)
    assert got.isna().all()
    with pytest.raises(InputError, match="without a year rule"):
        parse_outcome("wage_k@2025", declared=declared)
    # A month without a value (0/0) makes its year NaN, never a short sum.
    holes = parse_block(
        {"holes": {"expression": "where(active_developers > 1000, 0 / 0, 1)",
                   "unit": "u", "definition": "d", "year": "sum"},
         "gap": {"expression": "where(hype_index > 0, 0 / 0, 1)", "unit": "u",
                 "definition": "d", "year": "sum"}}, "o.yaml")  # fmt: skip
    m = runs.metrics
    assert parse_outcome("holes@2025", declared=holes).values(m, runs.events).eq(12).all()
    assert parse_outcome("gap@2025", declared=holes).values(m, runs.events).isna().all()


def parse_month_index(label: str) -> int:
    from sim.calendar import parse_month

    return parse_month(label)


@pytest.mark.parametrize(
    ("body", "key_path", "message"),
    [
        ({"expression": "__import__('os').system('true')"}, "expression", "not allowed"),
        ({"expression": "open('x')"}, "expression", "unknown function 'open'"),
        ({"expression": "active_developers.mean()"}, "expression", "not allowed"),
        ({"expression": "(lambda: 1)()"}, "expression", "not allowed"),
        ({"expression": "active_developer + 1"}, "expression", "did you mean 'active_developers'"),
        ({"expression": "active_developers["}, "expression", "not an expression"),
        ({"expression": "-" * 2000}, "expression", "at most 400 characters"),
        ({"expression": "max(active_developers)"}, "expression", "takes 2 argument"),
        ({"expression": "1" + "0" * 320}, "expression", "too large"),
        ({"year": "median"}, "year", "'sum', 'mean' or 'end'"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"unit": 3}, "unit", "valid string"),
    ],
)
def test_bad_declarations_name_the_key_path(body: dict, key_path: str, message: str) -> None:
    from sim.declared import parse_block

    decl = {"expression": "active_developers", "unit": "count", "definition": "d", **body}
    with pytest.raises(InputError) as err:
        parse_block({"mine": decl}, "outcomes.yaml")
    assert err.value.file == "outcomes.yaml"
    assert err.value.key_path == f"declare.mine.{key_path}"
    assert message in err.value.message


@pytest.mark.parametrize("name", ["active_developers", "market_size", "Bad-Name", "exits_bankrupt"])
def test_a_declared_name_may_not_shadow_a_column_or_be_malformed(name: str) -> None:
    from sim.declared import parse_block

    decl = {"expression": "1", "unit": "u", "definition": "d"}
    with pytest.raises(InputError) as err:
        parse_block({name: decl}, "outcomes.yaml")
    assert err.value.key_path == f"declare.{name}"


def test_compare_reports_declared_outcomes_with_their_units(tmp_path) -> None:
    from typer.testing import CliRunner

    from sim.cli import app

    from .conftest import SCENARIOS

    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        app,
        [
            "compare",
            str(SCENARIOS / "baseline.yaml"),
            str(SCENARIOS / "vc_winter.yaml"),
            "--replications", "2", "--end", "2025-12", "--no-figures", "-q",
            "--declare", str(SCENARIOS / "outcomes" / "examples.yaml"),
            "--outcome", "independent_developers@2025-06",
            "--outcome", "public_money_per_developer@2024",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "independent developers 2025-06 [count]" in res.output
    head = pd.read_csv(out / "headline.csv")
    row = head[(head["outcome"] == "independent_developers@2025-06")]
    assert set(row["unit"]) == {"count"} and len(row) == 2
    m = pd.read_parquet(out / "metrics.parquet") if (out / "metrics.parquet").exists() else None
    if m is None:
        m = pd.read_csv(out / "metrics.csv")
    at = m[(m["date"] == "2025-06") & (m["scenario"] == "baseline")]
    indep = at["active_startup"] + at["active_institute"] + at["active_vertical"]
    base = row[row["scenario"] == "baseline"].iloc[0]
    assert base["level_median"] == pytest.approx(float(np.quantile(indep, 0.5)))
    defined = pd.read_csv(out / "outcomes_defined.csv")
    assert "declared: active_startup" in " ".join(defined["definition"])


def test_compare_refuses_an_undeclared_series_and_a_bad_outcomes_file(tmp_path) -> None:
    from typer.testing import CliRunner

    from sim.cli import app

    from .conftest import SCENARIOS

    args = ["compare", str(SCENARIOS / "baseline.yaml"), str(SCENARIOS / "vc_winter.yaml")]
    res = CliRunner().invoke(app, [*args, "--outcome", "independent_developers@2025-06"])
    assert res.exit_code == 2 and "--outcome[0]" in res.output
    bad = tmp_path / "o.yaml"
    bad.write_text("declare:\n  x: {expression: 'os.system(1)', unit: u, definition: d}\n")
    res = CliRunner().invoke(app, [*args, "--declare", str(bad)])
    assert res.exit_code == 2 and "declare.x.expression" in res.output
    assert not list(tmp_path.glob("results*"))
