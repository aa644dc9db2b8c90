"""Key paths into the scenario schema, shared by sweeps and calibration.

A *key path* names one scenario value, e.g. ``policy.subsidy_scale`` or
``policy.export_controls[3].imported_supply_factor``. These helpers check that a path names a
number in the schema, set values at paths, build the scenario at a point, and read the small YAML
files that declare such paths (sweep and calibration files), with messages naming file and key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from sim.errors import InputError
from sim.scenario import (
    Scenario,
    _display,
    _read_yaml,
    format_validation_error,
    inner_model,
    validate_scenario,
)

PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*$")


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted key path (with ``[i]`` list indices) in nested mappings."""
    parts = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]", path)
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part.startswith("["):
            idx = int(part[1:-1])
            if not isinstance(node, list) or idx >= len(node):
                raise KeyError(f"{path}: no list entry [{idx}] here")
            if last:
                node[idx] = value
            else:
                node = node[idx]
        else:
            if not isinstance(node, dict):
                raise KeyError(f"{path}: {part!r} is not a key of a mapping here")
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})


def field_at(path: str) -> FieldInfo | None:
    """The schema field at key path ``path`` (list indices are skipped), or None when the
    path runs on past a leaf field.

    Raises KeyError naming the unknown key and the allowed ones.
    """
    model: Any = Scenario
    field: FieldInfo | None = None
    for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            allowed = ", ".join(sorted(model.model_fields))
            raise KeyError(f"{part!r} is not a key of {model.__name__}; allowed: {allowed}")
        model = inner_model(field.annotation)
    return field


def schema_field(path: str) -> tuple[bool, str]:
    """Whether ``path`` names a numeric field of the schema, and its type name.

    Raises KeyError naming the unknown key and the allowed ones.
    """
    field = field_at(path)
    if field is None:
        return False, "not a field"
    annotation: Any = field.annotation
    return annotation in (int, float), getattr(annotation, "__name__", str(annotation))


def _key_error_text(exc: KeyError) -> str:
    """A KeyError's message as written (``str`` of a KeyError adds quotes around it)."""
    return str(exc.args[0]) if exc.args else str(exc)


def scenario_at(base_raw: dict[str, Any], values: dict[str, float], file: Path) -> Scenario:
    """The base scenario mapping with ``values`` set at their key paths, validated (integer
    fields are rounded)."""
    data = json.loads(json.dumps(base_raw))  # deep copy of plain data
    for path, value in values.items():
        try:
            is_int = schema_field(path)[1] == "int"
        except KeyError as exc:
            raise InputError(_display(file), path, _key_error_text(exc)) from None
        if not math.isfinite(float(value)):
            raise InputError(_display(file), path, f"must be a finite number, not {value}")
        try:
            set_path(data, path, round(value) if is_int else float(value))
        except KeyError as exc:
            raise InputError(_display(file), path, _key_error_text(exc)) from None
    return validate_scenario(data, _display(file))


def load_spec[M: BaseModel](path: Path, model: type[M], what: str) -> M:
    """Read a YAML file (``sim.safeload``) into a spec model, validated strictly (no booleans or
    text for numbers); problems are ``InputError`` (exit 2) naming the file and key path.

    A model with a ``problems()`` method (cross-field checks returning ``(key path, message)``
    pairs) has it called after validation, so those problems are located too.
    """
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(_display(path), None, f"a {what} file must be a mapping of keys to values")
    try:
        spec = model.model_validate(raw, strict=True)
    except ValidationError as exc:
        raise format_validation_error(exc, _display(path), model=model) from None
    problems = getattr(spec, "problems", None)
    for key_path, message in problems() if problems is not None else []:
        raise InputError(_display(path), key_path, message)
    return spec


def check_parameter(
    file: Path,
    index: int,
    path: str,
    probes: dict[str, list[float]],
    build: Callable[[dict[str, float]], Scenario],
    key: str = "parameters",
) -> None:
    """Check that ``parameters[index].path`` names a number and that every probe value (e.g. both
    ends of a range) gives a valid scenario; messages name the file and the key."""
    try:
        numeric, type_name = schema_field(path)
    except KeyError as exc:
        raise InputError(_display(file), f"{key}[{index}].path", _key_error_text(exc)) from None
    if not numeric:
        raise InputError(
            _display(file),
            f"{key}[{index}].path",
            f"{path} is a {type_name}, not a number; only numbers can vary",
        )
    for probe, values in probes.items():
        for value in values:
            try:
                build({path: value})
            except InputError as exc:
                raise InputError(
                    _display(file),
                    f"{key}[{index}].{probe}",
                    f"{value!r} is not allowed for {path}: {exc.message}",
                ) from None
