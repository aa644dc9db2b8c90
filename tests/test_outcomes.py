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


def test_market_calendar_year_and_december_annualised_differ_and_are_labelled(
    runs: RunResult,
) -> None:
    m = runs.metrics
    year = parse_outcome("market_size@2025")
    dec = parse_outcome("market_annualised@2025-12")
    in_2025 = m[m["date"].str.startswith("2025")]
    expected = in_2025.groupby("replication")["revenue_m_rmb"].sum().to_numpy() / 1000
    assert year.values(m, runs.events).to_numpy() == pytest.approx(expected)
    dec_expected = m[m["date"] == "2025-12"]["revenue_m_rmb"].to_numpy() * 12 / 1000
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
