"""Comparing scenarios under common random numbers.

Every scenario runs with the same replication seeds and every firm draws from its own stream
(``sim.rng``), so replication ``i`` of two scenarios differs only through the scenarios. Differences
are therefore reported *paired*: for each replication, outcome(scenario) - outcome(reference), then
summarised across replications. Comparing a scenario with a renamed copy of itself gives zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import InputError
from sim.outcomes import STATISTIC, Outcome, parse_outcome, quantiles
from sim.scenario import Scenario

# Outcomes shown in the one-screen comparison (all are in the headline table; see sim.outcomes).
SCREEN_OUTCOMES: tuple[str, ...] = (
    "active_developers@2025-12",
    "active_developers@2028-12",
    "active_megatech@2028-12",
    "active_startup@2028-12",
    "cr3_users@2028-12",
    "market_size@2028",
    "compute_price_m_rmb_per_h100e_month@2025-12",
    "exits_bankrupt",
    "exits_pivoted",
)

HEADLINE_COLUMNS = (
    "outcome",
    "unit",
    "scenario",
    "n",
    "level_median",
    "level_p10",
    "level_p90",
    "diff_median",
    "diff_p10",
    "diff_p90",
)
"""Columns of the headline table: level and paired difference to the reference, each as
median, 10th and 90th percentile across replications."""


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


def _unit(name: str) -> str:
    try:
        return parse_outcome(name).unit
    except InputError:
        return ""


def headline_table(
    outcomes: pd.DataFrame, reference: str, defined: Sequence[Outcome] = ()
) -> pd.DataFrame:
    """Tidy headline table from an outcome table (``sim.outcomes.outcome_table``).

    One row per outcome and scenario (``HEADLINE_COLUMNS``): the level across replications
    (``level_median, level_p10, level_p90``) and the paired difference to ``reference``, replication
    by replication, summarised the same way (``diff_median, diff_p10, diff_p90``; zero for the
    reference). ``unit`` is the outcome's unit, from ``defined`` (the ``Outcome`` objects
    behind the columns, which user-declared series need) or else parsed from the name; empty
    for columns that are neither.
    """
    units = {o.name: o.unit for o in defined}
    long = outcomes.melt(id_vars=["scenario", "replication"], var_name="outcome").dropna()
    ref = long[long["scenario"] == reference][["replication", "outcome", "value"]]
    long = long.merge(ref, on=["replication", "outcome"], how="left", suffixes=("", "_ref"))
    long["diff"] = long["value"] - long["value_ref"]
    order = {name: i for i, name in enumerate(dict.fromkeys(outcomes["scenario"]))}
    names = [c for c in outcomes.columns if c not in ("scenario", "replication")]
    outcome_order = {name: i for i, name in enumerate(names)}
    rows = []
    for (scenario, outcome), g in long.groupby(["scenario", "outcome"], sort=False):
        level = quantiles(g["value"])
        diff = quantiles(g["diff"])
        rows.append(
            {
                "outcome": outcome,
                "unit": units.get(str(outcome)) or _unit(str(outcome)),
                "scenario": scenario,
                "n": len(g),
                **{f"level_{k}": v for k, v in level.items()},
                **{f"diff_{k}": v for k, v in diff.items()},
            }
        )
    table = pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))
    table = table.sort_values(
        ["outcome", "scenario"],
        key=lambda s: s.map(outcome_order if s.name == "outcome" else order),
        kind="stable",
    )
    return table.reset_index(drop=True)


def format_comparison(
    table: pd.DataFrame,
    reference: str,
    replications: int,
    spread: str = "across replications",
    width: int = 160,
    extra: Sequence[Outcome] = (),
) -> str:
    """A text table of the screen outcomes and the ``extra`` ones a user asked for: level and
    paired difference to the reference, each as median [10-90 %] in its own labelled column
    (rendered by rich, without colour codes); ``spread`` says what the replications vary (seeds,
    or seeds and parameter draws)."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    scenarios = list(dict.fromkeys(table["scenario"]))
    present = set(table["outcome"])
    shown = [parse_outcome(o) for o in SCREEN_OUTCOMES if o in present]
    shown += [o for o in extra if o.name in present and o.name not in SCREEN_OUTCOMES]
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    grid.add_column("outcome [unit]", no_wrap=True)
    grid.add_column("scenario", no_wrap=True)
    grid.add_column("level median", justify="right", no_wrap=True)
    grid.add_column("level 10-90 %", justify="right", no_wrap=True)
    grid.add_column(f"diff. to {reference} median", justify="right", no_wrap=True)
    grid.add_column("diff. 10-90 %", justify="right", no_wrap=True)
    idx = table.set_index(["outcome", "scenario"])
    for o in shown:
        d = o.digits
        first = True
        for sc in scenarios:
            if (o.name, sc) not in idx.index:
                continue
            r = idx.loc[(o.name, sc)]
            is_ref = sc == reference
            cells = (
                f"{o.label} [{o.unit}]" if first else "",
                sc,
                f"{r['level_median']:.{d}f}",
                f"{r['level_p10']:.{d}f} to {r['level_p90']:.{d}f}",
                "" if is_ref else f"{r['diff_median']:+.{d}f}",
                "" if is_ref else f"{r['diff_p10']:+.{d}f} to {r['diff_p90']:+.{d}f}",
            )
            grid.add_row(*(Text(c) for c in cells), end_section=sc == scenarios[-1])
            first = False
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, emoji=False, highlight=False).print(grid)
    head = (
        f"{len(scenarios)} scenarios, {replications} replications each with common random numbers."
        f" Levels and paired differences (scenario minus {reference}, replication by replication):"
        f" {STATISTIC} {spread}."
    )
    body = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    return (
        f"{head}\n\n{body}\n\nEvery outcome, with its unit: headline.csv; definitions: "
        "outcomes_defined.csv.\n"
    )


def comparison_figures(
    metrics: pd.DataFrame, folder: Path, reference: str | None = None
) -> list[Path]:
    """Consolidation curves, market size, compute price and top-3 share of all scenarios
    together, with bands; with a ``reference``, each figure has a panel of paired differences."""
    from sim.plots import scenarios_figure

    folder = Path(folder)
    figures = (
        (
            "active_developers",
            "consolidation_compare",
            "Active foundation-model developers by scenario",
            "active developers (count)",
            False,
            "developers (count)",
        ),
        (
            "market_size_bn_rmb_annualised",
            "market_size_compare",
            "Market size by scenario (China AIGC core market definition)",
            "bn RMB per year (monthly market x 12, log scale)",
            True,
            "bn RMB per year",
        ),
        (
            "compute_price_m_rmb_per_h100e_month",
            "compute_price_compare",
            "Compute price by scenario",
            "M RMB per H100e-month",
            False,
            "M RMB per H100e-month",
        ),
        (
            "cr3_users",
            "cr3_users_compare",
            "Top-three share of users by scenario",
            "share (0-1)",
            False,
            "share (0-1)",
        ),
    )
    return [
        scenarios_figure(
            metrics,
            column,
            folder / f"{stem}.png",
            title,
            ylabel,
            log=log,
            reference=reference,
            diff_label=f"difference, {unit}",
        )
        for column, stem, title, ylabel, log, unit in figures
    ]


def load_comparison(
    paths: Sequence[Path],
    end: str | None,
    reference: str | None,
    declare: Path | None,
    outcome_names: Sequence[str],
) -> tuple[list[Scenario], list[str], str, list[Outcome]]:
    """Check a comparison's inputs before any run: the scenarios (distinct names, ``end``
    applied), the reference among them, and the extra outcomes (``--outcome``, with series from
    ``--declare``). Every problem is an ``InputError`` (exit 2)."""
    from sim.declared import load_declarations
    from sim.outcomes import parse_outcomes
    from sim.scenario import load_scenario

    if len(paths) < 2:
        raise InputError(None, None, "compare needs at least two scenario files")
    if end is not None and not end.strip():
        raise InputError(None, "--end", "empty; give the last month as YYYY-MM")
    if reference is not None and not reference.strip():
        raise InputError(None, "--reference", "empty; give a scenario name")
    overrides = {"end": end} if end is not None else None
    scenarios = [load_scenario(p, overrides, "--end") for p in paths]
    files = [str(p) for p in paths]
    check_distinct(scenarios, files)
    ref = scenarios[0].name if reference is None else reference
    if ref not in {sc.name for sc in scenarios}:
        raise InputError(
            None,
            "--reference",
            f"{ref[:60]!r} is not among the scenarios: " + ", ".join(s.name for s in scenarios),
        )
    series = load_declarations(declare) if declare is not None else {}
    horizon = min(sc.n_months for sc in scenarios)
    extra = parse_outcomes(outcome_names, horizon, None, "--outcome", series)
    return scenarios, files, ref, extra


def write_comparison(
    result: Any,
    scenarios: list[Scenario],
    prov: dict[str, Any],
    extra: Sequence[Outcome],
    spread: str,
    out_dir: Path,
    figures: bool,
) -> str:
    """The comparison's outcome tables, text, figures and files (one atomic results folder);
    returns the text. ``prov`` is the manifest and names the reference."""
    from sim import runner, summary
    from sim.outcomes import standard_outcomes

    ref = prov["reference"]
    standard = standard_outcomes(int(result.metrics["month"].max()) + 1)
    declared = standard + [o for o in extra if o.name not in {s.name for s in standard}]
    outcomes = summary.replication_outcomes(result.metrics, result.events, declared)
    table = headline_table(outcomes, ref, declared)
    definitions = pd.DataFrame(
        [{"outcome": o.name, "unit": o.unit, "definition": o.definition} for o in declared]
    )
    text = format_comparison(table, ref, prov["replications"], spread, extra=extra)
    runner.write_results(
        out_dir,
        lambda folder: runner.save_run(
            folder,
            result,
            scenarios,
            prov,
            text,
            figures=(lambda d: comparison_figures(result.metrics, d, ref)) if figures else None,
            extra_tables={
                "outcomes": outcomes,
                "headline": table,
                "outcomes_defined": definitions,
            },
        ),
    )
    return text
