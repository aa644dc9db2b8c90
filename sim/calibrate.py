"""Calibration: declared targets, a loss, an optimiser, and a fit report.

Targets live in a CSV with their sources and tolerances (``calibration/targets.csv``): iiMedia's
China AIGC core market in 2023 and 2028 (only these two points are published) and the count of
models in mid-2023. Annual targets are matched against calendar-year sums of monthly revenue; the
growth implied by the two market points is a further term, derived here from the two rows (never
an interpolated year presented as data).

The loss is a sum of squared errors in tolerance units, computed on medians across replications
that use the same seeds in every trial (common random numbers), so trials differ only through their
parameters. The optimiser is Optuna's TPE sampler with the study stored in SQLite: a killed
calibration rerun with the same command continues from the stored trials. Trials are asked in
batches of fixed size and evaluated on the command's executor (``sim.executor``: worker processes
started once and reused by trials, profiles and the final replications), so results do not depend
on the number of workers. A failed trial is recorded with its reason.
"""

from __future__ import annotations

import math
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sim.errors import InputError
from sim.executor import Executor
from sim.params import check_parameter, load_spec, scenario_at, set_path
from sim.safeload import check_output_file, check_output_folder, excerpt, read_csv_rows
from sim.scenario import (
    F,
    Source,
    Strict,
    _display,
    format_validation_error,
    load_raw_traced,
    validate_scenario,
)

TargetKind = Literal["market_size", "active_models"]
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


class CalibrationSpec(Strict):
    """A calibration file."""

    name: str = F("calibration", desc="study name", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base: str = F(desc="base scenario file, relative to this file")
    end: str = F("2028-12", desc="horizon of each trial run, YYYY-MM (covers the last target)")
    targets: str = F("targets.csv", desc="targets CSV, relative to this file")
    replications: int = F(
        4, desc="replications per trial (same seeds in every trial)", ge=1, le=1000
    )
    seed: int = F(1, desc="root seed of the replications", ge=0, le=2**32 - 1)
    parameters: list[FreeParameter] = F(desc="free parameters", min_length=1)
    optimizer: Optimizer = F(default_factory=Optimizer, desc="optimiser settings and budget")
    growth_weight: float = F(
        1.0, desc="weight of the growth implied by two market targets", ge=0, le=100
    )
    output: str = F("calibrated.yaml", desc="calibrated parameter file, relative to this file")
    report: str = F("report", desc="fit report folder, relative to this file")
    study: str = F("study.db", desc="Optuna SQLite study, relative to this file (not committed)")
    profile_points: int = F(7, desc="points per one-at-a-time loss profile", ge=2, le=100)
    final_replications: int = F(
        16, desc="replications of the best parameters for the report", ge=1, le=10_000
    )


@dataclass(frozen=True)
class Target:
    """One calibration target."""

    kind: str
    period: str
    value: float
    tolerance: float
    weight: float


@dataclass
class Calibration:
    """A validated calibration: spec, base scenario mapping, targets and file locations."""

    spec: CalibrationSpec
    file: Path
    base_raw: dict[str, Any]
    targets: list[Target]

    def path(self, name: str) -> Path:
        return self.file.parent / name


class TargetRow(BaseModel):
    """One row of the targets CSV, as text (numbers are parsed from it; other columns such as
    ``unit`` and ``definition`` are documentation)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    target: TargetKind = F(desc="market_size (period YYYY) or active_models (period YYYY-MM)")
    period: str = F(desc="YYYY for market_size, YYYY-MM for active_models")
    value: float = F(desc="target value", allow_inf_nan=False, ge=0)
    tolerance: float = F(
        desc="tolerance: relative for market_size, absolute otherwise", gt=0, allow_inf_nan=False
    )
    weight: float = F(desc="weight of the target in the loss", ge=0, allow_inf_nan=False)
    source: str = F(desc="where the number comes from", min_length=3)


def read_targets(path: Path, end: str = "2060-12") -> list[Target]:
    """Read and check a targets CSV (via ``sim.safeload``); every problem is an ``InputError``
    naming the file, the row and the column. Periods must lie in 2021 .. ``end`` (the horizon of
    the trial runs), market sizes must be positive, and each (target, period) may appear once."""
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
        pattern = r"\d{4}" if row.target == "market_size" else r"\d{4}-\d{2}"
        month = None
        if re.fullmatch(pattern, row.period):
            try:
                month = parse_month(row.period if "-" in row.period else f"{row.period}-12")
            except ValueError:
                month = None
        if month is None or not 0 <= month <= horizon:
            form = "YYYY" if row.target == "market_size" else "YYYY-MM"
            raise InputError(
                shown,
                f"{where}.period",
                f"{excerpt(row.period)} is not a {form} period between 2021 and the horizon "
                f"{end} of the trial runs (set by `end` in the calibration file)",
            )
        if row.target == "market_size" and row.value <= 0:
            raise InputError(shown, f"{where}.value", "a market size must be above 0")
        key = (row.target, row.period)
        if key in seen:
            raise InputError(
                shown, where, f"{row.target} {row.period} is already set in {seen[key]}"
            )
        seen[key] = where
        out.append(Target(row.target, row.period, row.value, row.tolerance, row.weight))
    return out


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file; every problem is an ``InputError`` (exit 2) naming
    the file where the bad value was written (the calibration file, its base or the targets)."""
    path = Path(path)
    spec = load_spec(path, CalibrationSpec, "calibration")
    # The base without any earlier calibration: the fit must not depend on a previous result.
    base_path = path.parent / spec.base
    base_raw, source = load_raw_traced(base_path, use_calibration=False)
    base_raw["end"] = spec.end
    source.keys["end"] = Source(_display(path), ("end",))
    validate_scenario(base_raw, _display(base_path), source)
    cal = Calibration(spec, path, base_raw, read_targets(path.parent / spec.targets, spec.end))
    for i, p in enumerate(spec.parameters):
        probes = {"low": [p.low], "high": [p.high]}
        check_parameter(path, i, p.path, probes, lambda v: trial_scenario(cal, v))
    return cal


def check_outputs(cal: Calibration) -> None:
    """Refuse, before any trial, output locations that could not be written: the calibrated
    parameter file, the report folder and the study database (``--`` labels name the keys)."""
    check_output_file(cal.path(cal.spec.output), f"{_display(cal.file)}: output")
    check_output_folder(cal.path(cal.spec.report), f"{_display(cal.file)}: report", resume=True)
    check_output_file(cal.path(cal.spec.study), f"{_display(cal.file)}: study")


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
) -> pd.DataFrame:
    """Statistics matched to the targets, one row per replication (same seeds in every call).

    Columns: ``replication`` and one per target (``market_size_2023``, ``active_models_2023-07``).
    Replications run on ``executor`` when given (rows stay in replication order), else here.
    """
    from sim.executor import SequentialExecutor
    from sim.rng import replication_seeds

    sc = trial_scenario(cal, values)
    seeds = replication_seeds(cal.spec.seed, replications or cal.spec.replications)
    jobs = [(cal.targets, sc, rep, seed) for rep, seed in enumerate(seeds)]
    return pd.DataFrame((executor or SequentialExecutor()).map(_target_stats, jobs))


def _target_stats(args: tuple[list[Target], Any, int, int]) -> dict[str, float]:
    """One replication's statistics matched to the targets (a job for any worker)."""
    from sim.runner import run_replication
    from sim.summary import annual_market_bn_rmb

    targets, sc, rep, seed = args
    m = run_replication(sc, seed, rep, record_firms=False).metrics
    annual = annual_market_bn_rmb(m).set_index("year")["market_bn_rmb"]
    row: dict[str, float] = {"replication": rep}
    for t in targets:
        if t.kind == "market_size":
            row[f"market_size_{t.period}"] = float(annual.get(int(t.period), np.nan))
        else:
            at = m.loc[m["date"] == t.period, "active_developers"]
            row[f"active_models_{t.period}"] = float(at.iloc[0]) if len(at) else np.nan
    return row


def loss_terms(cal: Calibration, stats: pd.DataFrame) -> dict[str, float]:
    """Squared errors in tolerance units, weighted, on medians across replications.

    Market sizes compare logs (tolerance relative); counts compare levels (tolerance absolute);
    the growth between two market targets compares log ratios with the combined tolerance.
    """
    med = stats.drop(columns="replication").median()
    terms: dict[str, float] = {}
    markets = []
    for t in cal.targets:
        sim = float(med[f"{t.kind}_{t.period}"])
        if not np.isfinite(sim) or (t.kind == "market_size" and sim <= 0):
            terms[f"{t.kind}_{t.period}"] = 1e6
            continue
        if t.kind == "market_size":
            err = math.log(sim / t.value) / math.log(1 + t.tolerance)
            markets.append((t, sim))
        else:
            err = (sim - t.value) / t.tolerance
        terms[f"{t.kind}_{t.period}"] = t.weight * err**2
    if len(markets) >= 2 and cal.spec.growth_weight > 0:
        markets.sort(key=lambda x: x[0].period)
        (t0, s0), (t1, s1) = markets[0], markets[-1]
        tol = math.hypot(math.log(1 + t0.tolerance), math.log(1 + t1.tolerance))
        err = (math.log(s1 / s0) - math.log(t1.value / t0.value)) / tol
        terms[f"growth_{t0.period}_{t1.period}"] = cal.spec.growth_weight * err**2
    return terms


def evaluate(args: tuple[Calibration, int, dict[str, float]]) -> dict[str, Any]:
    """Run one trial in any worker: its loss, the loss terms and medians, or its error."""
    cal, number, values = args
    try:
        stats = simulate(cal, values)
        terms = loss_terms(cal, stats)
        return {
            "number": number,
            "loss": float(sum(terms.values())),
            "terms": terms,
            "medians": stats.drop(columns="replication").median().to_dict(),
            "error": "",
        }
    except Exception:  # recorded with its reason; the study goes on
        return {
            "number": number,
            "loss": math.nan,
            "terms": {},
            "medians": {},
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
    sampler = optuna.samplers.TPESampler(seed=opt.seed, n_startup_trials=opt.startup_trials)
    storage = f"sqlite:///{cal.path(cal.spec.study).resolve()}"
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
# Outputs
# --------------------------------------------------------------------------------------------------


def calibrated_yaml(cal: Calibration, best: dict[str, float], loss: float, trials: int) -> str:
    """The calibrated parameter file: a scenario fragment that baseline.yaml extends."""
    data: dict[str, Any] = {}
    for path, value in best.items():
        set_path(data, path, float(f"{value:.6g}"))
    header = (
        "# Calibrated parameters: the output of `genai-sim calibrate`; do not edit by hand.\n"
        f"# Study {cal.spec.name!r}: {trials} trials, best loss {loss:.4g} (squared errors in\n"
        f"# tolerance units) against {_display(cal.path(cal.spec.targets))}; fit report in\n"
        f"# {_display(cal.path(cal.spec.report))}/report.md. scenarios/baseline.yaml extends this "
        "file,\n# so every scenario inherits the calibration.\n"
    )
    from sim.yaml_out import dump_yaml

    return header + dump_yaml(data, sort_keys=True)


def write_outputs(cal: Calibration, study: Any, prof: pd.DataFrame, final: pd.DataFrame) -> str:
    """calibrated.yaml, the fit report (Markdown, CSV tables, figures); returns the summary."""
    import optuna

    from sim import plots

    best = best_values(study)
    best_loss = float(study.best_value)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    report = cal.path(cal.spec.report)
    (report / "figures").mkdir(parents=True, exist_ok=True)

    history = pd.DataFrame([{"trial": t.number, "loss": t.value, **t.params} for t in done])
    history["best_so_far"] = history["loss"].cummin()
    fails = pd.DataFrame(
        [{"trial": t.number, "error": str(t.user_attrs.get("error", ""))[-300:]} for t in failed]
    )
    fit_rows = []
    for t in cal.targets:
        col = f"{t.kind}_{t.period}"
        v = final[col].to_numpy(dtype=float)
        p10, p50, p90 = np.quantile(v, (0.1, 0.5, 0.9))
        within = (
            abs(p50 / t.value - 1) <= t.tolerance
            if t.kind == "market_size"
            else abs(p50 - t.value) <= t.tolerance
        )
        fit_rows.append(
            {
                "target": t.kind,
                "period": t.period,
                "value": t.value,
                "tolerance": t.tolerance,
                "simulated_median": p50,
                "simulated_p10": p10,
                "simulated_p90": p90,
                "within_tolerance": bool(within),
            }
        )
    fit = pd.DataFrame(fit_rows)
    ident = identification(cal, prof)
    trade = tradeoffs(cal, history)
    for name, table in (
        ("fit", fit),
        ("trials", history),
        ("failed_trials", fails),
        ("profiles", prof),
        ("identification", ident),
        ("tradeoffs", trade),
    ):
        table.to_csv(report / f"{name}.csv", index=False)
    plots.calibration_fit(fit, report / "figures" / "fit.png", len(final))
    plots.loss_history(history, report / "figures" / "loss_history.png")
    plots.loss_profiles(prof, best, best_loss, report / "figures" / "profiles.png")

    out = cal.path(cal.spec.output)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(calibrated_yaml(cal, best, best_loss, len(trials)), encoding="utf-8")
    os.replace(tmp, out)

    markets = fit[fit["target"] == "market_size"].sort_values("period")
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
    lines = [
        f"# Calibration report: {cal.spec.name}",
        "",
        f"Generated by `genai-sim calibrate {_display(cal.file)}`. Optuna TPE, {len(trials)} "
        f"trials ({len(done)} completed, {len(failed)} failed), {cal.spec.replications} "
        f"replications per trial with the same seeds; best loss {best_loss:.4g} (sum of squared "
        f"errors in tolerance units). The fit below re-runs the best parameters with "
        f"{len(final)} replications.",
        "",
        "## Targets against simulated medians (10-90 % across replications)",
        "",
        "| target | period | value | tolerance | simulated median | 10-90 % | within |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r.target} | {r.period} | {r.value:g} | {r.tolerance:g} | "
            f"{r.simulated_median:.4g} | {r.simulated_p10:.4g}-{r.simulated_p90:.4g} | "
            f"{'yes' if r.within_tolerance else 'no'} |"
            for r in fit.itertuples()
        ),
        "",
        growth_line,
        "",
        "## Best parameters and identification",
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
        "values, raises the loss by at least 1 on both sides within its bounds; a flat profile",
        "means the targets do not pin it down. Profiles cannot see trade-offs between parameters:",
        "pairs that compensate each other among the best quarter of trials are listed below",
        "(correlation of values, logs for log-scale parameters; |r| >= 0.5).",
        "",
        "| parameter | parameter | correlation |",
        "|---|---|---|",
        *(
            f"| `{r.parameter_a}` | `{r.parameter_b}` | {r.correlation:+.2f} |"
            for r in trade.itertuples()
        ),
        *(["| (none) | | |"] if trade.empty else []),
        "",
        "Figures: `figures/fit.png` (targets and simulated bands), `figures/loss_history.png`,",
        "`figures/profiles.png`. Tables: `fit.csv`, `trials.csv`, `profiles.csv`,",
        "`identification.csv`, `tradeoffs.csv`, `failed_trials.csv`.",
    ]
    text = "\n".join(lines) + "\n"
    (report / "report.md").write_text(text, encoding="utf-8")
    return text
