"""Headline outcomes from result tables: bands across replications and a one-screen summary.

Pure functions of the tidy tables, shared by ``run``, the tests and later reports, so the summary's
numbers are by construction those in the tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.calendar import month_label, parse_month
from sim.vocab import EXIT_CAUSES, KINDS

QUANTILES = (0.1, 0.5, 0.9)


def band(metrics: pd.DataFrame, column: str, by: tuple[str, ...] = ("month",)) -> pd.DataFrame:
    """10th, 50th and 90th percentile of ``column`` across replications, per month.

    Returns a frame indexed by ``by`` with columns ``p10, p50, p90``.
    """
    g = metrics.groupby(list(by))[column]
    out = g.quantile(list(QUANTILES)).unstack()
    out.columns = ["p10", "p50", "p90"]
    return out


def annual_market_bn_rmb(metrics: pd.DataFrame) -> pd.DataFrame:
    """Market size per calendar year and replication: the sum of monthly revenue, bn RMB.

    Only complete years (12 months simulated) are returned. Columns: replication, year,
    market_bn_rmb.
    """
    df = metrics[["replication", "month", "revenue_m_rmb"]].copy()
    df["year"] = 2021 + df["month"] // 12
    g = df.groupby(["replication", "year"])
    out = g["revenue_m_rmb"].sum().div(1000).rename("market_bn_rmb").to_frame()
    out["months"] = g.size()
    return out[out["months"] == 12].drop(columns="months").reset_index()


OUTCOME_MONTHS = ("2025-12", "2028-12")


MONTH_OUTCOMES = (
    ("active_developers", "active_developers"),
    *((f"active_{k}", f"survivors_{k}") for k in KINDS),
    ("cr3_users", "cr3_users"),
    ("compute_price_m_rmb_per_h100e_month", "compute_price_m_rmb_per_h100e_month"),
    ("domestic_chip_share", "domestic_chip_share"),
    ("capability_gap_log10", "capability_gap_log10"),
)
MARKET_YEARS = (2025, 2028)


def outcome_names(n_months: int) -> list[str]:
    """Names of the outcomes ``replication_outcomes`` gives for a horizon of ``n_months``."""
    names = [
        f"{name}_{label}"
        for label in OUTCOME_MONTHS
        if parse_month(label) < n_months
        for _, name in MONTH_OUTCOMES
    ]
    names += [f"market_bn_rmb_{y}" for y in MARKET_YEARS if (y - 2021 + 1) * 12 <= n_months]
    return [*names, "peak_month", *(f"exits_{c}" for c in EXIT_CAUSES)]


def replication_outcomes(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Headline outcomes per scenario and replication (one row each; a wide, tidy table).

    Columns: ``scenario, replication``, then for each month of ``OUTCOME_MONTHS`` within the
    horizon: active developers in total and by kind, top-three user share, compute price,
    domestic-chip share and capability gap; the calendar-year market size (bn RMB) of 2025 and
    2028 where complete; the month of peak active developers; exits by cause over the run.
    """
    keys = ["scenario", "replication"]
    out = metrics.groupby(keys, sort=False).size().rename("months").to_frame()
    for label in OUTCOME_MONTHS:
        at = metrics[metrics["date"] == label].set_index(keys)
        if at.empty:
            continue
        for col, name in MONTH_OUTCOMES:
            out[f"{name}_{label}"] = at[col]
    annual = metrics[["scenario", "replication", "month", "revenue_m_rmb"]].assign(
        year=lambda d: 2021 + d["month"] // 12
    )
    g = annual.groupby([*keys, "year"], sort=False)["revenue_m_rmb"]
    yearly = (g.sum() / 1000).where(g.size() == 12).unstack("year")
    for year in MARKET_YEARS:
        if year in yearly.columns:
            out[f"market_bn_rmb_{year}"] = yearly[year].reindex(out.index)
    peak = metrics.loc[metrics.groupby(keys, sort=False)["active_developers"].idxmax()]
    peak = peak.set_index(keys)
    out["peak_month"] = peak["month"]
    exits = events[events["event"].isin(EXIT_CAUSES)]
    counts = exits.groupby([*keys, "event"]).size().unstack(fill_value=0)
    for cause in EXIT_CAUSES:
        col = counts[cause] if cause in counts.columns else 0
        out[f"exits_{cause}"] = pd.Series(col, index=out.index).reindex(out.index).fillna(0)
    return out.drop(columns="months").reset_index()


def _q(values: pd.Series | np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    p10, p50, p90 = np.quantile(v, QUANTILES) if v.size else (np.nan,) * 3
    return {"p10": float(p10), "median": float(p50), "p90": float(p90)}


def checkpoints(n_months: int) -> list[str]:
    """Months reported in the summary: mid-2023, end-2025, end-2028 and the last month."""
    last = month_label(n_months - 1)
    marks = [m for m in ("2023-07", "2025-12", "2028-12") if parse_month(m) < n_months]
    return [*marks, last] if last not in marks else marks


def headline(metrics: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Headline outcomes with 10-90 % intervals across replications."""
    n_rep = metrics["replication"].nunique()
    n_months = int(metrics["month"].max()) + 1
    out: dict[str, Any] = {
        "scenario": str(metrics["scenario"].iloc[0]),
        "replications": int(n_rep),
        "checkpoints": {},
    }
    for label in checkpoints(n_months):
        at = metrics[metrics["date"] == label]
        out["checkpoints"][label] = {
            "active_developers": _q(at["active_developers"]),
            **{f"active_{k}": _q(at[f"active_{k}"]) for k in KINDS},
            "cr3_users": _q(at["cr3_users"]),
            "cr3_revenue": _q(at["cr3_revenue"]),
            "market_size_bn_rmb_annualised": _q(at["market_size_bn_rmb_annualised"]),
        }
    peak = metrics.loc[metrics.groupby("replication")["active_developers"].idxmax()]
    out["peak_active_developers"] = _q(peak["active_developers"])
    out["peak_month"] = month_label(int(np.median(peak["month"])))
    annual = annual_market_bn_rmb(metrics)
    out["annual_market_bn_rmb"] = {
        int(y): _q(g["market_bn_rmb"]) for y, g in annual.groupby("year")
    }
    exits = events[events["event"].isin(EXIT_CAUSES)]
    counts = (
        exits.groupby(["replication", "event"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=range(n_rep), columns=list(EXIT_CAUSES), fill_value=0)
    )
    out["exits_by_cause"] = {c: _q(counts[c]) for c in EXIT_CAUSES}
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
        f"Scenario {h['scenario']}: {h['replications']} replications; median [10-90 % {spread}]",
        "",
        f"{'month':<9}{'active developers':>20}{'megatech':>10}{'startup':>10}{'institute':>10}"
        f"{'vertical':>10}{'top-3 user share':>20}{'market bn RMB/yr':>26}",
    ]
    for label, c in h["checkpoints"].items():
        lines.append(
            f"{label:<9}{fmt(c['active_developers']):>20}"
            + "".join(f"{c[f'active_{k}']['median']:>10.0f}" for k in KINDS)
            + f"{fmt(c['cr3_users'], 0, pct=True):>20}"
            + f"{fmt(c['market_size_bn_rmb_annualised'], 1):>26}"
        )
    lines += [
        "",
        f"Peak: {fmt(h['peak_active_developers'])} active developers around {h['peak_month']}.",
        "Exits over the run: "
        + ", ".join(f"{cause} {fmt(q)}" for cause, q in h["exits_by_cause"].items())
        + ".",
    ]
    annual = h["annual_market_bn_rmb"]
    shown = [y for y in (2023, 2025, 2028, 2030) if y in annual]
    if shown:
        lines.append(
            "Market size (iiMedia 'AIGC core market' definition, calendar-year revenue, bn RMB): "
            + "; ".join(f"{y}: {fmt(annual[y], 1)}" for y in shown)
            + "."
        )
    return "\n".join(lines) + "\n"
