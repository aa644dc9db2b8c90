"""Docs stay in step with the code: the parameter reference is generated from the schema."""

from __future__ import annotations

from pydantic import BaseModel

from sim.docs import parameter_table
from sim.scenario import Scenario, inner_model

from .conftest import ROOT


def test_parameter_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    assert committed == parameter_table(), "run: python -m sim.docs"


def test_every_parameter_is_described() -> None:
    missing = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            inner = inner_model(field.annotation)
            if inner is None and not (field.description and len(field.description) > 5):
                missing.append(prefix + name)
            if inner is not None:
                walk(inner, f"{prefix}{name}.")

    walk(Scenario, "")
    assert missing == []


def test_odd_describes_every_schedule_stage() -> None:
    """The ODD's process overview names each stage of GenAIMarket.step, in order."""
    import inspect

    from sim.model import GenAIMarket

    source = inspect.getsource(GenAIMarket.step)
    stages = [
        line.strip()[5:].split("(")[0]
        for line in source.splitlines()
        if line.strip().startswith("self.") and line.strip().endswith("()")
    ]
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    positions = [odd.find(f"`{stage}`") for stage in stages]
    assert all(p >= 0 for p in positions), dict(zip(stages, positions, strict=True))
    assert positions == sorted(positions)


def test_docs_command_prints_help_instead_of_writing_a_file(tmp_path, monkeypatch, capsys) -> None:
    """`python -m sim.docs --help` once wrote the table to a file named "--help"."""
    import pytest

    from sim.docs import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "parameter table" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    main([str(tmp_path / "params.md")])
    assert (tmp_path / "params.md").read_text(encoding="utf-8") == parameter_table()
