"""Scenario loading: extends, strictness and the messages users get for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.errors import InputError
from sim.scenario import Scenario, load_scenario, scenario_to_yaml, validate_scenario

from .conftest import BASELINE


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("BASE", str(BASELINE)), encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return info.value


def test_baseline_is_complete(baseline: Scenario) -> None:
    assert baseline.n_months == 120  # 2021-01 .. 2030-12
    assert len(baseline.roster) >= 20
    kinds = {f.kind for f in baseline.roster}
    assert kinds == {"megatech", "startup", "institute", "vertical"}
    assert all(len(item.source) > 3 for item in baseline.policy.export_controls)


def test_extends_overrides_key_by_key(tmp_path: Path, baseline: Scenario) -> None:
    path = write(tmp_path, "extends: BASE\nname: child\ndemand:\n  demand_scale: 2.5\n")
    child = load_scenario(path)
    assert child.name == "child"
    assert child.demand.demand_scale == 2.5
    # Untouched siblings are inherited, lists included.
    assert child.demand.segments == baseline.demand.segments
    assert child.policy == baseline.policy


def test_resolved_scenario_round_trips(baseline: Scenario) -> None:
    again = validate_scenario(yaml.safe_load(scenario_to_yaml(baseline)))
    assert again == baseline


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\ndemand:\n  demand_scal: 2\n"))
    assert err.file.endswith("s.yaml")
    assert err.key_path == "demand.demand_scal"
    assert "did you mean 'demand_scale'" in err.message
    assert "allowed keys here" in err.message


def test_wrong_type(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\nreplications: many\n"))
    assert err.key_path == "replications"
    assert "integer" in err.message and "'many'" in err.message


def test_out_of_range(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\ndemand:\n  churn_per_month: 1.5\n"))
    assert err.key_path == "demand.churn_per_month"
    assert "less than or equal to 1" in err.message


def test_nested_list_item_error_names_its_index(tmp_path: Path) -> None:
    text = """extends: BASE
policy:
  export_controls:
    - {date: 2022-10-07, name: a, imported_supply_factor: 0.7, source: test source}
    - {date: 2023-10-17, name: b, imported_supply_factor: 1.7, source: test source}
"""
    err = error_of(write(tmp_path, text))
    assert err.key_path == "policy.export_controls[1].imported_supply_factor"


def test_dates_out_of_order(tmp_path: Path) -> None:
    text = """extends: BASE
policy:
  export_controls:
    - {date: 2024-10-07, name: a, imported_supply_factor: 0.7, source: test source}
    - {date: 2023-10-17, name: b, imported_supply_factor: 0.5, source: test source}
"""
    err = error_of(write(tmp_path, text))
    assert err.key_path == "policy.export_controls"
    assert "date order" in err.message


def test_programme_ending_before_it_starts(tmp_path: Path) -> None:
    text = """extends: BASE
policy:
  subsidies:
    - {date: 2024-01, end: 2023-06, name: x, kind: compute_voucher, rate: 0.2,
       cap_per_firm_m_rmb_per_year: 1, budget_m_rmb_per_year: 10, source: test source}
"""
    err = error_of(write(tmp_path, text))
    assert err.key_path == "policy.subsidies[0]"
    assert "before start" in err.message


def test_bad_date_format(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\nend: 2030-13\n"))
    assert err.key_path == "end"
    assert "month 13" in err.message


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.yaml")
    assert err.file.endswith("nope.yaml") and err.message == "file not found"


def test_missing_base_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: nowhere.yaml\n"))
    assert err.file.endswith("nowhere.yaml") and err.message == "file not found"


def test_circular_extends(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    err = error_of(tmp_path / "a.yaml")
    assert err.key_path == "extends" and "circular" in err.message


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: x\ndemand: [1, 2\n"))
    assert "not valid YAML" in err.message and "line" in err.message


def test_unknown_home_sector(tmp_path: Path) -> None:
    text = """extends: BASE
roster:
  - {name: X, kind: startup, entry: 2023-01, cash_m_rmb: 10, home_sectors: [fishing],
     source: test source}
"""
    err = error_of(write(tmp_path, text))
    assert "fishing" in err.message and "allowed" in err.message


def test_scenario_name_cannot_steer_paths(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\nname: ../../etc\n"))
    assert err.key_path == "name"


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n"))
    assert "not valid YAML" in err.message


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "extends: BASE\nseed: -1\nreplications: 0\n"))
    assert "2 problems" in str(err)
    assert "seed" in str(err) and "replications" in str(err)
