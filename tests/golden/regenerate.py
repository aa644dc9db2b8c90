"""Regenerate the golden baseline (tests/golden/baseline.csv).

Run ``python -m tests.golden.regenerate`` only after a deliberate change to the model or the
baseline scenario, and say in the commit message why the numbers moved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.runner import run_replication
from sim.scenario import load_scenario

HERE = Path(__file__).resolve().parent
BASELINE = HERE.parent.parent / "scenarios" / "baseline.yaml"
SEED = 20231130
COLUMNS = [
    "date",
    "active_developers",
    "active_megatech",
    "active_startup",
    "active_institute",
    "active_vertical",
    "entries",
    "exits_bankrupt",
    "exits_acquired",
    "exits_pivoted",
    "cr3_users",
    "hhi_revenue",
    "revenue_m_rmb",
    "market_m_rmb",
    "mean_price_index",
    "frontier_wage_m_rmb_per_year",
    "compute_price_m_rmb_per_h100e_month",
    "subsidies_paid_m_rmb",
    "vc_invested_m_rmb",
    "best_capability_log10",
]


def golden_frame() -> pd.DataFrame:
    """Every sixth month of one baseline replication (to 2028-12), selected metrics."""
    sc = load_scenario(BASELINE, {"end": "2028-12"})
    m = run_replication(sc, SEED).metrics
    return m.loc[m["month"] % 6 == 5, COLUMNS].reset_index(drop=True)


def main() -> None:
    out = HERE / "baseline.csv"
    golden_frame().to_csv(out, index=False, float_format="%.10g")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
