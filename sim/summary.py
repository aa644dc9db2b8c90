"""Headline outcomes from result tables: bands across replications and a one-screen summary.

Pure functions of the tidy tables, shared by ``run``, the tests and later reports, so the summary's
numbers are by construction those in the tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.calendar import month_label, parse_month
from sim.outcomes import (
    QUANTILES,
    STATISTIC,
    Outcome,
    market_column,
    outcome_table,
    parse_outcome,
    quantiles,
    standard_outcomes,
)
from sim.vocab import EXIT_CAUSES, KINDS, START_YEAR

__all__ = ["QUANTILES", "annual_market_bn_rmb", "band", "format_summary", "headline"]


def band(metrics: pd.DataFrame, column: str, by: tuple[str, ...] = ("month",)) -> pd.DataFrame:
    """10th, 50th and 90th percentile of ``column`` across replications, per month.

    Returns a frame indexed by ``by`` with columns ``p10, p50, p90``.
    """
    g = metrics.groupby(list(by))[column]
    out = g.quantile(list(QUANTILES)).unstack()
    out.columns = ["p10", "p50", "p90"]
    return out


def annual_market_bn_rmb(metrics: pd.DataFrame) -> pd.DataFrame:
    """Market size per calendar year and replication: the sum of the monthly AIGC core market
    (``market_m_rmb``: the model layer's revenue with what applications and integrators keep),
    bn RMB.

    Only complete years (12 months simulated) are returned. Columns: replication, year,
    market_bn_rmb.
    """
    column = market_column(metrics)
    df = metrics[["replication", "month", column]].copy()
    df["year"] = START_YEAR + df["month"] // 12
    g = df.groupby(["replication", "year"])
    out = g[column].sum().div(1000).rename("market_bn_rmb").to_frame()
    out["months"] = g.size()
    return out[out["months"] == 12].drop(columns="months").reset_index()


def replication_outcomes(
    metrics: pd.DataFrame, events: pd.DataFrame, outcomes: list[Outcome] | None = None
) -> pd.DataFrame:
    """Outcomes per scenario and replication (one row each; a wide, tidy table).

    Columns: ``scenario, replication``, then one per declared outcome (``sim.outcomes``), named by
    its canonical name. Default outcomes: ``sim.outcomes.standard_outcomes`` for the horizon.
    """
    if outcomes is None:
        outcomes = standard_outcomes(int(metrics["month"].max()) + 1)
    return outcome_table(metrics, events, outcomes)


def _q(values: pd.Series | np.ndarray) -> dict[str, float]:
    return quantiles(np.asarray(values, dtype=float))


def checkpoints(n_months: int) -> list[str]:
    """Months reported in the summary: mid-2023, end-2025, end-2028 and the last month."""
    last = month_label(n_months - 1)
    marks = [m for m in ("2023-07", "2025-12", "2028-12") if parse_month(m) < n_months]
    return [*marks, last] if last not in marks else marks


def headline(metrics: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Headline outcomes, each summarised as ``sim.outcomes.STATISTIC`` across replications.

    Every number comes from a declared outcome (``sim.outcomes``), so it equals the same outcome
    in ``compare`` and ``sweep`` tables.
    """
    n_rep = metrics["replication"].nunique()
    n_months = int(metrics["month"].max()) + 1
    out: dict[str, Any] = {
        "scenario": str(metrics["scenario"].iloc[0]),
        "replications": int(n_rep),
        "statistic": STATISTIC,
        "checkpoints": {},
    }

    def q(name: str) -> dict[str, float]:
        return quantiles(parse_outcome(name).values(metrics, events))

    for label in checkpoints(n_months):
        out["checkpoints"][label] = {
            "active_developers": q(f"active_developers@{label}"),
            **{f"active_{k}": q(f"active_{k}@{label}") for k in KINDS},
            "cr3_users": q(f"cr3_users@{label}"),
            "cr3_revenue": q(f"cr3_revenue@{label}"),
            "market_size_bn_rmb_annualised": q(f"market_annualised@{label}"),
        }
    out["peak_active_developers"] = q("peak_developers")
    out["peak_month"] = month_label(int(q("peak_month")["median"]))
    out["annual_market_bn_rmb"] = {
        y: q(f"market_size@{y}") for y in range(START_YEAR, START_YEAR + n_months // 12)
    }
    out["exits_by_cause"] = {c: q(f"exits_{c}") for c in EXIT_CAUSES}
    return out


def format_summary(h: dict[str, Any], spread: str = "across replications") -> str:
    """A one-screen text summary of ``headline`` output; ``spread`` says what the bands cover."""

    def fmt(q: dict[str, float], digits: int = 0, pct: bool = False) -> str:
        scale = 100 if pct else 1
        unit = " %" if pct else ""
        return (
            f"{q['median'] * scale:.{digits}f}{unit} "
            f"[{q['p10'] * scale:.{digits}f}-{q['p90'] * scale:.{digits}f}]"
        )

    lines = [
        f"Scenario {h['scenario']}: {h['replications']} replications; median [10-90 % {spread}]"
        " (kinds: medians)",
        "",
        f"{'month':<9}{'active developers':>20}{'megatech':>10}{'startup':>10}{'institute':>10}"
        f"{'vertical':>10}{'top-3 user share':>20}{'market, month x 12, bn RMB/yr':>32}",
    ]
    for label, c in h["checkpoints"].items():
        lines.append(
            f"{label:<9}{fmt(c['active_developers']):>20}"
            + "".join(f"{c[f'active_{k}']['median']:>10.0f}" for k in KINDS)
            + f"{fmt(c['cr3_users'], 0, pct=True):>20}"
            + f"{fmt(c['market_size_bn_rmb_annualised'], 1):>32}"
        )
    lines += [
        "",
        f"Peak: {fmt(h['peak_active_developers'])} active developers; median peak month "
        f"{h['peak_month']}.",
        "Exits over the run: "
        + ", ".join(f"{cause} {fmt(q)}" for cause, q in h["exits_by_cause"].items())
        + ".",
    ]
    annual = h["annual_market_bn_rmb"]
    shown = [y for y in (2023, 2025, 2028, 2030) if y in annual]
    if shown:
        lines.append(
            "Market size (iiMedia 'AIGC core market' definition, calendar-year sum, "
            "bn RMB): " + "; ".join(f"{y}: {fmt(annual[y], 1)}" for y in shown) + "."
        )
    return "\n".join(lines) + "\n"
