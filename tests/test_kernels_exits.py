"""The exits kernels (``sim.kernels.exits``) against their numpy reference where acquisitions
happen: the shipped scenarios sell no firm, so the deal search is checked on variants with cheap
deals and generous buyers (many acquisitions a run) as well."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.model import GenAIMarket
from sim.scenario import Scenario, load_scenario
from tests.test_kernels import assert_same_tables

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
VARIANTS = [
    {
        "integration_cost_m_rmb": 5.0,
        "capability_value_per_log10": 20.0,
        "price_to_annual_revenue": 30.0,
        "fire_sale_share": 0.1,
        "distress_runway_months": 12.0,
    },
    {"integration_cost_m_rmb": 20.0, "capability_value_per_log10": 5.0},
    {"integration_cost_m_rmb": 0.0, "talent_value_years_of_wage": 10.0, "fire_sale_share": 0.0},
]


def _tables(sc: Scenario, seed: int, kernels: bool) -> dict[str, pd.DataFrame]:
    rec = GenAIMarket(sc, seed, kernels=kernels).run().datacollector
    return {
        "metrics": pd.DataFrame(rec.metrics_columns()),
        "firms": pd.DataFrame(rec.firm_columns()),
        "events": pd.DataFrame(rec.event_columns()),
    }


@pytest.mark.parametrize(("variant", "seed"), [(0, 0), (1, 1), (2, 2)])
def test_acquisitions_match_numpy_reference(variant: int, seed: int) -> None:
    base = load_scenario(SCENARIOS / "baseline.yaml").model_dump(mode="json")
    base["acquisitions"].update(VARIANTS[variant])
    sc = Scenario.model_validate(base)
    on = _tables(sc, seed, kernels=True)
    assert (on["events"]["event"] == "acquired").sum() > 10  # the deal search is exercised
    assert_same_tables(on, _tables(sc, seed, kernels=False))
