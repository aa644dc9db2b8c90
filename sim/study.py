"""Studies: uncertainties and policy levers declared apart, scenario discovery and policy search.

A study file names a base scenario, the **uncertainties** (what nobody controls: demand, hype,
domestic chips, the talent pool; ranges written out or taken from the calibration posterior), the
**levers** (what policy sets: export-control scale and timing, subsidies, public compute), the
outcomes to record (declared as in ``sim.outcomes``, with ``declare:`` for series of one's own), and
one or both questions:

``discover``
    Under which conditions does an outcome condition hold (``independent_developers@2028-12 >= 5``)?
    A Latin-hypercube experiment over uncertainties x levers is run (or reused: runs are stored and
    keyed like sweep runs), each run's condition is evaluated, and PRIM (EMA Workbench's
    implementation) peels the box of input space where the condition is densest. The chosen box is
    the one with the largest coverage among those at least ``min_density`` dense.

``optimise``
    Which lever settings trade the declared objectives off best? NSGA-II (Optuna) proposes lever
    settings; each is evaluated over the same ``scenarios`` draws of the uncertainties and the same
    replication seeds (common random numbers and common uncertainty draws), the objective being the
    mean over those runs. The Pareto front, and each candidate's spread across the uncertainty draws
    (its robustness), are reported. Trials are logged as they finish; the sampler is reseeded per
    trial from the study seed and the trial number, so a study killed and resumed proposes and
    scores exactly what an uninterrupted one would.

Every problem in a study file is an ``InputError`` (exit 2) naming the file and key path.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from sim.declared import Declaration, parse_block
from sim.errors import InputError
from sim.executor import Executor
from sim.outcomes import Outcome, parse_outcome, parse_outcomes
from sim.params import PATH_RE, check_parameter, load_spec
from sim.scenario import F, Strict, _display
from sim.sweep import ExperimentSpec, load_base

MAX_DIMENSIONS = 32
"""Most uncertainties plus levers one study may declare."""


class StudyParameter(Strict):
    """One dimension: a key path into the scenario and its range."""

    path: str = F(desc="dotted key path into the scenario, e.g. policy.subsidy_scale")
    range: list[float] | Literal["posterior", "schema"] = F(
        desc="[low, high]; posterior: the 5-95 % range of the study's posterior sample; schema: "
        "the field's own bounds (both must be finite)"
    )
    integer: bool = F(False, desc="round drawn values to whole numbers (e.g. months)")

    @field_validator("path")
    @classmethod
    def _path_form(cls, v: str) -> str:
        if not PATH_RE.match(v):
            raise ValueError(f"{v!r} is not a dotted key path like policy.subsidy_scale")
        return v

    @field_validator("range", mode="before")
    @classmethod
    def _one_form(cls, v: Any) -> Any:
        ok = v in ("posterior", "schema") or (
            isinstance(v, list)
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        )
        if not ok:
            raise ValueError("write [low, high] (two numbers), posterior or schema")
        return v

    @field_validator("range")
    @classmethod
    def _ordered(cls, v: list[float] | str) -> list[float] | str:
        if isinstance(v, list):
            if len(v) != 2 or not all(np.isfinite(v)):
                raise ValueError("a range is [low, high] with two finite numbers")
            if not v[0] < v[1]:
                raise ValueError(f"low {v[0]} must be below high {v[1]}")
        return v


class Discover(Strict):
    """Scenario discovery: an experiment over all dimensions, then PRIM on a condition."""

    condition: str = F(
        desc="outcome comparisons joined by 'and', e.g. 'independent_developers@2028-12 >= 5 "
        "and market_size@2028 < 300' (operators >=, >, <=, <)",
        min_length=3,
        max_length=400,
    )
    experiments: int = F(512, desc="Latin-hypercube points (each run replications times)", ge=8)
    seed: int = F(0, desc="seed of the Latin hypercube", ge=0, le=2**32 - 1)
    min_density: float = F(
        0.8,
        desc="the chosen box is the widest at least this dense (share where it holds)",
        gt=0,
        le=1,
    )
    peel_alpha: float = F(0.05, desc="PRIM: share of points peeled per step", gt=0, le=0.5)
    mass_min: float = F(0.05, desc="PRIM: smallest box, as a share of all runs", gt=0, lt=1)
    max_qp: float = F(
        0.05,
        desc="restrictions whose quasi-p-value is above this are dropped from the chosen box "
        "(they do not distinguish it from chance)",
        gt=0,
        le=1,
    )


class Objective(Strict):
    """One objective of the policy search."""

    outcome: str = F(desc="an outcome name (declared series allowed)")
    direction: Literal["maximise", "minimise"] = F(desc="maximise or minimise")


class Optimise(Strict):
    """Many-objective search over the levers (NSGA-II)."""

    objectives: list[Objective] = F(desc="what to trade off", min_length=1, max_length=4)
    trials: int = F(64, desc="lever settings evaluated in all", ge=2, le=100_000)
    population: int = F(16, desc="NSGA-II population size", ge=2, le=1000)
    scenarios: int = F(
        4, desc="draws of the uncertainties every candidate is evaluated over", ge=1, le=1000
    )
    seed: int = F(0, desc="seed of the search and of the uncertainty draws", ge=0, le=2**32 - 1)


class StudySpec(ExperimentSpec):
    """A study file."""

    replications: int = F(
        2, desc="replications per point (common random numbers across points)", ge=1, le=1000
    )
    posterior: str | None = F(
        None, desc="posterior.parquet (relative to the study file) for 'range: posterior'"
    )
    uncertainties: list[StudyParameter] = F(
        [], desc="what nobody controls", max_length=MAX_DIMENSIONS
    )
    levers: list[StudyParameter] = F(
        desc="what policy sets", min_length=1, max_length=MAX_DIMENSIONS
    )
    outcomes: list[str] = F([], desc="further outcomes to record (sim/outcomes.py)")
    declare: dict[str, Any] | None = F(None, desc="outcome series of your own (sim/declared.py)")
    discover: Discover | None = F(None, desc="scenario discovery (PRIM)")
    optimise: Optimise | None = F(None, desc="policy search (NSGA-II)")

    @model_validator(mode="after")
    def _some_question(self) -> StudySpec:
        if self.discover is None and self.optimise is None:
            raise ValueError("a study asks discover:, optimise: or both")
        return self

    def problems(self) -> list[tuple[str, str]]:
        """A path in both lists or twice; too many dimensions; posterior ranges without one."""
        out: list[tuple[str, str]] = []
        seen: dict[str, str] = {}
        for group in ("uncertainties", "levers"):
            for i, p in enumerate(getattr(self, group)):
                where = f"{group}[{i}].path"
                if p.path in seen:
                    out.append((where, f"{p.path} is already declared at {seen[p.path]}"))
                seen.setdefault(p.path, where)
                if p.range == "posterior" and self.posterior is None:
                    out.append((f"{group}[{i}].range", "range: posterior needs a posterior: file"))
        if len(self.uncertainties) + len(self.levers) > MAX_DIMENSIONS:
            out.append(("levers", f"at most {MAX_DIMENSIONS} dimensions in all"))
        return out


_CONDITION = re.compile(r"^\s*(\S+)\s*(>=|<=|>|<)\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")
_OPS: dict[str, Callable[[Any, float], Any]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


@dataclass
class Study:
    """A validated study: the spec, resolved ranges, parsed outcomes, condition and objectives."""

    spec: StudySpec
    file: Path
    base_raw: dict[str, Any]
    declared: dict[str, Declaration]
    ranges: dict[str, tuple[float, float]]
    integer: set[str]
    outcomes: list[Outcome] = field(default_factory=list)
    condition: list[tuple[Outcome, str, float]] = field(default_factory=list)
    objectives: list[tuple[Outcome, int]] = field(default_factory=list)
    """(outcome, +1 to maximise or -1 to minimise)"""

    @property
    def uncertainty_paths(self) -> list[str]:
        return [p.path for p in self.spec.uncertainties]

    @property
    def lever_paths(self) -> list[str]:
        return [p.path for p in self.spec.levers]

    def sweep(self, paths: list[str], samples: int = 2, seed: int = 0) -> Any:
        """A ``sim.sweep.Sweep`` over ``paths`` (their resolved ranges), carrying the study's
        base, replications, seeds, outcomes and declared series: its jobs, store and executors
        are the sweep's own."""
        from sim import sweep as sw

        spec = sw.SweepSpec.model_validate(
            {
                "name": self.spec.name,
                "base": self.spec.base,
                "replications": self.spec.replications,
                "seed": self.spec.seed,
                "parameters": [{"path": p, "range": list(self.ranges[p])} for p in paths],
                "design": {"kind": "lhs", "samples": max(samples, 2), "seed": seed},
                "outcomes": [o.name for o in self.outcomes],
                "curves": 0,
            }
        )
        return sw.Sweep(spec, self.file, self.base_raw, list(self.outcomes), self.declared)

    def points(self, paths: list[str], unit: np.ndarray) -> pd.DataFrame:
        """Unit-cube samples rescaled to the ranges of ``paths``, integers rounded."""
        lows = np.array([self.ranges[p][0] for p in paths])
        highs = np.array([self.ranges[p][1] for p in paths])
        frame = pd.DataFrame(lows + unit * (highs - lows), columns=paths)
        for p in paths:
            if p in self.integer:
                frame[p] = frame[p].round()
        return frame


def _posterior_range(file: Path, spec: StudySpec, path: str, where: str) -> tuple[float, float]:
    from sim.posterior import load_posterior

    assert spec.posterior is not None
    post = load_posterior(file.parent / spec.posterior)
    if path not in post.columns:
        raise InputError(
            _display(file),
            where,
            f"{path} is not a column of the posterior {spec.posterior}; it holds "
            + ", ".join(c for c in post.columns if "." in c),
        )
    values = post[path].to_numpy(dtype=float)
    weights = post["weight"].to_numpy(dtype=float) if "weight" in post else np.ones(len(values))
    order = np.argsort(values)
    cum = np.cumsum(weights[order]) / weights.sum()
    lo, hi = (float(values[order][np.searchsorted(cum, q)]) for q in (0.05, 0.95))
    if not lo < hi:
        raise InputError(_display(file), where, f"the posterior of {path} has no spread")
    return lo, hi


def _integer_field(path: str) -> bool:
    """Whether the schema field at ``path`` takes whole numbers (it is then drawn as one)."""
    from sim.params import field_at

    try:
        info = field_at(path)
    except KeyError:
        return False  # reported with its key path by the parameter check
    return info is not None and info.annotation is int


def _schema_range(file: Path, path: str, where: str) -> tuple[float, float]:
    """The schema's bounds of the field at ``path`` (``ge``/``gt`` and ``le``/``lt``)."""
    from sim.params import field_at

    try:
        info = field_at(path)
    except KeyError as exc:
        raise InputError(_display(file), where.replace(".range", ".path"), str(exc)) from None
    lo = hi = None
    for m in info.metadata if info is not None else []:
        if hasattr(m, "ge"):
            lo = m.ge
        elif hasattr(m, "gt"):  # exclusive: the next number up
            lo = float(np.nextafter(m.gt, np.inf))
        if hasattr(m, "le"):
            hi = m.le
        elif hasattr(m, "lt"):
            hi = float(np.nextafter(m.lt, -np.inf))
    if lo is None or hi is None or not np.isfinite([lo, hi]).all():
        raise InputError(
            _display(file), where, f"the schema gives {path} no finite range; write [low, high]"
        )
    return float(lo), float(hi)


def parse_condition(
    text: str, n_months: int, file: str, declared: dict[str, Declaration]
) -> list[tuple[Outcome, str, float]]:
    """``outcome OP number [and ...]`` into (outcome, operator, number) triples."""
    out = []
    for i, part in enumerate(re.split(r"\s+and\s+", text.strip())):
        m = _CONDITION.match(part)
        if not m:
            raise InputError(
                file,
                "discover.condition",
                f"part {i + 1} ({part[:60]!r}) is not '<outcome> <op> <number>' with op one of "
                ">=, >, <=, <; parts are joined by 'and'",
            )
        outcome = parse_outcome(m.group(1), n_months, file, "discover.condition", declared)
        threshold = float(m.group(3))
        if not np.isfinite(threshold):
            raise InputError(file, "discover.condition", f"part {i + 1}: the number must be finite")
        out.append((outcome, m.group(2), threshold))
    return out


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; every problem is an ``InputError`` naming the file and key
    path (the study file, its base or the base's own files). Each dimension is checked at both
    ends of its range, so every point in between is valid too."""
    path = Path(path)
    spec = load_spec(path, StudySpec, "study")
    shown = _display(path)
    base_raw, n_months = load_base(path, spec)
    declared = parse_block(spec.declare, shown)
    ranges: dict[str, tuple[float, float]] = {}
    for group in ("uncertainties", "levers"):
        for i, p in enumerate(getattr(spec, group)):
            where = f"{group}[{i}].range"
            if p.range == "posterior":
                lo_hi = _posterior_range(path, spec, p.path, where)
            elif p.range == "schema":
                lo_hi = _schema_range(path, p.path, where)
            else:
                lo_hi = (float(p.range[0]), float(p.range[1]))
            ranges[p.path] = lo_hi
    integer = set()
    for group in ("uncertainties", "levers"):
        for i, p in enumerate(getattr(spec, group)):
            if p.integer or _integer_field(p.path):
                integer.add(p.path)
                lo, hi = math.ceil(ranges[p.path][0]), math.floor(ranges[p.path][1])
                if lo >= hi:
                    raise InputError(
                        shown,
                        f"{group}[{i}].range",
                        f"{p.path} takes whole numbers and {list(ranges[p.path])} holds fewer "
                        "than two",
                    )
                ranges[p.path] = (float(lo), float(hi))
    study = Study(spec, path, base_raw, declared, ranges, integer)
    condition = (
        parse_condition(spec.discover.condition, n_months, shown, declared) if spec.discover else []
    )
    objectives: list[tuple[Outcome, int]] = []
    if spec.optimise:
        for i, obj in enumerate(spec.optimise.objectives):
            o = parse_outcome(
                obj.outcome, n_months, shown, f"optimise.objectives[{i}].outcome", declared
            )
            if any(o.name == prev.name for prev, _ in objectives):
                raise InputError(
                    shown,
                    f"optimise.objectives[{i}].outcome",
                    f"{o.name} is already an objective; each outcome may be one objective",
                )
            objectives.append((o, 1 if obj.direction == "maximise" else -1))
    named = parse_outcomes(spec.outcomes, n_months, shown, "outcomes", declared)
    seen: dict[str, Outcome] = {}
    for o in [*named, *(c[0] for c in condition), *(o for o, _ in objectives)]:
        seen.setdefault(o.name, o)
    study.outcomes = list(seen.values())
    study.condition = condition
    study.objectives = objectives
    probe_sweep = study.sweep(list(ranges))
    from sim import sweep as sw

    for group in ("uncertainties", "levers"):
        for i, p in enumerate(getattr(spec, group)):
            lo, hi = ranges[p.path]
            check_parameter(
                path,
                i,
                p.path,
                {"range": [lo, hi]},
                lambda v: sw._point_scenario(probe_sweep, v),
                key=group,
            )
    return study


# --------------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------------


def experiment(study: Study) -> tuple[Any, list[Any]]:
    """The discovery experiment: a Latin hypercube over every dimension, as a sweep and its
    jobs (point ids 0..experiments-1)."""
    from SALib.sample import latin

    from sim import sweep as sw

    d = study.spec.discover
    assert d is not None
    paths = [*study.uncertainty_paths, *study.lever_paths]
    sweep = study.sweep(paths, d.experiments, d.seed)
    unit = latin.sample(sweep.problem, d.experiments, seed=d.seed)
    return sweep, sw.jobs_for_points(sweep, study.points(paths, unit))


def holds(study: Study, table: pd.DataFrame) -> np.ndarray:
    """Whether the condition holds in each run of ``table`` (an outcome table)."""
    ok = np.ones(len(table), dtype=bool)
    for outcome, op, value in study.condition:
        v = table[outcome.name].to_numpy(dtype=float)
        ok &= np.isfinite(v) & _OPS[op](v, value)
    return ok


@dataclass
class Discovery:
    """PRIM's answer: the chosen box, its statistics and the peeling trajectory."""

    box: pd.DataFrame
    """per dimension: kind (lever/uncertainty), whether restricted (and which end), the box's
    limits, the range it was drawn over, PRIM's quasi-p-value, the limits as peeled and whether
    the restriction was dropped as not beyond chance"""
    stats: dict[str, float]
    """coverage, density, mass, res_dim, box id on the trajectory, and the base rate"""
    trajectory: pd.DataFrame
    """coverage, density, mass and restricted dimensions of every box peeled"""


def discover_box(study: Study, table: pd.DataFrame) -> Discovery:
    """Run PRIM on the runs of ``table`` for the study's condition."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EMA Workbench warns about optional extras on import
        from ema_workbench.analysis import prim

    d = study.spec.discover
    assert d is not None
    paths = [*study.uncertainty_paths, *study.lever_paths]
    ok = table["error"] == ""
    x = table.loc[ok, paths].reset_index(drop=True).astype(float)
    y = holds(study, table.loc[ok])
    if not len(y):
        first = table["error"].iloc[0] if len(table) else ""
        raise RuntimeError(f"no run of the experiment finished; the first error:\n{first}")
    if y.all() or not y.any():
        raise InputError(
            _display(study.file),
            "discover.condition",
            f"the condition holds in {'every' if y.all() else 'no'} run of the experiment "
            f"({len(y)} runs): there is no box to find; change the condition or the ranges",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = prim.Prim(x, y, peel_alpha=d.peel_alpha, mass_min=d.mass_min)
        box = p.find_box()
    trajectory = box.peeling_trajectory.copy()
    dense = trajectory[trajectory["density"] >= d.min_density]
    chosen = (
        int(dense.sort_values(["coverage", "density"]).index[-1])
        if len(dense)
        else int(trajectory["density"].idxmax())
    )
    box.select(chosen)
    peeled = box.box_lims[chosen]
    dropped: list[str] = []
    for _ in paths:  # drop restrictions that do not beat chance, weakest first, one at a time
        current = len(box.box_lims) - 1 if dropped else chosen
        qps = _quasi_p(box, current)
        weak = {k: v for k, v in qps.items() if v > d.max_qp}
        if not weak:
            break
        name = max(weak, key=weak.__getitem__)
        box.drop_restriction(name, current)
        dropped.append(name)
    final = len(box.box_lims) - 1 if dropped else chosen
    box.select(final)
    stats = {
        "box": float(chosen),
        "coverage": float(box.coverage),
        "density": float(box.density),
        "mass": float(box.mass),
        "res_dim": float(box.res_dim),
        "base_rate": float(y.mean()),
        "runs": float(len(y)),
    }
    lims = box.box_lims[final]
    whole = box.box_lims[0]  # the data's own extent: limits here are not restrictions
    qps = _quasi_p(box, final)
    rows = []
    for path in paths:
        restricted = path in qps
        lo, hi = (float(lims.loc[0, path]), float(lims.loc[1, path]))
        full_lo, full_hi = study.ranges[path]
        qp = qps.get(path, np.nan)
        rows.append(
            {
                "dimension": path,
                "kind": "lever" if path in study.lever_paths else "uncertainty",
                "restricted": restricted,
                "low": lo,
                "high": hi,
                "range_low": full_lo,
                "range_high": full_hi,
                "qp_value": qp,
                "low_cut": restricted and lo > float(whole.loc[0, path]),
                "high_cut": restricted and hi < float(whole.loc[1, path]),
                "peeled_low": float(peeled.loc[0, path]),
                "peeled_high": float(peeled.loc[1, path]),
                "dropped": path in dropped,
            }
        )
    return Discovery(pd.DataFrame(rows), stats, trajectory.reset_index(drop=True))


def _quasi_p(box: Any, i: int) -> dict[str, float]:
    """Restricted dimensions of box ``i`` and their quasi-p-values (the smaller of the lower and
    upper limit's, from EMA Workbench's ``inspect``)."""
    info = box.inspect(i, style="data")[0][1]
    out = {}
    for path in info.index:
        vals = [float(v) for v in info.loc[path].to_numpy()[2:] if np.isfinite(float(v))]
        out[str(path)] = min(vals) if vals else 1.0
    return out


def describe(study: Study, found: Discovery) -> str:
    """The box in plain words."""
    d = study.spec.discover
    assert d is not None
    box = found.box[found.box["restricted"]]
    parts = []
    for r in box.itertuples(index=False):
        if r.low_cut and r.high_cut:
            words = f"{r.dimension} lies between {r.low:.3g} and {r.high:.3g}"
        elif r.low_cut:
            words = f"{r.dimension} is above {r.low:.3g}"
        else:
            words = f"{r.dimension} is below {r.high:.3g}"
        parts.append(f"{words} ({r.kind}; drawn over {r.range_low:.3g}-{r.range_high:.3g})")
    s = found.stats
    if not parts:
        return (
            f"Condition: {d.condition}. It holds in {s['base_rate']:.0%} of the {s['runs']:.0f} "
            "runs of the experiment, and no restriction of the inputs tells where it holds "
            "beyond chance."
        )
    when = "; and ".join(parts)
    return (
        f"Condition: {d.condition}. It holds in {s['base_rate']:.0%} of the {s['runs']:.0f} runs "
        f"of the experiment. When {when}, it holds in {s['density']:.0%} of runs (density), and "
        f"this box holds {s['coverage']:.0%} of all runs where it holds (coverage), in "
        f"{s['mass']:.0%} of the experiment (mass)."
    )


# --------------------------------------------------------------------------------------------------
# Policy search
# --------------------------------------------------------------------------------------------------


def uncertainty_draws(study: Study) -> pd.DataFrame:
    """The uncertainty draws every candidate faces, from the search seed: uncertainties ranged
    ``posterior`` are drawn *jointly* from the posterior sample (particles in proportion to their
    weights, so the fitted trade-offs between parameters are kept), the others by Latin
    hypercube over their ranges; the base scenario's own values when the study declares none."""
    from SALib.sample import latin

    o = study.spec.optimise
    assert o is not None
    paths = study.uncertainty_paths
    if not paths:
        return pd.DataFrame(index=range(1))
    joint = [p.path for p in study.spec.uncertainties if p.range == "posterior"]
    free = [p for p in paths if p not in joint]
    frame = pd.DataFrame(index=range(o.scenarios))
    if free:
        sweep = study.sweep(free, o.scenarios, o.seed)
        unit = latin.sample(sweep.problem, o.scenarios, seed=o.seed)
        frame = study.points(free, unit)
    if joint:
        from sim.posterior import draw, load_posterior

        assert study.spec.posterior is not None
        post = load_posterior(study.file.parent / study.spec.posterior)
        sets = draw(post, o.scenarios, o.seed)
        for p in joint:
            frame[p] = [s[p] for s in sets]
    return frame[paths]


TRIALS_FILE = "trials.jsonl"


def _append_json_line(path: Path, record: dict[str, Any]) -> None:
    """Append one line and flush it to disk (a killed search loses at most the trial running)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class Dimension:
    """One lever of the search: its range, and whether it takes whole numbers."""

    low: float
    high: float
    integer: bool = False


Evaluate = Callable[[int, dict[str, float]], tuple[list[float], dict[str, float]]]
"""(trial number, lever values) -> (objective values, per-draw values by column name)"""


def read_log(
    path: Path,
    levers: dict[str, Dimension] | None = None,
    n_objectives: int | None = None,
    fingerprint: str | None = None,
) -> list[dict[str, Any]]:
    """Trials logged so far. A last line cut short by a kill is dropped (that trial reruns);
    any other damage, or a log written for another study definition (``fingerprint``), is an
    ``InputError`` naming the file and line: a search never continues from a history that is
    not its own. With ``levers`` and ``n_objectives`` each record's shape is checked too."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out: list[dict[str, Any]] = []
    for k, line in enumerate(lines):
        where = f"line {k + 1}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if k == len(lines) - 1:
                break  # cut short by a kill
            raise InputError(str(path), where, "not a trial record (the log is damaged)") from None
        problem = _record_problem(rec, len(out), levers, n_objectives)
        if problem:
            raise InputError(str(path), where, f"{problem} (the log is damaged)")
        if fingerprint is not None and rec.get("study", "") != fingerprint:
            raise InputError(
                str(path.parent),
                None,
                "holds a search of a different study definition (its levers, ranges, "
                "uncertainties, objectives, declared series, base scenario, seeds or search "
                "settings changed); choose another --out, or remove this folder to start again",
            )
        out.append(rec)
    return out


def _record_problem(
    rec: Any, number: int, levers: dict[str, Dimension] | None, n_objectives: int | None
) -> str:
    """What is wrong with one logged trial, or ''."""
    if not isinstance(rec, dict):
        return "a record is a mapping"
    if rec.get("number") != number:
        return f"expected trial {number}"
    params, values = rec.get("params"), rec.get("values")
    if not isinstance(params, dict) or not isinstance(values, list):
        return "a record holds params and values"
    if not isinstance(rec.get("system_attrs"), dict):
        return "a record holds the sampler's system_attrs"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "values are numbers"
    if n_objectives is not None and len(values) != n_objectives:
        return f"{len(values)} values for {n_objectives} objectives"
    if levers is not None:
        if set(params) != set(levers):
            return "params are not the study's levers"
        for name, d in levers.items():
            v = params[name]
            if not isinstance(v, int | float) or isinstance(v, bool) or not d.low <= v <= d.high:
                return f"{name}={v!r} is outside {d.low}-{d.high}"
    return ""


def search_loop(
    levers: dict[str, Dimension],
    directions: list[int],
    optimise: Optimise,
    log_path: Path,
    evaluate: Evaluate,
    on_trial: Callable[[int], None] | None = None,
    stop_after: int | None = None,
    fingerprint: str = "",
) -> list[dict[str, Any]]:
    """NSGA-II over ``levers`` (``directions``: +1 maximise, -1 minimise per objective), each
    proposal scored by ``evaluate``; trials logged to ``log_path`` as they finish and resumed from
    it. The sampler is reseeded per trial from the seed and the trial number, so the proposals
    are a function of the logged history alone: a resumed search continues exactly as an
    uninterrupted one would. Returns the logged records."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        p: (
            optuna.distributions.IntDistribution(int(d.low), int(d.high))
            if d.integer
            else optuna.distributions.FloatDistribution(d.low, d.high)
        )
        for p, d in levers.items()
    }
    logged = read_log(log_path, levers, len(directions), fingerprint)[: optimise.trials]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in logged))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        opt = optuna.create_study(
            directions=["maximize" if s > 0 else "minimize" for s in directions]
        )
        for rec in logged:
            opt.add_trial(
                optuna.trial.create_trial(
                    # in the levers' order, as when proposed (the log's JSON sorts keys)
                    params={p: rec["params"][p] for p in distributions},
                    distributions=distributions,
                    values=rec["values"],
                    system_attrs=rec["system_attrs"],
                )
            )
        # The sampler caches each generation's parents in the study (chosen with the RNG of the
        # trial that first needed them): restore the cache rather than choose them again.
        # Each record holds only the cache entries that were new after its trial.
        restored: dict[str, Any] = {}
        for rec in logged:
            restored.update(rec.get("study_attrs", {}))
        for key, value in restored.items():
            opt._storage.set_study_system_attr(opt._study_id, key, value)
    cached = dict(restored)  # the sampler's cache as logged so far
    new = 0
    for number in range(len(logged), optimise.trials):
        if stop_after is not None and new >= stop_after:
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            opt.sampler = optuna.samplers.NSGAIISampler(
                population_size=optimise.population,
                seed=(optimise.seed * 1_000_003 + number) % 2**32,
            )
            trial = opt.ask(distributions)
        values, per_draw = evaluate(number, {p: float(v) for p, v in trial.params.items()})
        opt.tell(trial, values)
        record = {
            "number": number,
            "params": trial.params,
            "values": values,
            "system_attrs": opt.trials[-1].system_attrs,
            "study_attrs": {
                k: v
                for k, v in opt._storage.get_study_system_attrs(opt._study_id).items()
                if k not in cached or cached[k] != v
            },
            "per_draw": per_draw,
            "study": fingerprint,
        }
        _append_json_line(log_path, record)
        cached.update(record["study_attrs"])
        logged.append(record)
        new += 1
        if on_trial:
            on_trial(number)
    return logged


def model_evaluator(study: Study, executor: Executor, store: Path) -> Evaluate:
    """Score lever values by the model: every uncertainty draw x every replication (the same
    draws and seeds for every candidate), the mean over them per objective; runs are kept in
    ``store/runs`` and reused."""
    from sim import sweep as sw

    draws = uncertainty_draws(study)
    levers = study.lever_paths
    paths = [*study.uncertainty_paths, *levers]
    sweep = study.sweep(paths)
    names = [oc.name for oc, _ in study.objectives]

    def evaluate(number: int, lever_values: dict[str, float]) -> tuple[list[float], dict]:
        points = (
            draws.assign(**lever_values)[paths]
            if len(draws.columns)
            else pd.DataFrame([lever_values])[paths]
        )
        points.index = [number * len(points) + k for k in range(len(points))]
        table = sw.run_sweep(sweep, store, executor, all_jobs=sw.jobs_for_points(sweep, points))
        failed = table["error"] != ""
        if failed.any():
            raise RuntimeError(
                f"trial {number}: {int(failed.sum())} run(s) failed; first error:\n"
                + table.loc[failed, "error"].iloc[0]
            )
        per_draw = table.groupby("point")[names].mean()
        values = [float(per_draw[n].mean()) for n in names]
        detail = {
            f"{n}|draw{k}": float(v) for n in names for k, v in enumerate(per_draw[n].to_numpy())
        }
        return values, detail

    return evaluate


def search(
    study: Study,
    folder: Path,
    executor: Executor,
    on_trial: Callable[[int], None] | None = None,
    stop_after: int | None = None,
    store: Path | None = None,
) -> pd.DataFrame:
    """Run (or resume) the study's policy search; one row per trial (``trials_table``).

    Runs go through the run store in ``store`` (default ``folder``; a study's discovery and
    search share one), so a resumed search reruns nothing it has. ``stop_after`` (tests) stops
    after that many new trials.
    """
    o = study.spec.optimise
    assert o is not None
    levers = {p: Dimension(*study.ranges[p], integer=p in study.integer) for p in study.lever_paths}
    logged = search_loop(
        levers,
        [sign for _, sign in study.objectives],
        o,
        folder / TRIALS_FILE,
        model_evaluator(study, executor, store or folder),
        on_trial,
        stop_after,
        search_fingerprint(study),
    )
    return trials_table(study, logged)


def search_fingerprint(study: Study) -> str:
    """A hash of everything a search's trials depend on: the base scenario as resolved, seeds and
    replications, every dimension and its range, the objectives, the declared series and the
    search settings (not the number of trials, which a rerun may raise)."""
    import hashlib

    from sim.declared import fingerprint

    o = study.spec.optimise
    assert o is not None
    data = {
        "base": study.base_raw,
        "replications": study.spec.replications,
        "seed": study.spec.seed,
        "dimensions": {
            p: [*study.ranges[p], p in study.integer]
            for p in [*study.uncertainty_paths, *study.lever_paths]
        },
        "uncertainties": study.uncertainty_paths,
        "objectives": [[oc.name, sign] for oc, sign in study.objectives],
        "declared": fingerprint(study.declared) if study.declared else "",
        "search": o.model_dump(mode="json", exclude={"trials"}),
    }
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def trials_table(study: Study, logged: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per trial: number, levers, objective means, per-draw means, Pareto flag."""
    rows = []
    for rec in logged:
        row: dict[str, Any] = {"trial": rec["number"]}
        row.update({p: rec["params"][p] for p in study.lever_paths})
        for (oc, _), v in zip(study.objectives, rec["values"], strict=True):
            row[oc.name] = v
        row.update(rec["per_draw"])
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["pareto"] = pareto_mask(
            table[[oc.name for oc, _ in study.objectives]].to_numpy(dtype=float),
            np.array([sign for _, sign in study.objectives]),
        )
    return table


def pareto_mask(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Rows not dominated by any other (``signs``: +1 maximise, -1 minimise per column)."""
    v = values * signs  # all maximised
    n = len(v)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(v >= v[i], axis=1) & np.any(v > v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def robustness(study: Study, trials: pd.DataFrame) -> pd.DataFrame:
    """For each Pareto candidate and objective: the mean, worst, 10th percentile and best of its
    outcome across the uncertainty draws (worst in the objective's own direction)."""
    rows = []
    for rec in trials[trials["pareto"]].to_dict("records"):
        for oc, sign in study.objectives:
            per = np.array(
                [v for k, v in rec.items() if str(k).startswith(f"{oc.name}|draw")], dtype=float
            )
            rows.append(
                {
                    "trial": rec["trial"],
                    "objective": oc.name,
                    "direction": "maximise" if sign > 0 else "minimise",
                    "mean": float(per.mean()),
                    "worst": float(per.min() if sign > 0 else per.max()),
                    "p10_direction": float(np.quantile(per, 0.1 if sign > 0 else 0.9)),
                    "best": float(per.max() if sign > 0 else per.min()),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------


def _manifest(study: Study, what: str, started: Any, finished: Any, extra: dict) -> str:
    from sim.runner import _git_commit, _versions

    return json.dumps(
        {
            "study": study.spec.name,
            "file": str(study.file),
            "question": what,
            "replications": study.spec.replications,
            "root_seed": study.spec.seed,
            "started_utc": started.isoformat(timespec="seconds"),
            "finished_utc": finished.isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "versions": _versions(),
            **extra,
        },
        indent=2,
    )


def write_discovery(
    study: Study,
    folder: Path,
    table: pd.DataFrame,
    started: Any,
    finished: Any,
    extra: dict[str, Any],
    figures: bool = True,
) -> str:
    """Tables, figures, manifest and summary of a discovery in ``folder/discovery`` (the whole
    folder replaces the old one, atomically); returns the summary. Runs PRIM on ``table`` (the
    experiment's outcome table)."""
    from sim.runner import write_results

    found = discover_box(study, table)
    runs = table.assign(condition_holds=False)
    ok = runs["error"] == ""
    runs.loc[ok, "condition_holds"] = holds(study, runs.loc[ok])
    text = describe(study, found)
    box = found.box
    d = study.spec.discover
    assert d is not None
    lines = [
        f"Study {study.spec.name}: scenario discovery over {len(box)} dimensions "
        f"({len(study.uncertainty_paths)} uncertainties, {len(study.lever_paths)} levers), "
        f"{d.experiments} Latin-hypercube points x "
        f"{study.spec.replications} replications.",
        "",
        text,
        "",
        "Box (chosen on the peeling trajectory: the widest at least "
        f"{d.min_density:.0%} dense, then restrictions with a quasi-p-value "
        f"above {d.max_qp:g} dropped; peeled box "
        f"{found.stats['box']:.0f}):",
    ]
    for r in box.itertuples(index=False):
        mark = (
            "restricted"
            if r.restricted
            else ("free: restriction dropped, not beyond chance" if r.dropped else "free")
        )
        lines.append(
            f"  {r.dimension} ({r.kind}, {mark}): {r.low:.4g} to {r.high:.4g} "
            f"of {r.range_low:.4g} to {r.range_high:.4g}"
            + (f"; quasi-p {r.qp_value:.2g}" if np.isfinite(r.qp_value) else "")
        )
    summary = "\n".join(lines) + "\n"

    def fill(out: Path) -> None:
        runs.to_parquet(out / "experiment.parquet", index=False)
        found.box.to_csv(out / "box.csv", index=False)
        found.trajectory.to_csv(out / "peeling_trajectory.csv", index=False)
        (out / "summary.txt").write_text(summary)
        (out / "manifest.json").write_text(
            _manifest(study, "discover", started, finished, {**extra, **found.stats})
        )
        if figures:
            from sim import plots

            plots.peeling_tradeoff(
                found.trajectory,
                int(found.stats["box"]),
                out / "tradeoff.png",
                d.condition,
                (found.stats["coverage"], found.stats["density"]),
            )
            plots.box_limits(box, out / "box.png", text)

    write_results(folder / "discovery", fill, replace=True)
    return summary


def write_search(
    study: Study,
    folder: Path,
    trials: pd.DataFrame,
    started: Any,
    finished: Any,
    extra: dict[str, Any],
    figures: bool = True,
) -> str:
    """Tables, figures, manifest and summary of a policy search in ``folder/optimise``."""
    from sim.sweep import _atomic

    out = folder / "optimise"
    out.mkdir(parents=True, exist_ok=True)
    robust = robustness(study, trials)
    pareto = trials[trials["pareto"]]
    _atomic(out / "trials.csv", lambda t: trials.to_csv(t, index=False))
    _atomic(out / "pareto.csv", lambda t: pareto.to_csv(t, index=False))
    _atomic(out / "robustness.csv", lambda t: robust.to_csv(t, index=False))
    o = study.spec.optimise
    assert o is not None
    n_draws = o.scenarios if study.uncertainty_paths else 1
    if not figures:
        (out / "pareto.png").unlink(missing_ok=True)  # no figure from an earlier search
    objectives = ", ".join(
        f"{'maximise' if s > 0 else 'minimise'} {oc.label} [{oc.unit}]"
        for oc, s in study.objectives
    )
    lines = [
        f"Study {study.spec.name}: policy search (NSGA-II) over {len(study.lever_paths)} levers; "
        f"{len(trials)} of {o.trials} trials; each candidate evaluated over "
        + (
            f"{n_draws} draw(s) of the uncertainties"
            if study.uncertainty_paths
            else "the base scenario (no uncertainties declared)"
        )
        + f" x {study.spec.replications} replications (common random numbers and common draws); "
        "objective = mean over those runs.",
        f"Objectives: {objectives}.",
        f"Pareto front: {len(pareto)} candidates (pareto.csv; robustness across the draws in "
        "robustness.csv).",
        "",
    ]
    cols = [*study.lever_paths, *(oc.name for oc, _ in study.objectives)]
    shown = pareto.sort_values(study.objectives[0][0].name, ascending=study.objectives[0][1] < 0)
    for rec in shown[["trial", *cols]].head(12).to_dict("records"):
        lines.append(f"  trial {rec['trial']}: " + ", ".join(f"{c}={rec[c]:.4g}" for c in cols))
    summary = "\n".join(lines) + "\n"
    _atomic(out / "summary.txt", lambda t: t.write_text(summary))
    _atomic(
        out / "manifest.json",
        lambda t: t.write_text(_manifest(study, "optimise", started, finished, extra)),
    )
    if figures and len(trials):
        from sim import plots

        plots.pareto_front(
            trials,
            [(oc.name, f"{oc.label} [{oc.unit}]", s) for oc, s in study.objectives],
            out / "pareto.png",
            f"Study {study.spec.name}: {len(trials)} candidates, Pareto front highlighted; each "
            f"point a mean over {n_draws} uncertainty draw(s) x {study.spec.replications} "
            "replications.",
        )
    return summary
