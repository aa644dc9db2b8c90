"""Parameter sweeps and sensitivity analysis.

A sweep file names a base scenario, parameters (dotted key paths into the scenario schema, with a
range or a list of values), a design (``grid``, ``lhs``, ``sobol``, ``morris``), replications and
outcomes. Samplers draw in the unit cube (SALib for LHS, Sobol and Morris) and points are rescaled
to the ranges, so samplers are small and interchangeable.

Every run is a pure function of (resolved scenario, seed) and is stored as it finishes under a key
hashed from both (``runs/<key>.parquet``; the scenario enters as canonical JSON, see ``run_key``): a
killed sweep rerun with the same command only runs what is missing, results stream to disk instead
of into one list in memory, and any executor (``sim.executor``: one process, local processes, a
Dask cluster) gives the same final table.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from sim.declared import Declaration, fingerprint, parse_block
from sim.errors import InputError
from sim.executor import Executor
from sim.outcomes import Outcome, outcome_table, parse_outcome, parse_outcomes
from sim.params import PATH_RE, check_parameter, load_spec, scenario_at
from sim.safeload import excerpt
from sim.scenario import (
    F,
    Scenario,
    Source,
    Strict,
    _display,
    load_raw_traced,
    validate_scenario,
)
from sim.vocab import KINDS
from sim.yaml_out import dump_yaml

DesignKind = Literal["grid", "lhs", "sobol", "morris"]
MAX_VALUES = 1000
"""Most values one grid parameter may take."""
MAX_PARAMETERS = 50
"""Most parameters one sweep may vary."""
DEFAULT_MAX_RUNS = 20_000
"""Most runs a sweep may schedule unless ``--max-runs`` allows more (shipped sweeps: 512, 75)."""


# --------------------------------------------------------------------------------------------------
# The sweep file
# --------------------------------------------------------------------------------------------------


class SweepParameter(Strict):
    """One parameter to vary: a key path into the scenario and a range or values."""

    path: str = F(
        desc="dotted key path into the scenario, e.g. policy.subsidy_scale or "
        "policy.export_controls[3].imported_supply_factor"
    )
    range: list[float] | None = F(
        None, desc="[low, high] for lhs, sobol, morris, grid", min_length=2, max_length=2
    )
    values: list[float] | None = F(
        None, desc="explicit values (grid only)", min_length=1, max_length=MAX_VALUES
    )
    steps: int | None = F(None, desc="grid: evenly spaced values over the range", ge=2, le=1000)

    @field_validator("path")
    @classmethod
    def _path_form(cls, v: str) -> str:
        if not PATH_RE.match(v):
            raise ValueError(f"{v!r} is not a dotted key path like policy.subsidy_scale")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SweepParameter:
        if (self.range is None) == (self.values is None):
            raise ValueError("give exactly one of range or values")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} is empty: low must be below high")
        return self

    def grid_values(self) -> list[float]:
        """The values a grid design takes."""
        if self.values is not None:
            return list(self.values)
        assert self.range is not None
        return list(np.linspace(self.range[0], self.range[1], self.steps or 3))


class Design(Strict):
    """How points are chosen."""

    kind: DesignKind = F(
        desc="grid (all combinations), lhs (Latin hypercube), sobol (Saltelli "
        "sampling and Sobol indices), morris (elementary effects)"
    )
    samples: int = F(
        16,
        desc="lhs: points; sobol: base samples N (runs N(D+2)); morris: trajectories (runs r(D+1))",
        ge=2,
        le=1_000_000,
    )
    levels: int = F(4, desc="morris: grid levels", ge=2, le=100)
    second_order: bool = F(False, desc="sobol: also second-order indices")
    seed: int = F(0, desc="seed of the sampler", ge=0, le=2**32 - 1)


class ExperimentSpec(Strict):
    """What every experiment file (sweep, study) names first: itself, its base and its seeds."""

    name: str = F(desc="name (labels the output)", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base: str = F(desc="base scenario file, relative to this file")
    end: str | None = F(None, desc="override the base scenario's last month, YYYY-MM")
    replications: int = F(
        2, desc="replications per point (common random numbers across points)", ge=1, le=10_000
    )
    seed: int = F(1, desc="root seed of the replications", ge=0, le=2**32 - 1)


def load_base(path: Path, spec: ExperimentSpec) -> tuple[dict[str, Any], int]:
    """The base scenario of an experiment file at ``path`` as a raw mapping, with the file's
    ``end`` applied, validated (problems name the file that wrote them); and its months."""
    base_path = path.parent / spec.base
    base_raw, source = load_raw_traced(base_path)
    if spec.end is not None:
        base_raw["end"] = spec.end
        source.keys["end"] = Source(_display(path), ("end",))
    return base_raw, validate_scenario(base_raw, _display(base_path), source).n_months


class SweepSpec(ExperimentSpec):
    """A sweep file."""

    parameters: list[SweepParameter] = F(
        desc="parameters to vary", min_length=1, max_length=MAX_PARAMETERS
    )
    design: Design = F(desc="sampling design")
    outcomes: list[str] = F(
        desc="outcomes to summarise, as declared in sim/outcomes.py: <metric column>@YYYY-MM, "
        "market_size@YYYY (calendar year), market_annualised@YYYY-MM, peak_month, "
        "peak_developers, exits_<cause>, exits_<cause>@YYYY, or a series of declare: "
        "(<name>@YYYY-MM, <name>@YYYY)",
        min_length=1,
    )
    declare: dict[str, Any] | None = F(
        None,
        desc="outcome series of your own: name -> {expression over metric columns, unit, "
        "definition, year (sum, mean or end), digits} (sim/declared.py)",
    )
    curves: int = F(4, desc="consolidation curves drawn for this many selected points", ge=0, le=20)
    posterior: str | None = F(
        None,
        desc="posterior.parquet from calibrate (relative to this file): replication i of every "
        "point runs with the i-th parameter draw (common draws across points, beside common "
        "seeds), so bands cover parameter and stochastic uncertainty; a swept parameter keeps "
        "the point's value",
    )

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field problems as ``(key path, message)`` pairs (``load_spec`` reports the
        first): a repeated parameter path, a grid parameter without values or steps, a sampled
        parameter without a range."""
        out: list[tuple[str, str]] = []
        first: dict[str, int] = {}
        for i, p in enumerate(self.parameters):
            if p.path in first:
                out.append(
                    (
                        f"parameters[{i}].path",
                        f"{p.path} is already varied by parameters[{first[p.path]}]; "
                        "each parameter path may appear once",
                    )
                )
            first.setdefault(p.path, i)
            if self.design.kind == "grid" and p.values is None and p.steps is None:
                out.append((f"parameters[{i}]", f"grid design: {p.path} needs values or steps"))
            if self.design.kind != "grid" and p.range is None:
                out.append(
                    (f"parameters[{i}].range", f"{self.design.kind} design: {p.path} needs a range")
                )
        return out


@dataclass
class Sweep:
    """A validated sweep: the spec, the base scenario mapping and where things live."""

    spec: SweepSpec
    file: Path
    base_raw: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)
    """the spec's outcomes, parsed (their canonical names are the outcome columns)"""
    declared: dict[str, Declaration] = field(default_factory=dict)
    """the spec's declared series (``declare:``), validated"""
    draws: list[dict[str, float]] | None = None
    """one posterior parameter set per replication (``posterior:``), or None"""

    @property
    def declared_json(self) -> str:
        """The declared series as canonical JSON (sent to workers with each job)."""
        data = {k: v.model_dump(mode="json") for k, v in sorted(self.declared.items())}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def outcome_names(self) -> list[str]:
        """Canonical names of the outcomes: the columns of the outcome tables."""
        return [o.name for o in self.outcomes]

    @property
    def problem(self) -> dict[str, Any]:
        """SALib problem in the unit cube (points are rescaled to ranges afterwards)."""
        d = len(self.spec.parameters)
        return {
            "num_vars": d,
            "names": [p.path for p in self.spec.parameters],
            "bounds": [[0.0, 1.0]] * d,
        }


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; every problem is an ``InputError`` (exit 2) naming the
    file where the bad value was written (the sweep file, its base or the base's own files).

    Cheap whatever the design's size: the base is validated once, and each parameter at the two
    ends of its range (or its lowest and highest values). Bounds in the schema are intervals, so
    every point in between is valid too; the points themselves are only built by ``jobs``.
    """
    path = Path(path)
    spec = load_spec(path, SweepSpec, "sweep")
    base_raw, n_months = load_base(path, spec)
    declared = parse_block(spec.declare, _display(path))
    outcomes = parse_outcomes(spec.outcomes, n_months, _display(path), "outcomes", declared)
    sweep = Sweep(spec, path, base_raw, outcomes, declared, _posterior_draws(path, spec, base_raw))
    for i, p in enumerate(spec.parameters):
        probes = (
            {"values": [min(p.values), max(p.values)]}
            if p.values is not None
            else {"range": list(p.range or ())}
        )
        check_parameter(path, i, p.path, probes, lambda v: _point_scenario(sweep, v))
    return sweep


def _posterior_draws(
    path: Path, spec: SweepSpec, base_raw: dict[str, Any]
) -> list[dict[str, float]] | None:
    """The sweep's posterior draws, one per replication, checked against the schema (a draw the
    schema refuses is bad input, found before any run)."""
    if spec.posterior is None:
        return None
    from sim.posterior import draw, load_posterior

    draws = draw(load_posterior(path.parent / spec.posterior), spec.replications, spec.seed)
    swept = {p.path for p in spec.parameters}  # a point's value replaces the draw's
    distinct = {tuple(sorted(d.items())): d for d in draws}.values()  # draws repeat particles
    for values in distinct:
        kept = {k: v for k, v in values.items() if k not in swept}
        try:  # unknown key paths, values out of bounds
            scenario_at(base_raw, kept, path)
        except InputError as err:
            said = err.message
            if err.key_path and not said.startswith(err.key_path):
                said = f"{err.key_path}: {said}"
            raise InputError(
                _display(path), "posterior", f"a draw of {excerpt(spec.posterior)}: {said}"
            ) from None
    return draws


def _point_scenario(
    sweep: Sweep, values: dict[str, float], replication: int | None = None
) -> Scenario:
    """A point's scenario; with a posterior, replication ``replication``'s draw under it."""
    if sweep.draws is not None and replication is not None:
        values = {**sweep.draws[replication], **values}
    return scenario_at(sweep.base_raw, values, sweep.file)


# --------------------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------------------


def unit_samples(sweep: Sweep) -> np.ndarray:
    """Design points in the unit cube, shape (points, parameters); grid points exactly."""
    d = sweep.spec.design
    problem = sweep.problem
    if d.kind == "lhs":
        from SALib.sample import latin

        return latin.sample(problem, d.samples, seed=d.seed)
    if d.kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, d.samples, calc_second_order=d.second_order, seed=d.seed)
    if d.kind == "morris":
        from SALib.sample import morris

        return morris.sample(problem, d.samples, num_levels=d.levels, seed=d.seed)
    raise ValueError("grid designs have no unit samples; use design_points")


def design_points(sweep: Sweep) -> pd.DataFrame:
    """The points to run: one row per point, one column per parameter path (in real units)."""
    params = sweep.spec.parameters
    if sweep.spec.design.kind == "grid":
        rows = list(itertools.product(*(p.grid_values() for p in params)))
        return pd.DataFrame(rows, columns=[p.path for p in params])
    unit = unit_samples(sweep)
    lows = np.array([p.range[0] for p in params])  # type: ignore[index]
    highs = np.array([p.range[1] for p in params])  # type: ignore[index]
    return pd.DataFrame(lows + unit * (highs - lows), columns=[p.path for p in params])


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One run: a resolved scenario (as canonical JSON) and a seed, with where it sits in the
    sweep."""

    key: str
    point: int
    replication: int
    seed: int
    values: tuple[tuple[str, float], ...]
    scenario_json: str
    outcomes: tuple[str, ...] = ()
    """canonical outcome names computed by the run (not part of the key)"""
    declared_json: str = "{}"
    """the declared series those outcomes may use, as canonical JSON (not part of the key)"""


def canonical_json(scenario: Scenario) -> str:
    """The resolved scenario as canonical JSON: sorted keys, no whitespace, floats by ``repr``.

    Equal scenarios give equal text whatever the order keys were written in, and the text is fast
    to produce and to parse in a worker (unlike YAML, whose pure-Python loader takes tens of ms).
    """
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def run_key(scenario_json: str, seed: int) -> str:
    """Storage key of a run: a hash of its resolved scenario's canonical JSON and its seed."""
    return hashlib.sha256(f"{scenario_json}\n#seed={seed}".encode()).hexdigest()[:20]


def jobs(sweep: Sweep) -> list[Job]:
    """All runs of the sweep, in (point, replication) order."""
    return jobs_for_points(sweep, design_points(sweep))


def jobs_for_points(sweep: Sweep, points: pd.DataFrame) -> list[Job]:
    """Runs of the given ``points`` (one row per point, indexed by point id, one column per key
    path), each with the sweep's replications and seeds, in (point, replication) order."""
    from sim.rng import replication_seeds

    seeds = replication_seeds(sweep.spec.seed, sweep.spec.replications)
    out = []
    for point, row in points.iterrows():
        values = {k: float(v) for k, v in row.items()}
        text = ""
        for rep, seed in enumerate(seeds):
            if rep == 0 or sweep.draws is not None:  # one scenario a point, or one a draw
                sc = _point_scenario(sweep, values, rep).model_copy(
                    update={"name": sweep.spec.name}
                )
                text = canonical_json(sc)
            out.append(
                Job(
                    run_key(text, seed),
                    int(point),
                    rep,
                    seed,
                    tuple(values.items()),
                    text,
                    tuple(sweep.outcome_names),
                    sweep.declared_json,
                )
            )
    return out


RUN_ID_COLUMNS = ("scenario", "replication", "seed", "month", "date")
"""The standard first columns of every monthly table."""
RUN_METRICS = (
    "active_developers",
    *(f"active_{k}" for k in KINDS),
    "cr3_users",
    "revenue_m_rmb",
    "market_m_rmb",
    "market_size_bn_rmb_annualised",
    "compute_price_m_rmb_per_h100e_month",
)
"""Monthly metrics kept per sweep run (beside the outcomes, which any metric may feed)."""


def execute_job(job: Job) -> dict[str, Any]:
    """Run one job in any worker: returns its outcome row and monthly metrics (or its error).

    Both are keyed the same way: the point, its parameter values, the replication, the seed and
    the run's storage key. The metrics start with the standard ID columns, then those keys.
    """
    from sim.runner import run_replication

    ids: dict[str, Any] = {
        "point": job.point,
        **dict(job.values),
        "replication": job.replication,
        "seed": job.seed,
        "key": job.key,
    }
    row: dict[str, Any] = {**ids, "error": ""}
    try:
        sc = validate_scenario(json.loads(job.scenario_json))
        res = run_replication(sc, job.seed, job.replication, record_firms=False)
        series = {
            k: Declaration.model_validate(v) for k, v in json.loads(job.declared_json).items()
        }
        declared = [parse_outcome(name, declared=series) for name in job.outcomes]
        outcomes = outcome_table(res.metrics, res.events, declared).iloc[0]
        row.update({o.name: float(outcomes[o.name]) for o in declared})
        metrics = res.metrics[list(RUN_ID_COLUMNS)].copy()
        for col in ("point", *dict(job.values), "key"):
            metrics[col] = ids[col]
        metrics = pd.concat([metrics, res.metrics[list(RUN_METRICS)]], axis=1)
    except Exception:  # a failed run is recorded with its reason and does not stop the sweep
        row["error"] = traceback.format_exc(limit=3)
        metrics = pd.DataFrame()
    return {"row": row, "metrics": metrics}


_DECLARED_META = b"genai_sim_declared"
"""Parquet schema metadata key of a stored row: the fingerprint of the declared series used."""


class RunStore:
    """Results of finished runs on disk, one small Parquet file per run (atomic writes)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder) / "runs"
        self.folder.mkdir(parents=True, exist_ok=True)

    def done(self) -> set[str]:
        """Keys of the runs already stored."""
        return self.stored(self.folder.parent)

    @staticmethod
    def stored(folder: Path) -> set[str]:
        """Keys of the runs stored under ``folder`` (creates nothing; empty if none)."""
        runs = Path(folder) / "runs"
        if not runs.is_dir():
            return set()
        return {p.name.removesuffix(".row.parquet") for p in runs.glob("*.row.parquet")}

    def complete(self, outcomes: Iterable[str], declared: str = "") -> set[str]:
        """Keys of the stored runs whose rows hold every outcome in ``outcomes``, computed with
        the same declared series (fingerprint ``declared``): a run stored for other outcomes,
        under another definition of a declared series, or before a failure was fixed, is run
        again."""
        import pyarrow.parquet as pq

        need = set(outcomes)
        keys = set()
        for key in self.done():
            schema = pq.read_schema(self.folder / f"{key}.row.parquet")
            stored = (schema.metadata or {}).get(_DECLARED_META, b"").decode()
            if need <= set(schema.names) and stored == declared:
                keys.add(key)
        return keys

    def save(self, result: dict[str, Any], declared: str = "") -> None:
        """Store one run's outcome row (tagged with the declared series' fingerprint) and
        metrics, each written then renamed into place."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = result["row"]["key"]
        for suffix, frame in (
            ("metrics", result["metrics"]),
            ("row", pd.DataFrame([result["row"]])),
        ):
            tmp = self.folder / f".{key}.{suffix}.tmp"
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if suffix == "row":
                meta = {**(table.schema.metadata or {}), _DECLARED_META: declared.encode()}
                table = table.replace_schema_metadata(meta)
            pq.write_table(table, tmp)
            os.replace(tmp, self.folder / f"{key}.{suffix}.parquet")

    def rows(self, keys: Iterable[str]) -> pd.DataFrame:
        """Outcome rows of ``keys`` (in that order)."""
        return pd.concat(
            [pd.read_parquet(self.folder / f"{k}.row.parquet") for k in keys], ignore_index=True
        )

    def metrics(self, key: str) -> pd.DataFrame:
        """Monthly metrics of one run."""
        return pd.read_parquet(self.folder / f"{key}.metrics.parquet")


def run_sweep(
    sweep: Sweep,
    folder: Path,
    executor: Executor,
    on_done: Callable[[], None] | None = None,
    all_jobs: list[Job] | None = None,
) -> pd.DataFrame:
    """Run whatever is missing from ``folder``'s store; return the outcome table of every run.

    Each run is stored as it finishes; the table is read back in (point, replication) order, so it
    is the same whatever the executor or the order runs finish in.
    """
    store = RunStore(folder)
    all_jobs = jobs(sweep) if all_jobs is None else all_jobs
    declared = fingerprint(sweep.declared) if sweep.declared else ""
    done = store.complete(sweep.outcome_names, declared)
    todo = [j for j in all_jobs if j.key not in done]
    for _index, result in executor.as_completed(execute_job, todo):
        store.save(result, declared)
        if on_done:
            on_done()
    table = store.rows(j.key for j in all_jobs)
    table["point"] = [j.point for j in all_jobs]  # a key shared by two points keeps both
    table["replication"] = [j.replication for j in all_jobs]
    for name in dict(all_jobs[0].values) if all_jobs else ():
        table[name] = [dict(j.values)[name] for j in all_jobs]
    return table


# --------------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------------


def parameter_label(path: str) -> str:
    """An axis label for a swept key path: the schema's words for it, then the path."""
    from sim.params import field_at

    try:
        field = field_at(path)
    except KeyError:
        field = None
    words = (field.description or "") if field is not None else ""
    words = words.split(";")[0].split(" (")[0].strip()
    if len(words) > 60:
        words = words[:57].rsplit(" ", 1)[0] + "..."
    return f"{words}\n({path})" if words else path


def point_means(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame:
    """Mean of each outcome over replications, one row per design point (in point order)."""
    ok = table[table["error"] == ""]
    means = ok.groupby("point")[sweep.outcome_names].mean()
    return means.reindex(range(len(design_points(sweep))))


def sensitivity(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame:
    """Sobol first-order and total indices with confidence intervals, or Morris mu*, sigma.

    Computed on each outcome's mean over replications per point. Returns a tidy table: outcome,
    parameter, then the index columns. Empty for grid and lhs designs.
    """
    kind = sweep.spec.design.kind
    if kind not in ("sobol", "morris"):
        return pd.DataFrame()
    means = point_means(sweep, table)
    return sensitivity_indices(sweep, means)


def sensitivity_indices(sweep: Sweep, y: pd.DataFrame) -> pd.DataFrame:
    """Indices for outcomes ``y`` (one row per design point, one column per outcome)."""
    design = sweep.spec.design
    problem = sweep.problem
    if design.kind == "sobol":
        from SALib.analyze import sobol

        keys = ("S1", "S1_conf", "ST", "ST_conf")

        def analyze(values: np.ndarray) -> Any:
            return sobol.analyze(
                problem, values, calc_second_order=design.second_order, seed=design.seed
            )
    else:
        from SALib.analyze import morris

        keys = ("mu_star", "mu_star_conf", "sigma")
        x = unit_samples(sweep)  # the design's points, drawn once for every outcome

        def analyze(values: np.ndarray) -> Any:
            return morris.analyze(problem, x, values, num_levels=design.levels, seed=design.seed)

    rows = []
    for outcome in y.columns:
        values = y[outcome].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"outcome {outcome} has failed or missing runs; cannot analyse")
        res = analyze(values)
        for i, name in enumerate(problem["names"]):
            rows.append({"outcome": outcome, "parameter": name, **{k: res[k][i] for k in keys}})
    return pd.DataFrame(rows)


def selected_points(sweep: Sweep, table: pd.DataFrame) -> list[int]:
    """Points whose consolidation curves are drawn: the extremes of the first outcome and the
    first and last points of the design, at most ``curves``."""
    means = point_means(sweep, table)[sweep.outcome_names[0]].dropna()
    if means.empty:
        return []
    chosen = [int(means.idxmin()), int(means.idxmax()), 0, len(means) - 1]
    return list(dict.fromkeys(chosen))[: sweep.spec.curves]


def estimate_seconds(sweep: Sweep) -> float:
    """Seconds for one run of the base scenario at the sweep's horizon (a short timing probe)."""
    import time

    from sim.runner import run_replication

    sc = validate_scenario(json.loads(json.dumps(sweep.base_raw)))
    start = time.perf_counter()
    run_replication(sc, seed=0, record_firms=False)
    return time.perf_counter() - start


def n_points(spec: SweepSpec) -> int:
    """Number of design points, by arithmetic (nothing is sampled): grid: the product of the
    parameters' value counts; lhs: samples; sobol: N(D+2), or N(2D+2) with second order;
    morris: r(D+1)."""
    d, dims = spec.design, len(spec.parameters)
    if d.kind == "grid":
        return math.prod(
            len(p.values) if p.values is not None else (p.steps or 3) for p in spec.parameters
        )
    if d.kind == "lhs":
        return d.samples
    if d.kind == "sobol":
        return d.samples * (2 * dims + 2 if d.second_order else dims + 2)
    return d.samples * (dims + 1)


def n_runs(sweep: Sweep) -> int:
    """Number of runs: points x replications (by arithmetic; see ``n_points``)."""
    return n_points(sweep.spec) * sweep.spec.replications


def check_size(sweep: Sweep, max_runs: int | None) -> int:
    """The number of runs, or an ``InputError`` if it exceeds ``max_runs`` (checked before any
    point is built, so an oversized design costs nothing)."""
    total = n_runs(sweep)
    check_run_limit(
        total,
        max_runs,
        _display(sweep.file),
        "design",
        f"{n_points(sweep.spec):,} points x {sweep.spec.replications:,} replications",
    )
    return total


def check_run_limit(total: int, max_runs: int | None, file: str, key: str, counted: str) -> None:
    """Refuse ``total`` runs (``counted``: how they were counted) above ``max_runs`` (default
    ``DEFAULT_MAX_RUNS``), naming the file, the key and the ``--max-runs`` that allows them."""
    limit = DEFAULT_MAX_RUNS if max_runs is None else max_runs
    if total > limit:
        raise InputError(
            file,
            key,
            f"{counted} = {total:,} runs, more than the limit of {limit:,}; make it smaller or "
            f"allow it with --max-runs {total}",
        )


SECONDS_PER_MONTH = 0.0015
"""Typical cost of one simulated month of the baseline on one core, storing included: a baseline
replication takes 0.136 s for 120 months (docs/performance.md), the 10,000-run study 0.138 s of a
core per run of 96 months with its run store, rounded up for slower machines."""


def rough_seconds(sweep: Sweep) -> float:
    """Rough seconds for one run at the sweep's horizon, without running anything."""
    from sim.calendar import parse_month

    return (parse_month(str(sweep.base_raw["end"])) + 1) * SECONDS_PER_MONTH


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_sweep_outputs(
    sweep: Sweep,
    folder: Path,
    table: pd.DataFrame,
    started: Any,
    finished: Any,
    workers: int,
    command: str,
    figures: bool = True,
) -> str:
    """Tables, sensitivity indices, figures, manifest and a summary; returns the summary text.

    Each file is written under a temporary name and renamed, so no output is ever half-written;
    ``runs/`` keeps the per-run store that makes the sweep resumable.
    """
    from sim.runner import _git_commit, _versions

    folder = Path(folder)
    spec = sweep.spec
    params = [p.path for p in spec.parameters]
    _atomic(folder / "outcomes.parquet", lambda t: table.to_parquet(t, index=False))
    _atomic(folder / "outcomes.csv", lambda t: table.to_csv(t, index=False))
    means = design_points(sweep).join(point_means(sweep, table))
    _atomic(folder / "point_means.csv", lambda t: means.to_csv(t, index_label="point"))
    store = RunStore(folder)
    ok_runs = table[table["error"] == ""].drop_duplicates("key")
    if len(ok_runs):
        per_run = pd.concat([store.metrics(k) for k in ok_runs["key"]], ignore_index=True)
        _atomic(folder / "metrics.parquet", lambda t: per_run.to_parquet(t, index=False))
    definitions = pd.DataFrame(
        [{"outcome": o.name, "unit": o.unit, "definition": o.definition} for o in sweep.outcomes]
    )
    _atomic(folder / "outcomes_defined.csv", lambda t: definitions.to_csv(t, index=False))
    failed = table[table["error"] != ""]
    sens = pd.DataFrame()
    if failed.empty:
        sens = sensitivity(sweep, table)
        if not sens.empty:
            _atomic(folder / "sensitivity.csv", lambda t: sens.to_csv(t, index=False))
    manifest = {
        "sweep": spec.name,
        "file": str(sweep.file),
        "design": spec.design.model_dump(),
        "runs": len(table),
        "failed_runs": len(failed),
        "workers": workers,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "command": command,
        "posterior": None
        if sweep.draws is None
        else {"file": spec.posterior, "draws": sweep.draws},
    }
    _atomic(folder / "manifest.json", lambda t: t.write_text(json.dumps(manifest, indent=2)))
    _atomic(
        folder / "sweep.resolved.yaml",
        lambda t: t.write_text(dump_yaml(spec.model_dump(mode="json"))),
    )

    drawn = ""
    if sweep.draws is not None:
        from sim.posterior import LABEL

        drawn = f" (replication i of every point with posterior draw i: {LABEL})"
    caption = (
        f"Sweep {spec.name}: {spec.design.kind} design, {len(means)} points x "
        f"{spec.replications} replications{drawn}; values are means over replications."
    )
    if figures:
        from sim import plots  # matplotlib only when figures are drawn

        fig_dir = folder / "figures"
        fig_dir.mkdir(exist_ok=True)
        if spec.design.kind == "grid" and len(params) == 2:
            ok = table[table["error"] == ""]
            for o in sweep.outcomes:
                plots.heatmap(
                    ok,
                    params[0],
                    params[1],
                    o.name,
                    fig_dir / f"heatmap_{_slug(o.name)}.png",
                    f"{o.label} [{o.unit}]",
                    caption,
                    labels=(
                        parameter_label(params[0]),
                        parameter_label(params[1]),
                        f"{o.label} [{o.unit}]",
                    ),
                    digits=o.digits,
                )
        if not sens.empty:
            plots.sensitivity_bars(
                sens,
                fig_dir / "sensitivity.png",
                f"Sensitivity ({spec.design.kind}) of sweep {spec.name}",
                caption,
            )
        chosen = selected_points(sweep, table)
        if chosen:
            frames = []
            for point in chosen:
                label = ", ".join(
                    f"{p.rsplit('.', 1)[-1]}={means.loc[point, p]:.3g}" for p in params
                )
                for j in table[(table["point"] == point) & (table["error"] == "")].itertuples():
                    frames.append(
                        store.metrics(j.key).assign(
                            scenario=f"point {point}: {label}", replication=j.replication
                        )
                    )
            plots.scenarios_figure(
                pd.concat(frames, ignore_index=True),
                "active_developers",
                fig_dir / "consolidation_selected.png",
                "Active developers at selected sweep points",
                "active developers (count)",
            )

    lines = [
        f"Sweep {spec.name}: {spec.design.kind} design, {len(means)} points x "
        f"{spec.replications} replications = {len(table)} runs; {len(failed)} failed.{drawn}",
        "",
    ]
    for o in sweep.outcomes:
        outcome = f"{o.name} ({o.unit})"
        col = means[o.name]
        lo, hi = col.idxmin(), col.idxmax()
        lines.append(
            f"{outcome}: {col.min():.3g} at "
            + ", ".join(f"{p}={means.loc[lo, p]:.3g}" for p in params)
            + f"; {col.max():.3g} at "
            + ", ".join(f"{p}={means.loc[hi, p]:.3g}" for p in params)
        )
    if not sens.empty:
        key = "ST" if "ST" in sens.columns else "mu_star"
        lines.append("")
        for outcome, g in sens.groupby("outcome", sort=False):
            top = g.sort_values(key, ascending=False).head(3)
            lines.append(
                f"{outcome}: most influential ({key}) "
                + ", ".join(f"{r.parameter} {getattr(r, key):.2f}" for r in top.itertuples())
            )
    if not failed.empty:
        lines.append("\nFailed runs are listed with their errors in outcomes.csv (column error).")
    lines.append(f"\nResults: {folder}")
    text = "\n".join(lines) + "\n"
    _atomic(folder / "summary.txt", lambda t: t.write_text(text))
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
