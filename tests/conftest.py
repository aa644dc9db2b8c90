"""Shared fixtures: the baseline scenario and short variants of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.yaml"


def scenario_with(**overrides: Any) -> Scenario:
    """The baseline with nested overrides, e.g. ``scenario_with(end="2024-06")``."""
    return load_scenario(BASELINE, overrides)


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    return load_scenario(BASELINE)


@pytest.fixture(scope="session")
def short_scenario() -> Scenario:
    """The baseline up to mid-2024: past the entry wave, the filing duty and the first exits."""
    return scenario_with(end="2024-06")


def baseline_plus_firm(end: str, firm: dict[str, Any]) -> Scenario:
    """The baseline to ``end`` with one more named firm in the roster."""
    roster = [*scenario_with(end=end).model_dump(mode="json")["roster"], firm]
    return scenario_with(end=end, roster=roster)
