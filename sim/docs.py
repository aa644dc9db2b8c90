"""Generate the parameter reference (docs/parameters.md) from the scenario schema.

The schema is the single source of truth: names, types, units, bounds and descriptions come from
the pydantic models; the baseline column from ``scenarios/baseline.yaml``. Run
``python -m sim.docs [OUT]``; a test checks that the committed file is up to date.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.scenario import _KIND_DEFAULTS, KindTable, Scenario, inner_model, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
LIST_BLOCKS_SHOWN_AS_COUNTS = (
    "roster",
    "segments",
    "export_controls",
    "decoupling",
    "subsidies",
    "public_compute",
    "open_weight_releases",
    "funds",
)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map {_type_name(args[0])} → {_type_name(args[1])}"
    if annotation is type(None):
        return "none"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value:g}" if isinstance(value, float) else f"{sym} {value}")
        if getattr(meta, "min_length", None):
            parts.append(f"length ≥ {meta.min_length}")
        if getattr(meta, "pattern", None):
            parts.append(f"pattern `{meta.pattern}`")
    return ", ".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(block)"
    if isinstance(value, list):
        return (
            f"{len(value)} entries"
            if value and isinstance(value[0], BaseModel | dict)
            else ", ".join(map(str, value)) or "[]"
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _rows(
    model: type[BaseModel], prefix: str, baseline: Any, defaults: dict[str, Any] | None = None
) -> list[list[str]]:
    rows = []
    sections = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        base_value = getattr(baseline, name, None) if baseline is not None else None
        if defaults and name in defaults:
            default = _fmt(defaults[name])
        elif field.is_required():
            default = "required"
        else:
            default = _fmt(field.get_default(call_default_factory=True))
        inner = inner_model(field.annotation)
        is_list = typing.get_origin(field.annotation) is list
        rows.append(
            [
                f"`{path}`",
                _type_name(field.annotation)
                if inner is None
                else (f"list of {inner.__name__}" if is_list else inner.__name__),
                default if inner is None or is_list else "(block)",
                _fmt(base_value) if baseline is not None else "",
                _bounds(field),
                _describe(field, inner).replace("|", "\\|"),
            ]
        )
        if inner is not None:
            sub_prefix = f"{path}[]." if is_list else f"{path}."
            sub_base = None if is_list else base_value
            kind_defaults = _KIND_DEFAULTS.get(name) if model is KindTable else None
            sections.append((sub_prefix, inner, sub_base, kind_defaults))
    for sub_prefix, inner, sub_base, kind_defaults in sections:
        rows.extend(_rows(inner, sub_prefix, sub_base, kind_defaults))
    return rows


def _describe(field: FieldInfo, inner: type[BaseModel] | None) -> str:
    if field.description:
        return field.description
    doc = (inner.__doc__ or "") if inner is not None else ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def parameter_table(baseline: Scenario | None = None) -> str:
    """The parameter reference as Markdown."""
    baseline = baseline or load_scenario(BASELINE)
    header = (
        "# Scenario parameters\n\n"
        "Generated from the scenario schema (`sim/scenario.py`) by `python -m sim.docs`; do not "
        "edit by hand. *Default* is the schema's value (`required`: set in "
        "`scenarios/baseline.yaml`, with its source); *baseline* is the value the baseline "
        "scenario resolves to. Units are in the names (`_m_rmb` = million RMB, `_h100e` = "
        "H100-equivalent accelerators, `_log10` = log10 of effective H100e-months, `_per_month`, "
        "`_per_year`) or in the description. Keys of list entries are shown as `list[].key`.\n\n"
        "| key | type | default | baseline | bounds | description |\n"
        "|---|---|---|---|---|---|\n"
    )
    body = "\n".join("| " + " | ".join(r) + " |" for r in _rows(Scenario, "", baseline))
    return header + body + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the table to docs/parameters.md (or the path given)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sim.docs",
        description="Write the scenario parameter table generated from the schema.",
    )
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        default=ROOT / "docs" / "parameters.md",
        help="where to write it (default: docs/parameters.md)",
    )
    out = parser.parse_args(sys.argv[1:] if argv is None else argv).out
    out.write_text(parameter_table(), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
