"""Declared outcomes: one definition per reported number, shared by summary, compare and sweep.

An outcome has a name, a unit, a definition in plain words and an extractor over the tidy tables
(monthly metrics and the event log) that gives one value per (scenario, replication). Outcomes are
parameterised by a month or a year where that makes sense and are written as text:

- ``active_developers@2026-06``: any monthly metric column at a month (``<column>@YYYY-MM``);
- ``market_size@2028``: the calendar-year market (sum of the twelve months' ``market_m_rmb``,
  bn RMB; iiMedia's AIGC core market definition), only for complete years;
- ``market_annualised@2028-12``: the month's market x 12 (bn RMB per year);
- ``peak_month``, ``peak_developers``: the (first) month of the most active developers, and that
  number;
- ``exits_<cause>`` over the whole run and ``exits_<cause>@YYYY`` in a calendar year (from the
  event log);
- series users declare in YAML (``sim.declared``): ``<name>@YYYY-MM``, and ``<name>@YYYY`` when
  the declaration says how a calendar year aggregates.

Across replications every outcome is summarised the same way (``STATISTIC``): the median with the
10th and 90th percentiles (numpy's linear interpolation). ``parse_outcome`` turns text into an
``Outcome`` or raises an ``InputError`` naming the bad outcome and what is allowed. Spellings of
earlier versions (``active_developers_2028-12``, ``market_bn_rmb_2028``,
``survivors_startup_2028-12``) are accepted as aliases of the current names.

Only pandas and numpy are needed, and only when values are extracted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.calendar import month_label, parse_month
from sim.errors import InputError
from sim.vocab import EXIT_CAUSES, KINDS, START_YEAR

if TYPE_CHECKING:
    import pandas as pd

    from sim.declared import Declaration

KEYS = ("scenario", "replication")
QUANTILES = (0.1, 0.5, 0.9)
STATISTIC = "median [10-90 %]"
"""How every outcome is summarised across replications (numpy linear quantiles)."""

#: Monthly metric columns of the model (``sim/phases/recording.py``; a test keeps this in step).
METRIC_COLUMNS: tuple[str, ...] = (
    "active_developers",
    *(f"active_{k}" for k in KINDS),
    "app_layer_firms",
    "pretraining_firms",
    "entries",
    *(f"exits_{c}" for c in EXIT_CAUSES),
    "hhi_users",
    "cr3_users",
    "hhi_revenue",
    "cr3_revenue",
    "market_size_bn_rmb_annualised",
    "market_m_rmb",
    "revenue_m_rmb",
    "users_m",
    "outside_users_m",
    "users_awaiting_choice_m",
    "adopters_m",
    "consumer_adopters_m",
    "potential_adopters_m",
    "startup_revenue_m_rmb",
    "startup_net_loss_m_rmb",
    "startup_loss_to_revenue_ytd",
    "usage_demanded_m_rmb",
    "usage_served_m_rmb",
    "served_share",
    "usage_tokens_tn_per_month",
    "mean_price_index",
    "frontier_wage_m_rmb_per_year",
    "frontier_pool",
    "frontier_employed",
    "compute_price_m_rmb_per_h100e_month",
    "compute_price_floor_m_rmb",
    "installed_h100e",
    "firm_owned_h100e",
    "firm_capacity_h100e",
    "rental_pool_h100e",
    "outside_compute_bid_m_rmb",
    "serving_h100e",
    "inference_h100e",
    "chip_purchases_h100e",
    "domestic_chip_share",
    "imported_supply_factor",
    "vc_inflow_factor",
    "subsidies_paid_m_rmb",
    "gov_equity_m_rmb",
    "vc_invested_m_rmb",
    "strategic_invested_m_rmb",
    "ipo_raised_m_rmb",
    "acquisition_spend_m_rmb",
    "vc_dry_powder_m_rmb",
    "hype_index",
    "entry_attractiveness",
    "best_capability_log10",
    "open_floor_log10",
    "global_frontier_log10",
    "capability_gap_log10",
)

# Short labels, units and display digits of the columns reported most often.
_KNOWN: dict[str, tuple[str, str, int]] = {
    "active_developers": ("active developers", "count", 0),
    **{f"active_{k}": (f"active {k} developers", "count", 0) for k in KINDS},
    "cr3_users": ("top-3 user share", "share 0-1", 2),
    "cr3_revenue": ("top-3 revenue share", "share 0-1", 2),
    "hhi_users": ("HHI of users", "index 0-1", 3),
    "hhi_revenue": ("HHI of revenue", "index 0-1", 3),
    "compute_price_m_rmb_per_h100e_month": ("compute price", "M RMB per H100e-month", 4),
    "domestic_chip_share": ("domestic chip share", "share 0-1", 2),
    "capability_gap_log10": ("capability gap", "log10 H100e-months", 2),
    "consumer_adopters_m": ("consumer adopters", "million users", 0),
    "startup_loss_to_revenue_ytd": (
        "start-ups' net loss / revenue (median, year to date)",
        "ratio",
        1,
    ),
    "market_size_bn_rmb_annualised": ("market, month x 12", "bn RMB per year", 1),
    "market_m_rmb": ("AIGC core market", "M RMB (in the month)", 0),
    "revenue_m_rmb": ("model layer's revenue", "M RMB (in the month)", 0),
}
_SUFFIX_UNITS = (
    ("_m_rmb_per_year", "M RMB per year"),
    ("_m_rmb", "M RMB (in the month)"),
    ("_bn_rmb", "bn RMB"),
    ("_h100e", "H100e accelerators"),
    ("_log10", "log10 H100e-months"),
    ("_share", "share 0-1"),
    ("_m", "million"),
    ("_index", "index"),
    ("_factor", "factor (1 = no change)"),
    ("_firms", "count"),
)


def _column_meta(column: str) -> tuple[str, str, int]:
    if column in _KNOWN:
        return _KNOWN[column]
    if column.startswith("exits_") or column == "entries":
        return (column.replace("_", " "), "count (in the month)", 0)
    unit = next((u for s, u in _SUFFIX_UNITS if column.endswith(s)), "see docs/ODD.md")
    return (column.replace("_", " "), unit, 3)


@dataclass(frozen=True)
class Outcome:
    """A declared outcome: one value per (scenario, replication) from the tidy tables."""

    name: str
    """canonical name, e.g. ``active_developers@2026-06`` (also the column in outcome tables)"""
    label: str
    """short label for table columns, with its month or year, e.g. ``active developers 2026-06``"""
    unit: str
    """unit of the value, e.g. ``count`` or ``bn RMB (calendar year)``"""
    definition: str
    """plain words: what is measured, and how it is summarised across replications"""
    extract: Callable[[pd.DataFrame, pd.DataFrame], pd.Series]
    """(metrics, events) -> values indexed by (scenario, replication)"""
    digits: int = 0
    """decimals shown in text tables"""
    last_month: int | None = None
    """the latest month index the outcome needs (None: whole run)"""

    def values(self, metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        """Values per (scenario, replication) of every run in ``metrics``, NaN where undefined."""
        import pandas as pd

        index = pd.MultiIndex.from_frame(metrics[list(KEYS)].drop_duplicates())
        out = self.extract(metrics, events).reindex(index).astype(float)
        return out.rename(self.name)


def _month_extractor(column: str, month: int) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    def extract(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        at = metrics[metrics["month"] == month]
        return at.set_index(list(KEYS))[column]

    return extract


def market_column(metrics: pd.DataFrame) -> str:
    """The monthly AIGC core market's column: ``market_m_rmb``, or ``revenue_m_rmb`` in tables
    written before the value chain (``demand.model_layer_share``), when the two were the same."""
    return "market_m_rmb" if "market_m_rmb" in metrics.columns else "revenue_m_rmb"


def _calendar_year_market(year: int) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    first = (year - START_YEAR) * 12

    def extract(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        inside = metrics[(metrics["month"] >= first) & (metrics["month"] < first + 12)]
        g = inside.groupby(list(KEYS), sort=False)[market_column(metrics)]
        return (g.sum() / 1000).where(g.size() == 12)

    return extract


def _peak(what: str) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    def extract(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        rows = metrics.loc[metrics.groupby(list(KEYS), sort=False)["active_developers"].idxmax()]
        return rows.set_index(list(KEYS))[what]

    return extract


def _exits(cause: str, year: int | None) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    def extract(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        import pandas as pd

        ev = events[events["event"] == cause]
        if year is not None:
            first = (year - START_YEAR) * 12
            ev = ev[(ev["month"] >= first) & (ev["month"] < first + 12)]
        index = pd.MultiIndex.from_frame(metrics[list(KEYS)].drop_duplicates())
        counts = ev.groupby(list(KEYS)).size()
        return counts.reindex(index, fill_value=0)

    return extract


_MONTH = r"\d{4}-\d{2}"
_YEAR = r"\d{4}"
ACROSS = f"summarised across replications as {STATISTIC}"

#: The forms an outcome may take (shown in error messages and docs).
FORMS: tuple[str, ...] = (
    "<metric column>@YYYY-MM (e.g. active_developers@2026-06, cr3_users@2025-12)",
    "market_size@YYYY (calendar-year AIGC core market, bn RMB)",
    "market_annualised@YYYY-MM (the month's market x 12, bn RMB per year)",
    "peak_month",
    "peak_developers",
    *(f"exits_{c}" for c in EXIT_CAUSES),
    "exits_<cause>@YYYY",
    "<declared series>@YYYY-MM and, with a year rule, <declared series>@YYYY",
)


def _declared_extractor(
    decl: Declaration, month: int | None, year: int | None
) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    from sim.declared import compile_expression

    series = compile_expression(decl.expression, METRIC_COLUMNS)

    def extract(metrics: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        import numpy as np
        import pandas as pd

        if month is not None:
            at = metrics[metrics["month"] == month]
            values = np.broadcast_to(np.asarray(series(at), dtype=float), (len(at),))
            return pd.Series(values, index=pd.MultiIndex.from_frame(at[list(KEYS)]))
        first = (int(year or 0) - START_YEAR) * 12
        inside = metrics[(metrics["month"] >= first) & (metrics["month"] < first + 12)]
        values = np.broadcast_to(np.asarray(series(inside), dtype=float), (len(inside),))
        frame = inside[list(KEYS)].assign(value=values, month=inside["month"].to_numpy())
        g = frame.groupby(list(KEYS), sort=False)
        agg = {"sum": g["value"].sum(), "mean": g["value"].mean()}.get(str(decl.year))
        if agg is None:  # end: the December value
            dec = frame[frame["month"] == first + 11]
            agg = dec.set_index(list(KEYS))["value"]
        # A year needs twelve months with a value: a NaN month (0/0) makes the year NaN, never a
        # silently short sum or a mean of fewer months.
        return agg.where((g.size() == 12) & (g["value"].count() == 12))

    return extract


def _build_declared(name: str, declared: dict[str, Declaration]) -> Outcome | None:
    """An ``Outcome`` for ``<declared>@YYYY-MM`` or ``<declared>@YYYY``, None if ``name`` does
    not start with a declared series; ``ValueError`` if it does but the form is not allowed."""
    m = re.fullmatch(rf"([a-z][a-z0-9_]*)@({_MONTH}|{_YEAR})", name)
    if not m or m.group(1) not in declared:
        return None
    series, when = m.group(1), m.group(2)
    decl = declared[series]
    if re.fullmatch(_MONTH, when):
        month = _month_index(when, name)
        return Outcome(
            name,
            f"{series.replace('_', ' ')} {when}",
            decl.unit,
            f"{decl.definition} (declared: {decl.expression}), in {when}; {ACROSS}",
            _declared_extractor(decl, month, None),
            digits=decl.digits,
            last_month=month,
        )
    if decl.year is None:
        raise ValueError(
            f"{series!r} is declared without a year rule (year: sum, mean or end), so only "
            f"{series}@YYYY-MM may be asked for"
        )
    y = int(when)
    return Outcome(
        name,
        f"{series.replace('_', ' ')} {y} ({decl.year})",
        decl.unit,
        f"{decl.definition} (declared: {decl.expression}), {decl.year} over calendar year {y}; "
        f"{ACROSS}",
        _declared_extractor(decl, None, y),
        digits=decl.digits,
        last_month=_month_index(f"{y}-12", name),
    )


def reserved_names() -> set[str]:
    """Names a declared series may not take: metric columns and built-in outcome stems."""
    return {
        *METRIC_COLUMNS,
        "market_size",
        "market_annualised",
        "peak_month",
        "peak_developers",
        *(f"exits_{c}" for c in EXIT_CAUSES),
    }


def _aliases(text: str) -> str:
    """Current spelling of a name written as in earlier versions (unchanged otherwise)."""
    m = re.fullmatch(rf"market_bn_rmb_({_YEAR})", text)
    if m:
        return f"market_size@{m.group(1)}"
    m = re.fullmatch(rf"([a-z][a-z0-9_]*)_({_MONTH})", text)
    if m:
        col = m.group(1)
        col = re.sub(r"^survivors_", "active_", col)
        return f"{col}@{m.group(2)}"
    return text


def _month_index(text: str, name: str) -> int:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise ValueError(f"outcome {name!r}: {exc}") from None


def _build(name: str, declared: dict[str, Declaration] | None = None) -> Outcome:
    """An ``Outcome`` for a canonical name; ``ValueError`` with the reason if it is not one."""
    if declared:
        found = _build_declared(name, declared)
        if found is not None:
            return found
    if name == "peak_month":
        return Outcome(
            name,
            "peak month",
            "month index (0 = 2021-01)",
            "the first month in which active foundation-model developers reach their maximum "
            f"in a run, as a month index; {ACROSS} (the median shown as a month)",
            _peak("month"),
        )
    if name == "peak_developers":
        return Outcome(
            name,
            "peak developers",
            "count",
            f"the largest number of active foundation-model developers in a run; {ACROSS}",
            _peak("active_developers"),
        )
    m = re.fullmatch(rf"exits_([a-z]+)(?:@({_YEAR}))?", name)
    if m and m.group(1) in EXIT_CAUSES:
        cause, year = m.group(1), m.group(2)
        if year is None:
            return Outcome(
                name,
                f"{cause} (whole run)",
                "count",
                f"exits by {cause} over the whole run, from the event log; {ACROSS}",
                _exits(cause, None),
            )
        y = int(year)
        return Outcome(
            name,
            f"{cause} {y}",
            "count",
            f"exits by {cause} in calendar year {y}, from the event log; {ACROSS}",
            _exits(cause, y),
            last_month=_month_index(f"{y}-12", name),
        )
    m = re.fullmatch(rf"market_size@({_YEAR})", name)
    if m:
        y = int(m.group(1))
        return Outcome(
            name,
            f"market {y}, calendar-year",
            "bn RMB",
            f"market size in {y}: the sum of the twelve months' AIGC core market (iiMedia's "
            "definition: the model layer's revenue over demand.model_layer_share, market_m_rmb), "
            f"bn RMB, only for a complete calendar year; {ACROSS}",
            _calendar_year_market(y),
            digits=1,
            last_month=_month_index(f"{y}-12", name),
        )
    m = re.fullmatch(rf"market_annualised@({_MONTH})", name)
    if m:
        month = _month_index(m.group(1), name)
        return Outcome(
            name,
            f"market {m.group(1)}, month x 12",
            "bn RMB per year (annualised)",
            f"the market of {m.group(1)} times twelve, bn RMB per year (iiMedia's China AIGC "
            f"core market definition; differs from the calendar-year sum); {ACROSS}",
            _month_extractor("market_size_bn_rmb_annualised", month),
            digits=1,
            last_month=month,
        )
    m = re.fullmatch(rf"([a-z][a-z0-9_]*)@({_MONTH})", name)
    if m and m.group(1) in METRIC_COLUMNS:
        column, label = m.group(1), m.group(2)
        month = _month_index(label, name)
        short, unit, digits = _column_meta(column)
        return Outcome(
            name,
            f"{short} {label}",
            unit,
            f"the monthly metric {column} in {label}; {ACROSS}",
            _month_extractor(column, month),
            digits=digits,
            last_month=month,
        )
    if m:
        raise ValueError(f"{m.group(1)!r} is not a monthly metric column")
    raise ValueError("not an outcome name")


def parse_outcome(
    text: str,
    n_months: int | None = None,
    file: str | None = None,
    key_path: str | None = None,
    declared: dict[str, Declaration] | None = None,
) -> Outcome:
    """The ``Outcome`` named ``text`` (current spelling or an alias of earlier versions), among
    the built-in forms and the series in ``declared`` (``sim.declared``).

    With ``n_months``, an outcome needing a month after the horizon (or before 2021-01) is refused.
    Every problem is an ``InputError`` naming the outcome and listing the allowed forms.
    """
    name = str(text).strip()
    name = name if declared and name.split("@")[0] in declared else _aliases(name)
    try:
        outcome = _build(name, declared)
    except ValueError as exc:
        mine = f"; declared: {', '.join(sorted(declared))}" if declared else ""
        raise InputError(
            file,
            key_path,
            f"unknown outcome {str(text)[:80]!r} ({exc}); allowed: {'; '.join(FORMS)}{mine}; "
            f"metric columns: {', '.join(METRIC_COLUMNS)}",
        ) from None
    last = outcome.last_month
    if last is not None and (last < 0 or (n_months is not None and last >= n_months)):
        end = month_label(n_months - 1) if n_months is not None else "the horizon"
        raise InputError(
            file,
            key_path,
            f"outcome {outcome.name!r} needs month {month_label(last)}, outside the simulated "
            f"months 2021-01 to {end}",
        )
    return outcome


def parse_outcomes(
    names: Iterable[str],
    n_months: int | None = None,
    file: str | None = None,
    key: str = "",
    declared: dict[str, Declaration] | None = None,
) -> list[Outcome]:
    """Parse several names (``key[i]`` names the bad one in errors); canonical names must differ."""
    out: list[Outcome] = []
    seen: dict[str, int] = {}
    for i, text in enumerate(names):
        path = f"{key}[{i}]" if key else None
        o = parse_outcome(text, n_months, file, path, declared)
        if o.name in seen:
            raise InputError(
                file, path, f"outcome {o.name!r} is already listed at {key}[{seen[o.name]}]"
            )
        seen[o.name] = i
        out.append(o)
    return out


def outcome_table(
    metrics: pd.DataFrame, events: pd.DataFrame, outcomes: Sequence[Outcome]
) -> pd.DataFrame:
    """Wide table: ``scenario, replication`` and one column per outcome (named ``Outcome.name``)."""
    import pandas as pd

    cols = [o.values(metrics, events) for o in outcomes]
    index = pd.MultiIndex.from_frame(metrics[list(KEYS)].drop_duplicates())
    return (
        pd.concat(cols, axis=1).reindex(index).reset_index()
        if cols
        else index.to_frame(index=False)
    )


def quantiles(values: Iterable[float]) -> dict[str, float]:
    """``p10, median, p90`` of the finite values (NaN if none): the summary of ``STATISTIC``."""
    import numpy as np

    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"p10": float("nan"), "median": float("nan"), "p90": float("nan")}
    p10, p50, p90 = np.quantile(v, QUANTILES)
    return {"p10": float(p10), "median": float(p50), "p90": float(p90)}


def standard_outcomes(n_months: int) -> list[Outcome]:
    """The outcomes ``compare`` reports for a horizon of ``n_months``: end of 2025 and 2028 (where
    simulated), calendar-year markets 2025 and 2028, the peak, and exits over the run."""
    names: list[str] = []
    for label in ("2025-12", "2028-12"):
        if parse_month(label) < n_months:
            names += [
                f"{c}@{label}"
                for c in (
                    "active_developers",
                    *(f"active_{k}" for k in KINDS),
                    "cr3_users",
                    "compute_price_m_rmb_per_h100e_month",
                    "domestic_chip_share",
                    "capability_gap_log10",
                )
            ]
    names += [f"market_size@{y}" for y in (2025, 2028) if parse_month(f"{y}-12") < n_months]
    names += ["peak_month", "peak_developers", *(f"exits_{c}" for c in EXIT_CAUSES)]
    return [parse_outcome(n) for n in names]
