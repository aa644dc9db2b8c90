"""Outcomes users declare in YAML: a monthly series defined by an expression over metric columns.

A declaration names a new series, says what it means and in which unit, and defines it as an
arithmetic expression over the model's monthly metric columns (``sim.outcomes.METRIC_COLUMNS``)::

    declare:
      independent_developers:
        expression: active_startup + active_institute + active_vertical
        unit: count
        definition: foundation-model developers that are not a megatech's unit
      subsidy_per_developer:
        expression: subsidies_paid_m_rmb / max(active_developers, 1)
        unit: M RMB per developer (in the month)
        definition: public money paid in the month per active developer
        year: sum

Once declared, a series is asked for like any built-in outcome: ``independent_developers@2028-12``
(its value in a month) and, when the declaration says how a calendar year aggregates (``year: sum``,
``mean`` or ``end``), ``subsidy_per_developer@2027``. ``sweep``, ``compare --declare`` and study
files all read the same ``declare:`` block; its schema and the expression grammar are checked before
anything runs, and every problem is an ``InputError`` (exit 2) naming the file and key path.

Expressions are parsed with Python's ``ast`` and only this grammar is accepted (nothing is ever
``eval``-ed): numbers, metric column names, ``+ - * / **``, unary minus, parentheses, comparisons
(``active_developers >= 5`` gives 1 or 0), and the functions ``min``, ``max``, ``abs``, ``log10``
and ``where(condition, a, b)``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sim.errors import InputError
from sim.scenario import F, Strict

if TYPE_CHECKING:
    import pandas as pd

MAX_EXPRESSION = 400
"""Longest expression accepted, in characters."""
MAX_DECLARED = 64
"""Most outcomes one block may declare."""
MAX_DEPTH = 150
"""Deepest expression tree accepted (``a + b + c`` nests one level per term)."""
NAME = r"^[a-z][a-z0-9_]{0,59}$"

YearRule = Literal["sum", "mean", "end"]


class Declaration(Strict):
    """One declared outcome series."""

    expression: str = F(
        desc="arithmetic over monthly metric columns: numbers, column names, + - * / **, "
        "comparisons (1 or 0), min, max, abs, log10, where(condition, a, b)",
        min_length=1,
        max_length=MAX_EXPRESSION,
    )
    unit: str = F(desc="unit of the value, in words", min_length=1, max_length=80)
    definition: str = F(desc="what is measured, in plain words", min_length=1, max_length=400)
    year: YearRule | None = F(
        None,
        desc="how a calendar year aggregates the months (sum, mean or end: December), enabling "
        "<name>@YYYY; none: only <name>@YYYY-MM",
    )
    digits: int = F(2, desc="decimals shown in text tables", ge=0, le=6)


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
_FUNCTIONS: dict[str, int] = {"min": 2, "max": 2, "abs": 1, "log10": 1, "where": 3}


def _function(name: str) -> Callable[..., Any]:
    import numpy as np

    return {
        "min": np.minimum,
        "max": np.maximum,
        "abs": np.abs,
        "log10": np.log10,
        "where": lambda c, a, b: np.where(np.asarray(c, dtype=bool), a, b),
    }[name]


def compile_expression(
    text: str, columns: tuple[str, ...] | set[str]
) -> Callable[[pd.DataFrame], Any]:
    """Check ``text`` against the grammar and return ``frame -> values`` (one per row).

    ``ValueError`` says what is wrong: a syntax error, a name that is not a column, a construct
    outside the grammar.
    """
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"longer than {MAX_EXPRESSION} characters")
    text = " ".join(text.split())  # a YAML block scalar may span lines
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an expression ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ValueError("nested too deeply") from None
    allowed = set(columns)

    def build(node: ast.AST, depth: int = 0) -> Callable[[pd.DataFrame], Any]:
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} deep (a sum of many terms counts too)")
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            import numpy as np

            try:  # numpy arithmetic: overflow later gives inf, not an error
                value = np.float64(float(node.value))
            except OverflowError:
                raise ValueError("numbers must be finite (this one is too large)") from None
            if not math.isfinite(value):
                raise ValueError("numbers must be finite")
            return lambda frame: value
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                import difflib

                close = difflib.get_close_matches(node.id, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{node.id!r} is not a monthly metric column{hint}; columns: "
                    + ", ".join(sorted(allowed))
                )
            name = node.id
            return lambda frame: frame[name].astype(float)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op = _BINARY[type(node.op)]
            left, right = build(node.left, depth + 1), build(node.right, depth + 1)
            return lambda frame: op(left(frame), right(frame))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = build(node.operand, depth + 1)
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return lambda frame: sign * inner(frame)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            cmp = _COMPARE[type(node.ops[0])]
            left, right = build(node.left, depth + 1), build(node.comparators[0], depth + 1)
            return lambda frame: cmp(left(frame), right(frame)) * 1.0
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fname = node.func.id
            if fname not in _FUNCTIONS:
                raise ValueError(f"unknown function {fname!r} (allowed: {', '.join(_FUNCTIONS)})")
            if node.keywords or len(node.args) != _FUNCTIONS[fname]:
                raise ValueError(f"{fname}() takes {_FUNCTIONS[fname]} argument(s)")
            args = [build(a, depth + 1) for a in node.args]
            fn = _function(fname)
            return lambda frame: fn(*(a(frame) for a in args))
        raise ValueError(
            f"{type(node).__name__.lower()} is not allowed (use numbers, column names, "
            "+ - * / **, comparisons and min, max, abs, log10, where)"
        )

    body = build(tree.body)

    def evaluate(frame: pd.DataFrame) -> Any:
        import numpy as np

        with np.errstate(all="ignore"):  # 1/0 is inf, 0/0 NaN: summaries skip non-finite values
            return body(frame)

    return evaluate


def fingerprint(declared: Mapping[str, Declaration]) -> str:
    """A short hash of the declarations (stored with results so that a changed definition is
    recomputed rather than reused)."""
    data = {k: v.model_dump(mode="json") for k, v in sorted(declared.items())}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_block(raw: Any, file: str | None, key: str = "declare") -> dict[str, Declaration]:
    """Validate a ``declare:`` mapping (name -> declaration) from ``file``: schema, names, and
    each expression against the metric columns; ``InputError`` naming the key path otherwise."""
    from pydantic import ValidationError

    from sim.outcomes import METRIC_COLUMNS, reserved_names
    from sim.scenario import format_validation_error

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(file, key, "must be a mapping of outcome names to declarations")
    if len(raw) > MAX_DECLARED:
        raise InputError(file, key, f"at most {MAX_DECLARED} outcomes may be declared")
    out: dict[str, Declaration] = {}
    for name, body in raw.items():
        path = f"{key}.{name}"
        if not isinstance(name, str) or not re.match(NAME, name):
            raise InputError(
                file, path, "an outcome name is lower-case letters, digits and _ (60 at most)"
            )
        if name in reserved_names():
            raise InputError(
                file, path, f"{name!r} is already a metric column or built-in outcome; pick another"
            )
        try:
            decl = Declaration.model_validate(body, strict=True)
        except ValidationError as exc:
            err = format_validation_error(exc, file or "", model=Declaration)
            where = f"{path}.{err.key_path}" if err.key_path else path
            raise InputError(file, where, err.message) from None
        try:
            compile_expression(decl.expression, METRIC_COLUMNS)
        except ValueError as exc:
            raise InputError(file, f"{path}.expression", str(exc)) from None
        out[name] = decl
    return out


def load_declarations(path: str | Path) -> dict[str, Declaration]:
    """Read an outcomes file: a mapping with one key, ``declare``."""
    from sim.params import _display, _read_yaml

    path = Path(path)
    raw = _read_yaml(path)
    shown = _display(path)
    if not isinstance(raw, dict) or set(raw) != {"declare"}:
        raise InputError(shown, None, "an outcomes file is a mapping with one key, declare")
    return parse_block(raw["declare"], shown)
