"""Comparing scenarios under common random numbers.

Every scenario runs with the same replication seeds and every firm draws from its own stream
(``sim.rng``), so replication ``i`` of two scenarios differs only through the scenarios. Differences
are therefore reported *paired*: for each replication, outcome(scenario) - outcome(reference), then
summarised across replications. Comparing a scenario with a renamed copy of itself gives zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.scenario import Scenario
from sim.summary import QUANTILES

# Outcomes shown in the one-screen comparison (all are in the headline table).
SCREEN_OUTCOMES: tuple[tuple[str, str, int], ...] = (
    ("active_developers_2025-12", "active 2025", 0),
    ("active_developers_2028-12", "active 2028", 0),
    ("survivors_megatech_2028-12", "megatech", 0),
    ("survivors_startup_2028-12", "startup", 0),
    ("cr3_users_2028-12", "top-3 2028", 2),
    ("market_bn_rmb_2028", "market 2028", 0),
    ("compute_price_m_rmb_per_h100e_month_2025-12", "compute price 2025", 4),
    ("exits_bankrupt", "bankrupt", 0),
    ("exits_pivoted", "pivoted", 0),
)


def check_distinct(scenarios: list[Scenario], files: list[str]) -> None:
    """Scenario names label every table row, so they must differ."""
    seen: dict[str, str] = {}
    for sc, f in zip(scenarios, files, strict=True):
        if sc.name in seen:
            raise InputError(
                f,
                "name",
                f"scenario name {sc.name!r} is already used by {seen[sc.name]}; "
                "scenarios compared together need distinct names",
            )
        seen[sc.name] = f


def headline_table(outcomes: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Tidy headline table from ``sim.summary.replication_outcomes`` output.

    One row per scenario and outcome: ``median, p10, p90`` across replications, and the paired
    difference to ``reference`` (``diff_median, diff_p10, diff_p90``; zero for the reference).
    """
    long = outcomes.melt(id_vars=["scenario", "replication"], var_name="outcome").dropna()
    ref = long[long["scenario"] == reference][["replication", "outcome", "value"]]
    long = long.merge(ref, on=["replication", "outcome"], how="left", suffixes=("", "_ref"))
    long["diff"] = long["value"] - long["value_ref"]
    order = {name: i for i, name in enumerate(dict.fromkeys(outcomes["scenario"]))}

    def q(x: pd.Series) -> pd.Series:
        v = x.to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if not v.size:
            return pd.Series([np.nan] * 3, index=["p10", "median", "p90"])
        p10, p50, p90 = np.quantile(v, QUANTILES)
        return pd.Series([p10, p50, p90], index=["p10", "median", "p90"])

    g = long.groupby(["scenario", "outcome"], sort=False)
    levels = g["value"].apply(q).unstack()
    diffs = g["diff"].apply(q).unstack().add_prefix("diff_")
    table = levels.join(diffs).reset_index()
    table["n"] = g.size().to_numpy()
    table = table.sort_values(
        ["scenario", "outcome"],
        key=lambda s: s.map(order) if s.name == "scenario" else s,
        kind="stable",
    )
    cols = [
        "scenario",
        "outcome",
        "n",
        "median",
        "p10",
        "p90",
        "diff_median",
        "diff_p10",
        "diff_p90",
    ]
    return table[cols].reset_index(drop=True)


def format_comparison(
    table: pd.DataFrame,
    reference: str,
    replications: int,
    spread: str = "across replications",
) -> str:
    """A one-screen comparison: medians, and paired median differences to the reference;
    ``spread`` says what the replications vary (seeds, or seeds and parameter draws)."""
    scenarios = list(dict.fromkeys(table["scenario"]))
    shown = [o for o in SCREEN_OUTCOMES if o[0] in set(table["outcome"])]
    width = max(len(s) for s in scenarios) + 2
    head = f"{'scenario':<{width}}" + "".join(f"{label:>20}" for _, label, _ in shown)
    lines = [
        f"{len(scenarios)} scenarios, {replications} replications each with common random numbers."
        f" Cells: median {spread} (paired median difference to {reference}).",
        "",
        head,
    ]
    idx = table.set_index(["scenario", "outcome"])
    for sc in scenarios:
        cells = []
        for outcome, _, digits in shown:
            row = idx.loc[(sc, outcome)] if (sc, outcome) in idx.index else None
            if row is None:
                cells.append(f"{'-':>20}")
                continue
            text = f"{row['median']:.{digits}f}"
            if sc != reference:
                text += f" ({row['diff_median']:+.{digits}f})"
            cells.append(f"{text:>20}")
        lines.append(f"{sc:<{width}}" + "".join(cells))
    lines.append("")
    lines.append(
        "Full table with 10-90 % intervals of levels and paired differences: headline.csv."
    )
    return "\n".join(lines) + "\n"


def comparison_figures(metrics: pd.DataFrame, folder: Path) -> list[Path]:
    """Consolidation curves and market size of all scenarios together, with bands."""
    from sim.plots import scenarios_figure

    folder = Path(folder)
    return [
        scenarios_figure(
            metrics,
            "active_developers",
            folder / "consolidation_compare.png",
            "Active foundation-model developers by scenario",
            "active developers (count)",
        ),
        scenarios_figure(
            metrics,
            "market_size_bn_rmb_annualised",
            folder / "market_size_compare.png",
            "Market size by scenario (China AIGC core market definition)",
            "bn RMB per year (monthly revenue x 12, log scale)",
            log=True,
        ),
        scenarios_figure(
            metrics,
            "compute_price_m_rmb_per_h100e_month",
            folder / "compute_price_compare.png",
            "Compute price by scenario",
            "M RMB per H100e-month",
        ),
        scenarios_figure(
            metrics,
            "cr3_users",
            folder / "cr3_users_compare.png",
            "Top-three share of users by scenario",
            "share (0-1)",
        ),
    ]
