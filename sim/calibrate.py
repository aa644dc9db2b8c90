"""Calibration: declared targets, a loss, an optimiser, a posterior, and a fit report.

Targets live in a CSV with their sources and tolerances (``calibration/targets.csv``): iiMedia's
China AIGC core market in 2023 and 2028 (only these two points are published), the count of
models in mid-2023, CNNIC's generative-AI users (2024-12, 2025-06, 2025-12), the start-ups' unit
economics, the press rent of an H100 (2024-01, 2025-03), installed compute (IDC and Inspur, 2024
and the 2028 forecast) and the growth of tokens served since 2024-01 (National Data
Administration). Each target kind
is an entry of ``TARGET_KINDS``: its period form (year or month), whether its tolerance is
relative, and an extractor from a replication's monthly metrics table (annual targets are
calendar-year sums of the monthly AIGC core market, ``market_m_rmb``). The growth implied by the
two market points is a further term, derived here from the two rows (never an interpolated year
presented as data).

The loss is a sum of squared errors in tolerance units, computed on medians across replications
that use the same seeds in every trial (common random numbers), so trials differ only through their
parameters. The optimiser is Optuna's TPE sampler with the study stored in SQLite: a killed
calibration rerun with the same command continues from the stored trials. Trials are asked in
batches of fixed size and evaluated on the command's executor (``sim.executor``: worker processes
started once and reused by trials, profiles and the final replications), so results do not depend
on the number of workers. A failed trial is recorded with its reason.

Beyond the best point, ``fit_posterior`` approximates the posterior of the free parameters by
ABC-SMC (``sim.abc``) with the same simulated statistics, and ``out_of_sample`` fits only the
targets up to a cut-off month and predicts the later ones. Everything a calibration writes goes to
its own results folder (``write_results_folder``); ``accept`` installs a result as the tracked
calibration only after re-simulating it and checking every target.
"""

from __future__ import annotations

import json
import math
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sim.errors import InputError
from sim.executor import Executor
from sim.params import check_parameter, load_spec, scenario_at, set_path
from sim.safeload import check_output_folder, excerpt, read_csv_rows
from sim.scenario import (
    F,
    Source,
    Strict,
    _display,
    format_validation_error,
    load_raw_traced,
    validate_scenario,
)

INTERRUPTED = "interrupted (the process stopped before the trial finished)"
TARGET_COLUMNS = (
    "target",
    "period",
    "value",
    "unit",
    "tolerance",
    "weight",
    "definition",
    "source",
)


# --------------------------------------------------------------------------------------------------
# Target kinds: how each kind of target is read off a replication's monthly metrics table
# --------------------------------------------------------------------------------------------------


def _annual_market(metrics: pd.DataFrame, period: str) -> float:
    """Calendar-year sum of the monthly AIGC core market, bn RMB
    (``sim.summary.annual_market_bn_rmb``)."""
    from sim.summary import annual_market_bn_rmb

    annual = annual_market_bn_rmb(metrics).set_index("year")["market_bn_rmb"]
    return float(annual.get(int(period), np.nan))


def _monthly(column: str) -> Callable[[pd.DataFrame, str], float]:
    """An extractor of ``column`` in the month ``period`` (YYYY-MM)."""

    def extract(metrics: pd.DataFrame, period: str) -> float:
        at = metrics.loc[metrics["date"] == period, column]
        return float(at.iloc[0]) if len(at) else np.nan

    extract.__doc__ = f"``{column}`` in the month of the target."
    return extract


def _december(column: str) -> Callable[[pd.DataFrame, str], float]:
    """An extractor of a year-to-date ``column`` in the December of the year ``period`` (YYYY)."""
    monthly = _monthly(column)

    def extract(metrics: pd.DataFrame, period: str) -> float:
        return monthly(metrics, f"{period}-12")

    extract.__doc__ = f"``{column}`` in the December of the target's year (its value for the year)."
    return extract


def _growth_since(column: str, base: str) -> Callable[[pd.DataFrame, str], float]:
    """An extractor of ``column`` in the month ``period`` over its value in the month ``base``."""
    monthly = _monthly(column)

    def extract(metrics: pd.DataFrame, period: str) -> float:
        start = monthly(metrics, base)
        return monthly(metrics, period) / start if start > 0 else np.nan

    extract.__doc__ = f"``{column}`` in the month of the target over its value in {base}."
    return extract


@dataclass(frozen=True)
class TargetKind:
    """A kind of target: its period form, tolerance type and extractor."""

    annual: bool
    """period written YYYY (matched on the calendar year), else YYYY-MM"""
    relative: bool
    """tolerance relative (errors on a log scale), else absolute (errors in levels)"""
    unit: str
    """axis label of the simulated quantity"""
    extract: Callable[[pd.DataFrame, str], float]
    """value of the target's quantity in one replication's metrics table"""


TARGET_KINDS: dict[str, TargetKind] = {
    "market_size": TargetKind(True, True, "bn RMB (calendar year)", _annual_market),
    "active_models": TargetKind(False, False, "active developers", _monthly("active_developers")),
    "genai_users": TargetKind(
        False, True, "consumer adopters, million", _monthly("consumer_adopters_m")
    ),
    "startup_loss_ratio": TargetKind(
        True,
        True,
        "net loss / revenue, median start-up",
        _december("startup_loss_to_revenue_ytd"),
    ),
    "compute_rental_price": TargetKind(
        False,
        True,
        "M RMB per H100e-month",
        _monthly("compute_price_m_rmb_per_h100e_month"),
    ),
    "installed_compute": TargetKind(
        False, True, "installed accelerators, H100e", _monthly("installed_h100e")
    ),
    # The National Data Administration's base month: its growth figure starts in early 2024.
    "token_growth": TargetKind(
        False,
        True,
        "tokens served, multiple of 2024-01",
        _growth_since("usage_tokens_tn_per_month", "2024-01"),
    ),
}
"""Target name (first column of the targets CSV) -> kind. A new kind of target is one entry."""


class FreeParameter(Strict):
    """A parameter the calibration may move."""

    path: str = F(desc="dotted key path into the scenario, e.g. demand.demand_scale")
    low: float = F(desc="lower bound")
    high: float = F(desc="upper bound")
    log: bool = F(False, desc="search on a log scale (for scale factors)")

    @model_validator(mode="after")
    def _bounds(self) -> FreeParameter:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs a positive lower bound")
        return self


class Optimizer(Strict):
    """Optuna TPE settings and budget."""

    trials: int = F(
        120, desc="trials in total (a resumed study counts the stored ones)", ge=1, le=100_000
    )
    batch: int = F(
        4,
        desc="trials asked and evaluated together (fixed, so results do not depend "
        "on the number of workers)",
        ge=1,
        le=256,
    )
    startup_trials: int = F(20, desc="random trials before TPE starts modelling", ge=1, le=10_000)
    seed: int = F(0, desc="seed of the sampler", ge=0, le=2**32 - 1)


class PosteriorSettings(Strict):
    """ABC-SMC settings (``sim.abc``): at most ``particles`` simulations per generation."""

    particles: int = F(
        48, desc="population size: at most this many simulations per generation", ge=4, le=100_000
    )
    generations: int = F(4, desc="generations (the first draws from the prior)", ge=1, le=100)
    keep: float = F(
        0.5,
        desc="quantile of the population's distances that sets the next threshold (the share "
        "kept; the rest are replaced by copies of those kept)",
        gt=0,
        lt=1,
    )
    epsilon: float = F(
        1.0,
        desc="final threshold: largest target error in tolerance units (1: every target met)",
        gt=0,
        le=1000,
    )
    predictive_draws: int = F(
        24, desc="posterior draws re-run over the full horizon (out-of-sample check)", ge=1
    )
    max_moves: int = F(
        1,
        desc="most MCMC moves a particle tries in a generation: as many as the last acceptance "
        "rate needs for most particles to move once (Drovandi & Pettitt 2011), up to this; 1 is "
        "one move a generation. The cost is at most particles x max_moves a generation",
        ge=1,
        le=20,
    )
    seed: int = F(0, desc="seed of the ABC sampler", ge=0, le=2**32 - 1)


def abc_budget(post: PosteriorSettings) -> int:
    """The most parameter sets an ABC-SMC fit simulates: particles x generations x max_moves."""
    return post.particles * post.generations * post.max_moves


class CalibrationSpec(Strict):
    """A calibration file."""

    name: str = F("calibration", desc="study name", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base: str = F(desc="base scenario file, relative to this file")
    end: str = F("2028-12", desc="horizon of each trial run, YYYY-MM (covers the last target)")
    targets: str = F("targets.csv", desc="targets CSV, relative to this file")
    target_weights: dict[str, float] = F(
        default_factory=dict,
        desc="weights replacing the targets file's for some targets, by key <target>_<period> "
        "(e.g. startup_loss_ratio_2024: 1 holds in a target the file only reports); 0 = "
        "reported, not fitted",
    )
    replications: int = F(
        4, desc="replications per trial (same seeds in every trial)", ge=1, le=1000
    )
    seed: int = F(1, desc="root seed of the replications", ge=0, le=2**32 - 1)
    parameters: list[FreeParameter] = F(desc="free parameters", min_length=1)
    optimizer: Optimizer = F(default_factory=Optimizer, desc="optimiser settings and budget")
    posterior: PosteriorSettings = F(
        default_factory=PosteriorSettings, desc="ABC-SMC posterior settings"
    )
    out_of_sample_until: str | None = F(
        None,
        desc="YYYY-MM: also fit only the targets up to this month and predict the later ones "
        "(null: no out-of-sample check)",
    )
    growth_weight: float = F(
        1.0, desc="weight of the growth implied by two market targets", ge=0, le=100
    )
    output: str = F(
        "calibrated.yaml",
        desc="where `calibrate --accept` installs the parameter file, relative to this file",
    )
    report: str = F(
        "report", desc="where `calibrate --accept` installs the fit report, relative to this file"
    )
    posterior_output: str = F(
        "posterior.parquet",
        desc="where `calibrate --accept` installs the posterior sample, relative to this file",
    )
    study: str = F("study.db", desc="name of the Optuna SQLite study inside the results folder")
    profile_points: int = F(7, desc="points per one-at-a-time loss profile", ge=2, le=100)
    final_replications: int = F(
        16, desc="replications of the best parameters for the report", ge=1, le=10_000
    )


def _month_of(period: str) -> int:
    """Month index of a target period (a year counts as its December)."""
    from sim.calendar import parse_month

    return parse_month(period if "-" in period else f"{period}-12")


@dataclass(frozen=True)
class Target:
    """One calibration target."""

    kind: str
    period: str
    value: float
    tolerance: float
    weight: float

    @property
    def key(self) -> str:
        """Column name of its statistic: ``<kind>_<period>``."""
        return f"{self.kind}_{self.period}"

    @property
    def month(self) -> int:
        return _month_of(self.period)

    def error(self, simulated: float) -> float:
        """Signed error in tolerance units (log errors for relative tolerances)."""
        if TARGET_KINDS[self.kind].relative:
            if not simulated > 0:
                return math.inf
            return math.log(simulated / self.value) / math.log(1 + self.tolerance)
        return (simulated - self.value) / self.tolerance

    def within(self, simulated: float) -> bool:
        """Whether ``simulated`` meets the target within its tolerance."""
        if not math.isfinite(simulated):
            return False
        if TARGET_KINDS[self.kind].relative:
            return abs(simulated / self.value - 1) <= self.tolerance + 1e-12
        return abs(simulated - self.value) <= self.tolerance + 1e-12


@dataclass
class Calibration:
    """A validated calibration: spec, base scenario mapping, targets and file locations.

    ``out`` is the results folder every output of a calibration goes to (``None`` until a command
    sets it); ``path`` resolves names relative to the calibration file (the accept destinations).
    """

    spec: CalibrationSpec
    file: Path
    base_raw: dict[str, Any]
    targets: list[Target]
    out: Path | None = None

    def path(self, name: str) -> Path:
        return self.file.parent / name

    def study_path(self) -> Path:
        """The Optuna study: inside the results folder."""
        if self.out is None:
            raise ValueError("the calibration has no results folder")
        return self.out / self.spec.study


class TargetRow(BaseModel):
    """One row of the targets CSV, as text (numbers are parsed from it; other columns such as
    ``unit`` and ``definition`` are documentation)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    target: str = F(
        desc="a kind in TARGET_KINDS (market_size, active_models, genai_users, startup_loss_ratio, "
        "compute_rental_price, installed_compute, token_growth)"
    )
    period: str = F(
        desc="YYYY for annual kinds (market_size, startup_loss_ratio), YYYY-MM for monthly ones"
    )
    value: float = F(desc="target value", allow_inf_nan=False, ge=0)
    tolerance: float = F(
        desc="tolerance: relative for relative kinds (market_size, genai_users, "
        "startup_loss_ratio), absolute otherwise",
        gt=0,
        allow_inf_nan=False,
    )
    weight: float = F(desc="weight of the target in the loss", ge=0, allow_inf_nan=False)
    source: str = F(desc="where the number comes from", min_length=3)


def read_targets(path: Path, end: str = "2060-12") -> list[Target]:
    """Read and check a targets CSV (via ``sim.safeload``); every problem is an ``InputError``
    naming the file, the row and the column. Kinds must be in ``TARGET_KINDS``; periods must be
    written in the kind's form and lie in 2021 .. ``end`` (the horizon of the trial runs), values
    of relative kinds must be positive, and each (target, period) may appear once."""
    from sim.calendar import parse_month

    shown = _display(path)
    rows = read_csv_rows(path, TARGET_COLUMNS)
    if not rows:
        raise InputError(shown, None, "no targets: the file has a header but no rows")
    horizon = parse_month(end)
    out: list[Target] = []
    seen: dict[tuple[str, str], str] = {}
    for raw in rows:
        where = f"row {raw['_row']}"
        try:
            row = TargetRow.model_validate({k: v for k, v in raw.items() if k != "_row"})
        except ValidationError as exc:
            err = format_validation_error(exc, shown, model=TargetRow)
            raise InputError(
                shown, f"{where}.{err.key_path}" if err.key_path else where, err.message
            ) from None
        kind = TARGET_KINDS.get(row.target)
        if kind is None:
            raise InputError(
                shown,
                f"{where}.target",
                f"{excerpt(row.target)} is not a target kind; use one of "
                + ", ".join(TARGET_KINDS),
            )
        pattern = r"\d{4}" if kind.annual else r"\d{4}-\d{2}"
        month = None
        if re.fullmatch(pattern, row.period):
            try:
                month = _month_of(row.period)
            except ValueError:
                month = None
        if month is None or not 0 <= month <= horizon:
            form = "YYYY" if kind.annual else "YYYY-MM"
            raise InputError(
                shown,
                f"{where}.period",
                f"target {row.target} {excerpt(row.period)}: not a {form} period between 2021 "
                f"and the horizon {end} of the trial runs (set by `end` in the calibration file), "
                "so no run could reach it",
            )
        if kind.relative and row.value <= 0:
            raise InputError(shown, f"{where}.value", f"a {row.target} target must be above 0")
        key = (row.target, row.period)
        if key in seen:
            raise InputError(
                shown, where, f"{row.target} {row.period} is already set in {seen[key]}"
            )
        seen[key] = where
        out.append(Target(row.target, row.period, row.value, row.tolerance, row.weight))
    return out


def _reweighted(targets: list[Target], weights: dict[str, float], path: Path) -> list[Target]:
    """``targets`` with the calibration file's ``target_weights`` in place of their own."""
    from dataclasses import replace

    keys = [t.key for t in targets]
    for key, weight in weights.items():
        where = "target_weights." + excerpt(key, 60).strip("'\"")
        if key not in keys:
            raise InputError(
                _display(path),
                where,
                "not a target of the targets file; use one of " + ", ".join(keys),
            )
        if not (math.isfinite(weight) and 0 <= weight <= 100):
            raise InputError(
                _display(path), where, f"a weight must be a number from 0 to 100, not {weight}"
            )
    return [replace(t, weight=weights.get(t.key, t.weight)) for t in targets]


def load_calibration(path: str | Path, out: Path | None = None) -> Calibration:
    """Read and validate a calibration file; every problem is an ``InputError`` (exit 2) naming
    the file where the bad value was written (the calibration file, its base or the targets).
    ``out`` is the results folder its outputs (and study) go to."""
    path = Path(path)
    spec = load_spec(path, CalibrationSpec, "calibration")
    # The base without any earlier calibration: the fit must not depend on a previous result.
    base_path = path.parent / spec.base
    base_raw, source = load_raw_traced(base_path, use_calibration=False)
    base_raw["end"] = spec.end
    source.keys["end"] = Source(_display(path), ("end",))
    validate_scenario(base_raw, _display(base_path), source)
    targets = _reweighted(
        read_targets(path.parent / spec.targets, spec.end), spec.target_weights, path
    )
    if not any(t.weight > 0 for t in targets):
        raise InputError(
            _display(path),
            "target_weights" if spec.target_weights else None,
            "no target has a weight above 0, so there is nothing to fit",
        )
    cal = Calibration(spec, path, base_raw, targets, out)
    if spec.out_of_sample_until is not None:
        until = spec.out_of_sample_until
        try:
            ok = bool(re.fullmatch(r"\d{4}-\d{2}", until)) and _month_of(until) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise InputError(
                _display(path), "out_of_sample_until", f"{excerpt(until)} is not a YYYY-MM month"
            )
        fitted = [t for t in cal.targets if t.weight > 0]
        inside = [t for t in fitted if t.month <= _month_of(until)]
        if not inside or len(inside) == len(fitted):
            raise InputError(
                _display(path),
                "out_of_sample_until",
                f"{until} must leave targets of weight above 0 on both sides (fitted and held out)",
            )
    for i, p in enumerate(spec.parameters):
        probes = {"low": [p.low], "high": [p.high]}
        check_parameter(path, i, p.path, probes, lambda v: trial_scenario(cal, v))
    return cal


def restricted(cal: Calibration, until: str) -> Calibration:
    """The calibration with only the targets up to ``until`` (YYYY-MM), its trial runs ending at
    the last of them (cheaper runs; the seeds, and so the common random numbers, are the same)."""
    cutoff = _month_of(until)
    kept = [t for t in cal.targets if t.month <= cutoff]
    from sim.calendar import month_label

    base = json.loads(json.dumps(cal.base_raw))
    base["end"] = month_label(max(t.month for t in kept))
    return Calibration(cal.spec, cal.file, base, kept, cal.out)


def check_outputs(out: Path) -> None:
    """Refuse, before any trial, a results folder that could not be written (an existing
    calibration results folder is continued: its study is resumed)."""
    check_output_folder(out, "--out", resume=True)
    if out.is_dir() and any(out.iterdir()) and not (out / "study.db").is_file():
        raise InputError(
            f"--out {excerpt(str(out), 200)}".replace("'", ""),
            None,
            "folder exists, is not empty and holds no calibration study; choose a new folder",
        )
    for name in ("report", "calibrated.yaml", "posterior.parquet", "manifest.json"):
        if (out / name).exists():
            raise InputError(
                f"--out {excerpt(str(out), 200)}".replace("'", ""),
                None,
                f"holds a finished calibration ({name}); choose a new folder",
            )


def trial_scenario(cal: Calibration, values: dict[str, float]) -> Any:
    """The base scenario with ``values`` set at their key paths (validated)."""
    return scenario_at(cal.base_raw, values, cal.file)


# --------------------------------------------------------------------------------------------------
# Simulated statistics and the loss
# --------------------------------------------------------------------------------------------------


def simulate(
    cal: Calibration,
    values: dict[str, float],
    replications: int | None = None,
    executor: Executor | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Statistics matched to the targets, one row per replication (same seeds in every call).

    Columns: ``replication`` and one per target (``market_size_2023``, ``active_models_2023-07``,
    ...). Replications run on ``executor`` when given (rows stay in replication order), else here.
    ``seed`` (default: the calibration's) is the root seed of the replications.
    """
    from sim.executor import SequentialExecutor
    from sim.rng import replication_seeds

    sc = trial_scenario(cal, values)
    root = cal.spec.seed if seed is None else seed
    seeds = replication_seeds(root, replications or cal.spec.replications)
    jobs = [(cal.targets, sc, rep, s) for rep, s in enumerate(seeds)]
    return pd.DataFrame((executor or SequentialExecutor()).map(_target_stats, jobs))


def _target_stats(args: tuple[list[Target], Any, int, int]) -> dict[str, float]:
    """One replication's statistics matched to the targets (a job for any worker)."""
    from sim.runner import run_replication

    targets, sc, rep, seed = args
    m = run_replication(sc, seed, rep, record_firms=False).metrics
    return {"replication": rep, **target_values(targets, m)}


def target_values(targets: list[Target], metrics: pd.DataFrame) -> dict[str, float]:
    """Each target's quantity in one replication's metrics table, by target key."""
    return {t.key: TARGET_KINDS[t.kind].extract(metrics, t.period) for t in targets}


def history_checks(targets: list[Target], metrics: pd.DataFrame) -> pd.DataFrame:
    """Every target a run reaches, against that run: one row per target with its value, the
    run's median and 10-90 % range across replications, the median's error in tolerance units,
    whether it is within tolerance, and whether the target is fitted (weight above 0) or only
    reported. ``metrics`` is a run's monthly metrics table (one or more replications of one
    scenario); targets after its last month are left out."""
    last = int(metrics["month"].max())
    reached = [t for t in targets if t.month <= last]
    stats = [target_values(reached, g) for _, g in metrics.groupby("replication", sort=True)]
    rows = []
    for t in reached:
        values = np.array([row[t.key] for row in stats], dtype=float)
        finite = values[np.isfinite(values)]
        median = float(np.median(finite)) if finite.size else np.nan
        rows.append(
            {
                "target": t.kind,
                "period": t.period,
                "value": t.value,
                "unit": TARGET_KINDS[t.kind].unit,
                "tolerance": t.tolerance,
                "relative": TARGET_KINDS[t.kind].relative,
                "fitted": t.weight > 0,
                "simulated_median": median,
                "simulated_p10": float(np.quantile(finite, 0.1)) if finite.size else np.nan,
                "simulated_p90": float(np.quantile(finite, 0.9)) if finite.size else np.nan,
                "error_tolerance_units": t.error(median) if finite.size else np.nan,
                "within_tolerance": t.within(median),
            }
        )
    return pd.DataFrame(rows)


def target_errors(cal: Calibration, medians: dict[str, float] | pd.Series) -> dict[str, float]:
    """Signed error of each target in tolerance units, from medians across replications."""
    out = {}
    for t in cal.targets:
        sim = float(medians.get(t.key, np.nan))
        out[t.key] = t.error(sim) if math.isfinite(sim) else math.inf
    return out


def loss_terms(cal: Calibration, stats: pd.DataFrame) -> dict[str, float]:
    """Squared errors in tolerance units, weighted, on medians across replications.

    Relative kinds (market sizes, users) compare logs; absolute kinds (counts) compare levels; the
    growth between the first and last market targets compares log ratios with the combined
    tolerance.
    """
    med = stats.drop(columns="replication").median()
    errors = target_errors(cal, med)
    terms: dict[str, float] = {}
    markets = []
    for t in cal.targets:
        err = errors[t.key]
        if t.weight == 0:  # reported, not fitted
            terms[t.key] = 0.0
            continue
        if not math.isfinite(err):
            terms[t.key] = 1e6
            continue
        if t.kind == "market_size":  # weighted ones only: weight 0 returned above
            markets.append((t, float(med[t.key])))
        terms[t.key] = t.weight * err**2
    if len(markets) >= 2 and cal.spec.growth_weight > 0:
        markets.sort(key=lambda x: x[0].period)
        (t0, s0), (t1, s1) = markets[0], markets[-1]
        tol = math.hypot(math.log(1 + t0.tolerance), math.log(1 + t1.tolerance))
        err = (math.log(s1 / s0) - math.log(t1.value / t0.value)) / tol
        terms[f"growth_{t0.period}_{t1.period}"] = cal.spec.growth_weight * err**2
    return terms


def abc_distance(cal: Calibration, medians: dict[str, float] | pd.Series) -> float:
    """The ABC distance: the largest target error in tolerance units over targets of positive
    weight (1 means every target is met within its tolerance)."""
    errors = target_errors(cal, medians)
    return max(abs(errors[t.key]) for t in cal.targets if t.weight > 0)


def evaluate(args: tuple[Calibration, int, dict[str, float]]) -> dict[str, Any]:
    """Run one trial in any worker: its loss, the loss terms, medians, per-replication statistics
    and ABC distance, or its error."""
    cal, number, values = args
    try:
        stats = simulate(cal, values)
        terms = loss_terms(cal, stats)
        medians = stats.drop(columns="replication").median().to_dict()
        return {
            "number": number,
            "loss": float(sum(terms.values())),
            "terms": terms,
            "medians": medians,
            "stats": stats.to_dict("list"),
            "distance": abc_distance(cal, medians),
            "error": "",
        }
    except Exception:  # recorded with its reason; the study goes on
        return {
            "number": number,
            "loss": math.nan,
            "terms": {},
            "medians": {},
            "stats": {},
            "distance": math.inf,
            "error": traceback.format_exc(limit=3),
        }


# --------------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------------


def open_study(cal: Calibration) -> Any:
    """The Optuna study in SQLite (created, or loaded to continue). Interrupted trials, left
    'running' by a killed process, are marked failed so the study can go on."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opt = cal.spec.optimizer
    # Multivariate TPE: the free parameters compensate each other (potential users against
    # willingness to pay, say), which independent per-parameter densities cannot follow.
    sampler = optuna.samplers.TPESampler(
        seed=opt.seed, n_startup_trials=opt.startup_trials, multivariate=True
    )
    storage = f"sqlite:///{cal.study_path().resolve()}"
    study = optuna.create_study(
        study_name=cal.spec.name,
        storage=storage,
        sampler=sampler,
        direction="minimize",
        load_if_exists=True,
    )
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "error", INTERRUPTED)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return study


def finished_trials(study: Any) -> int:
    """Trials that count against the budget: completed, or failed for a reason of their own
    (trials interrupted by a kill are asked again)."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if t.user_attrs.get("error") != INTERRUPTED
    )


def optimise(
    cal: Calibration, executor: Executor, on_done: Callable[[], None] | None = None
) -> Any:
    """Run trials until the budget is spent; returns the study."""
    import optuna

    study = open_study(cal)
    opt = cal.spec.optimizer
    while (left := opt.trials - finished_trials(study)) > 0:
        asked = [study.ask() for _ in range(min(opt.batch, left))]
        jobs = []
        for trial in asked:
            values = {
                p.path: trial.suggest_float(p.path, p.low, p.high, log=p.log)
                for p in cal.spec.parameters
            }
            jobs.append((cal, trial.number, values))
        results = executor.map(evaluate, jobs)  # in trial order
        for trial, r in zip(asked, results, strict=True):
            # told in trial order: independent of which worker finished first
            if r["error"] or not math.isfinite(r["loss"]):
                trial.set_user_attr("error", r["error"] or "non-finite loss")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                trial.set_user_attr("terms", r["terms"])
                trial.set_user_attr("medians", r["medians"])
                study.tell(trial, r["loss"])
            if on_done:
                on_done()
    return study


def best_values(study: Any) -> dict[str, float]:
    """Parameters of the best completed trial."""
    return dict(study.best_trial.params)


def profiles(
    cal: Calibration,
    best: dict[str, float],
    executor: Executor,
    on_done: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """One-at-a-time loss profiles around the optimum: each parameter over its range, the others
    held at their best values. Columns: parameter, value, loss."""
    points = []
    for p in cal.spec.parameters:
        grid = (
            np.geomspace(p.low, p.high, cal.spec.profile_points)
            if p.log
            else np.linspace(p.low, p.high, cal.spec.profile_points)
        )
        points += [(p.path, float(v)) for v in sorted({*grid.tolist(), best[p.path]})]
    jobs = [(cal, i, {**best, path: value}) for i, (path, value) in enumerate(points)]
    results = executor.map(evaluate, jobs, on_done=(lambda _i: on_done()) if on_done else None)
    rows = [
        {"parameter": path, "value": value, "loss": r["loss"]}
        for (path, value), r in zip(points, results, strict=True)
    ]
    table = pd.DataFrame(rows)
    return table.sort_values(["parameter", "value"], kind="stable").reset_index(drop=True)


def tradeoffs(cal: Calibration, history: pd.DataFrame, share: float = 0.25) -> pd.DataFrame:
    """Pairs of parameters that trade off against each other among the best trials.

    One-at-a-time profiles cannot see a ridge (two parameters that can compensate each other);
    correlations of the (log, for log-scale parameters) values among the best ``share`` of trials
    can. Returns pairs with |correlation| >= 0.5, strongest first.
    """
    best = history.nsmallest(max(int(len(history) * share), 5), "loss")
    cols = {p.path: np.log(best[p.path]) if p.log else best[p.path] for p in cal.spec.parameters}
    corr = pd.DataFrame(cols).corr()
    rows = [
        {"parameter_a": a, "parameter_b": b, "correlation": float(corr.loc[a, b])}
        for i, a in enumerate(corr.columns)
        for b in corr.columns[i + 1 :]
        if np.isfinite(corr.loc[a, b]) and abs(corr.loc[a, b]) >= 0.5
    ]
    out = pd.DataFrame(rows, columns=["parameter_a", "parameter_b", "correlation"])
    return out.reindex(out["correlation"].abs().sort_values(ascending=False).index)


def identification(cal: Calibration, prof: pd.DataFrame) -> pd.DataFrame:
    """Which parameters the targets pin down: the loss must rise by at least 1 (one tolerance
    unit squared) somewhere on each side of the optimum within the bounds."""
    rows = []
    for p in cal.spec.parameters:
        g = prof[prof["parameter"] == p.path]
        floor = float(g["loss"].min())  # the profile's own minimum
        best = float(g.loc[g["loss"].idxmin(), "value"])
        below = (
            g[g["value"] < best]["loss"].max() - floor if (g["value"] < best).any() else math.nan
        )
        above = (
            g[g["value"] > best]["loss"].max() - floor if (g["value"] > best).any() else math.nan
        )
        rises = [x for x in (below, above) if np.isfinite(x)]
        if len(rises) == 2 and min(rises) >= 1:
            verdict = "identified"
        elif rises and max(rises) >= 1:
            verdict = "bounded on one side"
        else:
            verdict = "not identified"
        rows.append(
            {
                "parameter": p.path,
                "loss_rise_below": below,
                "loss_rise_above": above,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Posterior (ABC-SMC), posterior predictive and the out-of-sample check
# --------------------------------------------------------------------------------------------------


def priors(cal: Calibration) -> list[Any]:
    """Uniform priors on the free parameters' bounds (log-uniform for log-scale ones): the same
    search space as the optimiser's."""
    from sim.abc import Prior

    return [Prior(p.path, p.low, p.high, p.log) for p in cal.spec.parameters]


def fit_posterior(
    cal: Calibration, executor: Executor, on_done: Callable[[], None] | None = None
) -> Any:
    """ABC-SMC posterior of the free parameters given the targets (``sim.abc.abc_smc``), each
    particle simulated with the calibration's replications and seeds; returns the ``AbcResult``
    whose records are the particles' ``evaluate`` results (per-replication statistics)."""
    from sim.abc import abc_smc

    st = cal.spec.posterior
    counter = iter(range(10**9))

    def batch(values: list[dict[str, float]]) -> list[tuple[float, Any]]:
        jobs = [(cal, next(counter), v) for v in values]
        tick = (lambda _i: on_done()) if on_done else None
        return [(r["distance"], r) for r in executor.map(evaluate, jobs, on_done=tick)]

    return abc_smc(
        priors(cal),
        batch,
        st.particles,
        st.generations,
        st.keep,
        st.epsilon,
        seed=st.seed,
        max_moves=st.max_moves,
    )


def simulate_many(
    cal: Calibration,
    value_sets: list[dict[str, float]],
    replications: int,
    executor: Executor,
    on_done: Callable[[], None] | None = None,
) -> list[pd.DataFrame]:
    """``simulate`` for several parameter sets in one batch on the executor (all replications of
    all sets in parallel); one statistics table per set, in order."""
    from sim.rng import replication_seeds

    seeds = replication_seeds(cal.spec.seed, replications)
    jobs = [
        (cal.targets, trial_scenario(cal, v), rep, s)
        for v in value_sets
        for rep, s in enumerate(seeds)
    ]
    rows = executor.map(_target_stats, jobs, on_done=(lambda _i: on_done()) if on_done else None)
    return [
        pd.DataFrame(rows[k * replications : (k + 1) * replications])
        for k in range(len(value_sets))
    ]


def predictive_table(
    cal: Calibration,
    tables: list[pd.DataFrame],
    weights: np.ndarray,
    fitted: set[str] | None = None,
) -> pd.DataFrame:
    """Posterior predictive of every target: the replications of each parameter set pooled, each
    replication weighted by its set's weight / its number of replications. Columns: target,
    period, value, tolerance, relative, median and 5/10/90/95 % quantiles, whether the median is
    within tolerance and whether the target lies inside the 5-95 % interval, and whether the
    target was fitted (``fitted``: target keys used by the fit; default all)."""
    from sim.abc import weighted_quantile

    rows = []
    for t in cal.targets:
        vals = np.concatenate([tb[t.key].to_numpy(dtype=float) for tb in tables])
        w = np.concatenate(
            [np.full(len(tb), wi / len(tb)) for tb, wi in zip(tables, weights, strict=True)]
        )
        q05, q10, q50, q90, q95 = weighted_quantile(vals, w, (0.05, 0.1, 0.5, 0.9, 0.95))
        rows.append(
            {
                "target": t.kind,
                "period": t.period,
                "value": t.value,
                "tolerance": t.tolerance,
                "relative": TARGET_KINDS[t.kind].relative,
                "fitted": t.weight > 0 and (fitted is None or t.key in fitted),
                "weight": t.weight,
                "simulated_median": q50,
                "simulated_p05": q05,
                "simulated_p10": q10,
                "simulated_p90": q90,
                "simulated_p95": q95,
                "within_tolerance": t.within(q50),
                "target_in_5_95": bool(q05 <= t.value <= q95),
            }
        )
    return pd.DataFrame(rows)


def posterior_summary(cal: Calibration, particles: pd.DataFrame) -> pd.DataFrame:
    """Prior against posterior per parameter: bounds, weighted 5/50/95 % quantiles and mean, and
    the posterior 90 % interval as a share of the prior's (on the search scale, 1 = nothing
    learnt)."""
    from sim.abc import weighted_quantile

    w = particles["weight"].to_numpy(dtype=float)
    rows = []
    for p in cal.spec.parameters:
        v = particles[p.path].to_numpy(dtype=float)
        q05, q50, q95 = weighted_quantile(v, w, (0.05, 0.5, 0.95))
        f = np.log if p.log else (lambda x: x)
        share = (f(q95) - f(q05)) / (f(p.high) - f(p.low))
        rows.append(
            {
                "parameter": p.path,
                "prior_low": p.low,
                "prior_high": p.high,
                "log_scale": p.log,
                "posterior_mean": float(np.average(v, weights=w)),
                "posterior_p05": q05,
                "posterior_median": q50,
                "posterior_p95": q95,
                "interval_share_of_prior": float(share),
            }
        )
    return pd.DataFrame(rows)


def posterior_correlations(cal: Calibration, particles: pd.DataFrame) -> pd.DataFrame:
    """Weighted correlations of every pair of parameters in the posterior (logs for log-scale
    parameters): the trade-offs the targets leave open, strongest first."""
    w = particles["weight"].to_numpy(dtype=float)
    cols = {
        p.path: np.log(particles[p.path]) if p.log else particles[p.path]
        for p in cal.spec.parameters
    }
    x = pd.DataFrame(cols).to_numpy(dtype=float)
    cov = np.cov(x.T, aweights=w) if len(x) > 1 else np.full((x.shape[1],) * 2, np.nan)
    sd = np.sqrt(np.diag(np.atleast_2d(cov)))
    rows = []
    names = list(cols)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            r = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
            rows.append({"parameter_a": a, "parameter_b": names[j], "correlation": float(r)})
    out = pd.DataFrame(rows, columns=["parameter_a", "parameter_b", "correlation"])
    if out.empty:
        return out
    return out.reindex(out["correlation"].abs().sort_values(ascending=False).index)


def posterior_frame(result: Any) -> pd.DataFrame:
    """The posterior sample as stored in ``posterior.parquet``: parameter draws (one column per
    key path), ``weight`` (summing to 1), ``distance`` and ``generation``."""
    return result.particles.reset_index(drop=True)


def record_tables(result: Any) -> list[pd.DataFrame]:
    """Per-replication statistics of each accepted particle (from its ``evaluate`` record)."""
    return [pd.DataFrame(r["stats"]) for r in result.records]


@dataclass
class OutOfSample:
    """The out-of-sample check: the fit on targets up to ``until`` and its predictions."""

    until: str
    result: Any
    predictive: pd.DataFrame
    best: dict[str, float]
    best_fit: pd.DataFrame


def out_of_sample(
    cal: Calibration, executor: Executor, on_done: Callable[[], None] | None = None
) -> OutOfSample | None:
    """Fit the posterior on the targets up to ``out_of_sample_until`` only (cheaper runs that end
    at the last of them), then re-run ``predictive_draws`` posterior draws and the early fit's
    best particle over the full horizon and predict every target, the held-out ones included."""
    from sim.abc import resample

    until = cal.spec.out_of_sample_until
    if until is None:
        return None
    early = restricted(cal, until)
    res = fit_posterior(early, executor, on_done)
    draws = resample(res.particles, cal.spec.posterior.predictive_draws, cal.spec.posterior.seed)
    values = [
        {p.path: float(row[p.path]) for p in cal.spec.parameters} for _, row in draws.iterrows()
    ]
    best_row = res.particles.loc[res.particles["distance"].idxmin()]
    best = {p.path: float(best_row[p.path]) for p in cal.spec.parameters}
    tables = simulate_many(cal, [*values, best], cal.spec.replications, executor, on_done)
    fitted = {t.key for t in early.targets}
    pred = predictive_table(cal, tables[:-1], np.full(len(values), 1 / len(values)), fitted)
    best_fit = predictive_table(cal, tables[-1:], np.ones(1), fitted)
    return OutOfSample(until, res, pred, best, best_fit)


# --------------------------------------------------------------------------------------------------
# Budget: scaling and the time estimate
# --------------------------------------------------------------------------------------------------


def scaled(cal: Calibration, trials: int) -> Calibration:
    """The calibration with a trial budget of ``trials`` and every other budget scaled with it by
    ``f = trials / the file's trials`` (when below 1): replications per trial (at least 2),
    profile points (at least 2), final replications (at least 4), ABC particles (at least 8),
    generations (at least 2) and predictive draws (at least 4). A quick calibration is then quick
    as a whole, not only its optimiser."""
    spec = cal.spec
    f = min(1.0, trials / spec.optimizer.trials)

    def sc(value: int, floor: int) -> int:
        return value if f >= 1 else min(value, max(floor, round(value * f)))

    post = spec.posterior.model_copy(
        update={
            "particles": sc(spec.posterior.particles, 8),
            "generations": sc(spec.posterior.generations, 2),
            "predictive_draws": sc(spec.posterior.predictive_draws, 4),
        }
    )
    opt = spec.optimizer.model_copy(
        update={"trials": trials, "startup_trials": min(spec.optimizer.startup_trials, trials)}
    )
    new = spec.model_copy(
        update={
            "optimizer": opt,
            "posterior": post,
            "replications": sc(spec.replications, 2),
            "profile_points": sc(spec.profile_points, 2),
            "final_replications": sc(spec.final_replications, 4),
        }
    )
    return Calibration(new, cal.file, cal.base_raw, cal.targets, cal.out)


def planned_runs(cal: Calibration) -> dict[str, tuple[int, int]]:
    """Model runs of each phase and their months: ``phase -> (runs, months per run)``."""
    from sim.calendar import parse_month

    spec, post = cal.spec, cal.spec.posterior
    months = parse_month(spec.end) + 1
    reps = spec.replications
    plan = {
        "optimiser trials": (spec.optimizer.trials * reps, months),
        "profiles": (len(spec.parameters) * (spec.profile_points + 1) * reps, months),
        "final replications": (spec.final_replications, months),
        "posterior (ABC-SMC)": (abc_budget(post) * reps, months),
    }
    if spec.out_of_sample_until is not None:
        early = restricted(cal, spec.out_of_sample_until)
        plan["out-of-sample fit"] = (
            abc_budget(post) * reps,
            parse_month(str(early.base_raw["end"])) + 1,
        )
        plan["out-of-sample predictions"] = ((post.predictive_draws + 1) * reps, months)
    return plan


def estimate_seconds(cal: Calibration, workers: int) -> float:
    """Rough wall time of a calibration: model-months of every phase at the sweep's typical cost
    per month (``sim.sweep.SECONDS_PER_MONTH``), shared by the workers."""
    from sim.sweep import SECONDS_PER_MONTH

    work = sum(runs * months for runs, months in planned_runs(cal).values())
    return work * SECONDS_PER_MONTH / max(workers, 1)


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------


def calibrated_yaml(cal: Calibration, best: dict[str, float], note: str) -> str:
    """The calibrated parameter file: a scenario fragment that baseline.yaml extends."""
    data: dict[str, Any] = {}
    for path, value in best.items():
        set_path(data, path, float(f"{value:.6g}"))
    header = (
        "# Calibrated parameters: the output of `genai-sim calibrate`, installed by\n"
        "# `genai-sim calibrate --accept`; do not edit by hand.\n"
        + "".join(f"# {line}\n" for line in note.splitlines())
        + "# scenarios/baseline.yaml extends this file, so every scenario inherits the "
        "calibration.\n"
    )
    from sim.yaml_out import dump_yaml

    return header + dump_yaml(data, sort_keys=True)


def fit_table(cal: Calibration, final: pd.DataFrame) -> pd.DataFrame:
    """Targets against the best parameters' replications (median, 10-90 %), all weights equal."""
    return predictive_table(cal, [final], np.ones(1)).drop(
        columns=["fitted", "simulated_p05", "simulated_p95", "target_in_5_95"]
    )


def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, int | float) and math.isfinite(x) else "nan"


def _fitted_label(row: Any) -> str:
    """``yes``, ``held out`` (left out of this fit) or ``reported only`` (weight 0)."""
    if row.fitted:
        return "yes"
    return "reported only" if row.weight == 0 else "held out"


def _target_lines(table: pd.DataFrame, extra: bool = False) -> list[str]:
    """Markdown rows of a fit or predictive table."""
    head = "| target | period | value | tolerance | median | 10-90 % | within |"
    sep = "|---|---|---|---|---|---|---|"
    if extra:
        head += " 5-95 % | target in 5-95 % | fitted |"
        sep += "---|---|---|"
    lines = [head, sep]
    for r in table.itertuples():
        tol = f"{r.tolerance:.0%}" if r.relative else f"±{r.tolerance:g}"
        reported = not extra and r.weight == 0  # the wide tables say it in their last column
        name = f"{r.target} (reported only)" if reported else r.target
        row = (
            f"| {name} | {r.period} | {r.value:g} | {tol} | {_fmt(r.simulated_median)} | "
            f"{_fmt(r.simulated_p10)}-{_fmt(r.simulated_p90)} | "
            f"{'yes' if r.within_tolerance else 'no'} |"
        )
        if extra:
            row += (
                f" {_fmt(r.simulated_p05)}-{_fmt(r.simulated_p95)} | "
                f"{'yes' if r.target_in_5_95 else 'no'} | {_fitted_label(r)} |"
            )
        lines.append(row)
    return lines


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file beside it, renamed into place when complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class FitResult:
    """Everything a calibration computed, for the results folder."""

    study: Any
    profiles: pd.DataFrame
    final: pd.DataFrame
    posterior: Any
    oos: OutOfSample | None
    best: dict[str, float]  # the calibrated point (``best_point``)
    best_loss: float
    best_source: str  # where it came from, in words


def write_results_folder(
    cal: Calibration,
    fit: FitResult,
    workers: int,
    started: Any,
    finished: Any,
    command: str | None = None,
) -> str:
    """Write a calibration's results folder ``cal.out`` (which holds its study already): the fit
    report (``report/``, written atomically through ``sim.runner.write_results``), the
    calibrated parameter file, ``posterior.parquet`` and ``manifest.json`` (the runner's
    provenance plus the calibration's settings and file hashes; written last, so a folder with a
    manifest is complete). Nothing outside ``cal.out`` is written. Returns the report text."""
    from sim import runner
    from sim.rng import replication_seeds

    assert cal.out is not None
    best = fit.best
    text = ""

    def report_writer(folder: Path) -> None:
        nonlocal text
        text = write_report(cal, fit, folder)

    runner.write_results(cal.out / "report", report_writer)
    note = (
        f"Study {cal.spec.name!r}: {len(fit.study.trials)} trials; {fit.best_source}, loss "
        f"{fit.best_loss:.4g}\n(squared errors in tolerance units) against "
        f"{_display(cal.path(cal.spec.targets))};\nfit report in report/report.md beside the "
        "results this file was accepted from."
    )
    _atomic_write(
        cal.out / "calibrated.yaml",
        lambda p: p.write_text(calibrated_yaml(cal, best, note), encoding="utf-8"),
    )
    _atomic_write(
        cal.out / "posterior.parquet",
        lambda p: posterior_frame(fit.posterior).to_parquet(p, index=False),
    )
    seeds = replication_seeds(cal.spec.seed, cal.spec.replications)
    prov = runner.manifest(
        [trial_scenario(cal, best)],
        [str(cal.path(cal.spec.base))],
        cal.spec.seed,
        seeds,
        workers,
        started,
        finished,
        command,
    )
    prov["calibration"] = {
        "file": _display(cal.file),
        "file_sha256": _sha256(cal.file),
        "targets": _display(cal.path(cal.spec.targets)),
        "targets_sha256": _sha256(cal.path(cal.spec.targets)),
        "settings": cal.spec.model_dump(mode="json"),
        "best": best,
        "best_loss": fit.best_loss,
        "best_source": fit.best_source,
        "posterior_particles": len(fit.posterior.particles),
        "posterior_simulations": fit.posterior.simulations,
        "planned_runs": {k: v[0] for k, v in planned_runs(cal).items()},
    }
    _atomic_write(
        cal.out / "manifest.json",
        lambda p: p.write_text(json.dumps(prov, indent=2, default=str), encoding="utf-8"),
    )
    return text


def write_report(cal: Calibration, fit: FitResult, report: Path) -> str:
    """The fit report in ``report``: Markdown, CSV tables and figures; returns the Markdown."""
    import optuna

    from sim import plots

    study, prof, final, post = fit.study, fit.profiles, fit.final, fit.posterior
    best, best_loss = fit.best, fit.best_loss
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    (report / "figures").mkdir(parents=True, exist_ok=True)

    history = pd.DataFrame([{"trial": t.number, "loss": t.value, **t.params} for t in done])
    history["best_so_far"] = history["loss"].cummin()
    fails = pd.DataFrame(
        [{"trial": t.number, "error": str(t.user_attrs.get("error", ""))[-300:]} for t in failed]
    )
    fit_t = fit_table(cal, final)
    ident = identification(cal, prof)
    trade = tradeoffs(cal, history)
    particles = posterior_frame(post)
    gens = post.diagnostics()
    summ = posterior_summary(cal, particles)
    corr = posterior_correlations(cal, particles)
    pred = predictive_table(cal, record_tables(post), particles["weight"].to_numpy())
    tables = {
        "fit": fit_t,
        "trials": history,
        "failed_trials": fails,
        "profiles": prof,
        "identification": ident,
        "tradeoffs": trade,
        "posterior_generations": gens,
        "posterior_parameters": summ,
        "posterior_correlations": corr,
        "posterior_predictive": pred,
    }
    if fit.oos is not None:
        tables["out_of_sample_predictive"] = fit.oos.predictive
        tables["out_of_sample_best"] = fit.oos.best_fit
        tables["out_of_sample_generations"] = fit.oos.result.diagnostics()
    for name, table in tables.items():
        table.to_csv(report / f"{name}.csv", index=False)
    plots.calibration_fit(fit_t, report / "figures" / "fit.png", len(final))
    plots.loss_history(history, report / "figures" / "loss_history.png")
    plots.loss_profiles(prof, best, best_loss, report / "figures" / "profiles.png")
    plots.posterior_pairs(cal.spec.parameters, particles, report / "figures" / "posterior.png")
    plots.calibration_fit(
        pred,
        report / "figures" / "predictive.png",
        len(particles),
        title="Posterior predictive: targets and simulated medians",
        caption="Posterior particles' replications pooled by weight; bars: 10-90 %; grey: the "
        "target's tolerance.",
    )

    markets = fit_t[fit_t["target"] == "market_size"].sort_values("period")
    growth_line = ""
    if len(markets) >= 2:
        a, b = markets.iloc[0], markets.iloc[-1]
        years = int(b["period"]) - int(a["period"])
        target_g = (b["value"] / a["value"]) ** (1 / years) - 1
        sim_g = (b["simulated_median"] / a["simulated_median"]) ** (1 / years) - 1
        growth_line = (
            f"Implied growth {a['period']}-{b['period']}: target {target_g:.1%} a year "
            f"(derived from the two published points), simulated {sim_g:.1%}."
        )
    st = cal.spec
    last = post.generations[-1]
    weighted = pred[pred["weight"] > 0]
    met = int(weighted["within_tolerance"].sum())
    reported = pred[pred["weight"] == 0]
    reported_text = (
        " Reported only (weight 0, not fitted): "
        + "; ".join(
            f"{r.target} {r.period} median {_fmt(r.simulated_median)} against {r.value:g}"
            for r in reported.itertuples()
        )
        + "."
        if len(reported)
        else ""
    )
    lines = [
        f"# Calibration report: {st.name}",
        "",
        f"Generated by `genai-sim calibrate {_display(cal.file)}`. Settings: {st.optimizer.trials}"
        f" optimiser trials, {st.replications} replications per trial and particle (root seed "
        f"{st.seed}, the same seeds in every trial), {st.profile_points} profile points, "
        f"{st.final_replications} final replications, ABC-SMC with {st.posterior.particles} "
        f"particles x {st.posterior.generations} generations"
        + (
            f" (up to {st.posterior.max_moves} MCMC moves a generation)."
            if st.posterior.max_moves > 1
            else "."
        ),
        "",
        "## Best point",
        "",
        f"Optuna's TPE sampler ran {len(trials)} trials ({len(done)} completed, {len(failed)} "
        f"failed). The calibrated point is, among those trials and the posterior's particles "
        "(below), the one of lowest loss within every fitted target by the ABC distance (below) "
        f"on these seeds (of lowest loss overall if none is): here {fit.best_source}, loss "
        f"{best_loss:.4g} (sum of squared errors in tolerance units). The table re-runs it with "
        f"{len(final)} replications "
        "(median and 10-90 % across replications: stochastic noise only).",
        "",
        *_target_lines(fit_t),
        "",
        growth_line,
        "",
        "| parameter | best | bounds | loss rise below / above | verdict |",
        "|---|---|---|---|---|",
        *(
            f"| `{p.path}` | {best[p.path]:.4g} | {p.low:g}-{p.high:g} | "
            f"{r.loss_rise_below:.3g} / {r.loss_rise_above:.3g} | {r.verdict} |"
            for p, r in zip(cal.spec.parameters, ident.itertuples(), strict=True)
        ),
        "",
        "A parameter is *identified* (one at a time) when moving it alone, others at their best",
        "values, raises the loss by at least 1 on both sides within its bounds. Pairs that",
        "compensate each other among the best quarter of trials (|r| >= 0.5):",
        "",
        "| parameter | parameter | correlation |",
        "|---|---|---|",
        *(
            f"| `{r.parameter_a}` | `{r.parameter_b}` | {r.correlation:+.2f} |"
            for r in trade.itertuples()
        ),
        *(["| (none) | | |"] if trade.empty else []),
        "",
        "## Posterior (ABC-SMC)",
        "",
        "Approximate Bayesian computation by sequential Monte Carlo with MCMC moves",
        "(`sim/abc.py`, after Drovandi & Pettitt 2011): uniform priors on the bounds above",
        "(log-uniform for log-scale parameters); distance = the largest target error in tolerance",
        "units on the medians of the replications (1 = every target met). Each generation's",
        f"threshold is the {st.posterior.keep:g} quantile of the population's distances, never",
        f"below {st.posterior.epsilon:g}; particles beyond it are replaced by copies of particles",
        "within it, then every particle tries "
        + (
            "one random-walk move"
            if st.posterior.max_moves == 1
            else f"as many random-walk moves as the last acceptance rate needs for most to move "
            f"once (up to {st.posterior.max_moves})"
        )
        + ", each taken when its distance is",
        "within the threshold. The posterior is the last population: "
        f"{int(gens['distinct'].iloc[-1])} distinct particles of {st.posterior.particles}",
        f"(weighted by multiplicity; effective sample size {last.ess:.1f}), threshold "
        f"{last.epsilon:.3g}"
        + (
            " (set by the few best: the population had not reached the quantile)"
            if last.relaxed
            else ""
        )
        + f"; {post.simulations} parameter sets simulated in all. *Proposals* are the moves",
        "simulated (all prior draws in generation 0), *accepted* the moves taken.",
        "",
        "| generation | threshold | proposals | accepted | acceptance rate | distinct | ESS |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {g.generation} | {g.epsilon:.3g} | {g.proposals} | {g.accepted} | "
            f"{g.acceptance_rate:.2f} | {g.distinct} | {g.ess:.1f} |"
            for g in gens.itertuples()
        ),
        "",
        "Prior against posterior (weighted quantiles; *share* is the posterior 90 % interval as",
        "a share of the prior range on the search scale: near 1 = the targets say little):",
        "",
        "| parameter | prior | posterior 5 % | median | 95 % | mean | share |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| `{r.parameter}` | {r.prior_low:g}-{r.prior_high:g}"
            f"{' (log)' if r.log_scale else ''} | {r.posterior_p05:.4g} | "
            f"{r.posterior_median:.4g} | {r.posterior_p95:.4g} | {r.posterior_mean:.4g} | "
            f"{r.interval_share_of_prior:.2f} |"
            for r in summ.itertuples()
        ),
        "",
        "Pairwise trade-offs in the posterior (weighted correlations, |r| >= 0.3; all pairs in",
        "`posterior_correlations.csv`, scatter plots in `figures/posterior.png`):",
        "",
        "| parameter | parameter | correlation |",
        "|---|---|---|",
        *(
            f"| `{r.parameter_a}` | `{r.parameter_b}` | {r.correlation:+.2f} |"
            for r in corr.itertuples()
            if abs(r.correlation) >= 0.3
        ),
        "",
        f"Posterior predictive (the particles' replications pooled by weight: parameter and "
        f"stochastic uncertainty): {met} of {len(weighted)} fitted target medians within "
        f"tolerance.{reported_text}",
        "",
        *_target_lines(pred, extra=True),
        "",
    ]
    if fit.oos is not None:
        o = fit.oos
        held = o.predictive[~o.predictive["fitted"] & (o.predictive["weight"] > 0)]
        lines += [
            f"## Out-of-sample check: fitted on targets up to {o.until} only",
            "",
            f"The same ABC-SMC on the targets up to {o.until} (trial runs end there), then "
            f"{cal.spec.posterior.predictive_draws}"
            " posterior draws re-run to the full horizon predict every target, the later ones",
            f"held out of the fit ({int(held['within_tolerance'].sum())} of {len(held)} held-out "
            f"medians within tolerance, {int(held['target_in_5_95'].sum())} inside the 5-95 % "
            "interval).",
            "",
            *_target_lines(o.predictive, extra=True),
            "",
            "The early fit's best particle ("
            + ", ".join(f"`{k}` {v:.4g}" for k, v in o.best.items())
            + "):",
            "",
            *_target_lines(o.best_fit, extra=True),
            "",
        ]
    lines += [
        "Figures: `figures/fit.png`, `figures/predictive.png`, `figures/posterior.png`,",
        "`figures/loss_history.png`, `figures/profiles.png`. Tables: "
        + ", ".join(f"`{n}.csv`" for n in tables)
        + ".",
    ]
    text = "\n".join(lines) + "\n"
    (report / "report.md").write_text(text, encoding="utf-8")
    return text


# --------------------------------------------------------------------------------------------------
# Accepting a result as the tracked calibration
# --------------------------------------------------------------------------------------------------


def _get_path(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            raise KeyError(path)
        data = data[key]
    return data


def read_result(cal: Calibration, folder: Path) -> dict[str, float]:
    """The fitted values in a calibration results folder (its ``calibrated.yaml``), checked to be
    a complete result of this calibration's free parameters; problems are ``InputError``."""
    from sim.safeload import load_yaml

    shown = _display(folder)
    for name in ("calibrated.yaml", "manifest.json", "report/report.md"):
        if not (folder / name).is_file():
            raise InputError(
                shown, None, f"not a finished calibration results folder ({name} is missing)"
            )
    data = load_yaml(folder / "calibrated.yaml")
    values = {}
    for p in cal.spec.parameters:
        try:
            v = _get_path(data, p.path)
        except KeyError:
            raise InputError(
                _display(folder / "calibrated.yaml"), p.path, "missing: not fitted by this result"
            ) from None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InputError(_display(folder / "calibrated.yaml"), p.path, "not a number")
        values[p.path] = float(v)
    return values


def check_result(
    cal: Calibration, values: dict[str, float], executor: Executor | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Re-simulate ``values`` on the calibration's seeds (the baseline's) and check every target
    of positive weight; returns the fit table and one message per target outside tolerance."""
    stats = simulate(cal, values, executor=executor)
    table = fit_table(cal, stats)
    problems = []
    for t, r in zip(cal.targets, table.itertuples(), strict=True):
        if t.weight > 0 and not r.within_tolerance:
            tol = f"{t.tolerance:.0%}" if r.relative else f"±{t.tolerance:g}"
            problems.append(
                f"{t.kind} {t.period}: simulated median {_fmt(r.simulated_median)} against "
                f"{t.value:g} ({tol})"
            )
    return table, problems


def accept(cal: Calibration, folder: Path, executor: Executor | None = None) -> str:
    """Install a calibration result as the tracked calibration, after checking it.

    The result's parameters are re-simulated on the calibration's seeds against the calibration's
    current targets; if any target is outside its tolerance nothing is installed and an
    ``InputError`` (exit 2) lists them. Otherwise the parameter file, the fit report and the
    posterior sample are installed at ``output``, ``report`` and ``posterior_output`` (relative to
    the calibration file), each written beside its destination first and renamed into place.
    """
    import shutil
    import tempfile

    from sim.safeload import check_output_file

    values = read_result(cal, folder)
    check_output_file(cal.path(cal.spec.output), f"{_display(cal.file)}: output")
    check_output_file(
        cal.path(cal.spec.posterior_output), f"{_display(cal.file)}: posterior_output"
    )
    check_output_folder(cal.path(cal.spec.report), f"{_display(cal.file)}: report", resume=True)
    table, problems = check_result(cal, values, executor)
    if problems:
        raise InputError(
            _display(folder),
            None,
            "refused: the result does not meet the targets on the calibration's seeds ("
            + "; ".join(problems)
            + "); nothing was installed",
        )
    out = cal.path(cal.spec.output)
    note = (
        f"Accepted from {_display(folder)} after re-simulating it on the calibration's seeds\n"
        f"({cal.spec.replications} replications, root seed {cal.spec.seed}): every fitted "
        f"target\n(weight above 0) of {_display(cal.path(cal.spec.targets))} met; fit report in "
        f"{_display(cal.path(cal.spec.report))}/report.md."
    )
    _atomic_write(out, lambda p: p.write_text(calibrated_yaml(cal, values, note), "utf-8"))
    if (folder / "posterior.parquet").is_file():
        _atomic_write(
            cal.path(cal.spec.posterior_output),
            lambda p: shutil.copyfile(folder / "posterior.parquet", p),
        )
    dest = cal.path(cal.spec.report)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    shutil.copytree(folder / "report", tmp, dirs_exist_ok=True)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    lines = _target_lines(table)
    return (
        f"Accepted {_display(folder)}: installed {_display(out)}, "
        f"{_display(dest)}/ and {_display(cal.path(cal.spec.posterior_output))}.\n"
        + "\n".join(lines)
    )


def dry_run_text(cal: Calibration, out_dir: Path, n_workers: int) -> str:
    """What ``calibrate --dry-run`` prints: targets, parameters, planned runs, estimated time."""
    plan = planned_runs(cal)
    lines = [f"  {k}: {runs} runs of {months} months" for k, (runs, months) in plan.items()]
    return (
        f"{cal.spec.name}: {len(cal.targets)} targets, {len(cal.spec.parameters)} free "
        f"parameters, results in {out_dir}.\n"
        + "\n".join(lines)
        + f"\nEstimated {estimate_seconds(cal, n_workers):.0f} s with {n_workers} "
        "worker(s) (typical cost per model-month), plus about a second to start the workers."
    )


def runs_to_go(cal: Calibration, trials_left: int) -> int:
    """Steps a fit still has to report: the optimiser's trials left, the profile points, the
    ABC proposals (twice with an out-of-sample fit) and the out-of-sample predictions."""
    n_prof = len(cal.spec.parameters) * (cal.spec.profile_points + 1)
    post = cal.spec.posterior
    n_abc = abc_budget(post) * (2 if cal.spec.out_of_sample_until else 1)
    n_pred = planned_runs(cal).get("out-of-sample predictions", (0, 0))[0]
    return trials_left + n_prof + n_abc + n_pred


def fit(
    cal: Calibration, executor: Executor, on_done: Callable[[], None] | None = None
) -> FitResult:
    """The whole fit on one executor: optimiser trials (continued where stored), loss profiles
    around the best point, final replications there, the ABC posterior and the out-of-sample
    check."""
    st = optimise(cal, executor, on_done=on_done)
    posterior = fit_posterior(cal, executor, on_done=on_done)
    best, best_loss, source = best_point(cal, st, posterior)
    prof = profiles(cal, best, executor, on_done=on_done)
    final = simulate(cal, best, cal.spec.final_replications, executor)
    oos = out_of_sample(cal, executor, on_done=on_done)
    return FitResult(st, prof, final, posterior, oos, best, best_loss, source)


def best_point(cal: Calibration, study: Any, posterior: Any) -> tuple[dict[str, float], float, str]:
    """The calibrated point among the optimiser's trials and the posterior's particles (all
    evaluated on the same seeds): the lowest loss among those within every fitted target by the
    ABC distance (at most 1; errors of relative targets on the log scale, a little stricter than
    the check ``--accept`` applies, so such a point passes it unless rounding its values to six
    significant digits moves the runs), or the lowest loss of all when none is; with that loss and
    its source in words.

    The lowest loss alone can sit just outside one target while points within every target have
    a slightly larger sum of squares; a calibration's point should be one that can be installed.
    """
    import optuna

    # (meets every target, loss, values, source) for every candidate with a finite loss.
    candidates: list[tuple[bool, float, dict[str, float], str]] = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        medians = t.user_attrs.get("medians")
        if t.value is None or not math.isfinite(t.value) or not medians:
            continue
        meets = abc_distance(cal, medians) <= 1.0
        candidates.append((meets, float(t.value), dict(t.params), "the optimiser's trial"))
    for k, r in enumerate(posterior.records):
        loss = float(r.get("loss", math.nan))
        if math.isfinite(loss):
            row = posterior.particles.iloc[k]
            values = {p.path: float(row[p.path]) for p in cal.spec.parameters}
            meets = float(r.get("distance", math.inf)) <= 1.0
            candidates.append((meets, loss, values, "the posterior particle"))
    if not candidates:
        return best_values(study), float(study.best_value), "the optimiser's best trial"
    pool = [c for c in candidates if c[0]] or candidates
    meets, loss, best, kind = min(pool, key=lambda c: c[1])  # first of equal losses: trials first
    which = "within every fitted target" if meets else "(none meets every fitted target)"
    return best, loss, f"{kind} of lowest loss {which}"
