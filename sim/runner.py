"""Running scenarios: replications in parallel, tidy tables, an atomic results folder.

``run_replication`` is a pure function of (scenario, seed). ``run_scenario`` spawns replication
seeds from one root seed (``sim.rng.replication_seeds``), runs them on an executor
(``sim.executor``: this process, warm worker processes or Dask) and returns tables in replication
order, so the number of workers never changes the output.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calendar import month_label
from sim.executor import Executor, make_executor
from sim.rng import replication_seeds
from sim.scenario import Scenario, scenario_to_yaml

TABLES = ("metrics", "firms", "events")
ID_COLUMNS = ["scenario", "replication", "seed", "month", "date"]


@dataclass
class RunResult:
    """Tidy tables of one or more replications of one scenario.

    ``metrics``: one row per replication and month. ``firms``: one row per firm, replication and
    month (active firms, plus each exiting firm in its exit month). ``events``: one row per event.
    Every table starts with ``scenario, replication, seed, month, date``.
    """

    metrics: pd.DataFrame
    firms: pd.DataFrame
    events: pd.DataFrame

    @classmethod
    def concat(cls, parts: list[RunResult]) -> RunResult:
        """Stack results (keeps the order given)."""
        return cls(*(pd.concat([getattr(p, t) for p in parts], ignore_index=True) for t in TABLES))


def _frame(
    columns: dict[str, Any] | None, scenario: str, replication: int, seed: int
) -> pd.DataFrame:
    """A replication's table from its recorded ``columns`` (the first being ``month``), prefixed
    with its identifying columns (``ID_COLUMNS``); built in one step."""
    from sim.recorder import str_column  # Arrow is needed only where runs are made

    months = np.asarray((columns or {}).get("month", []), dtype=np.int64)
    n = months.size
    uniques, inverse = np.unique(months, return_inverse=True)
    head = {
        "scenario": str_column([scenario], np.zeros(n, dtype=np.int64)),
        "replication": np.full(n, replication, dtype=np.int64),
        "seed": np.full(n, seed, dtype=np.int64),
        "month": months,
        "date": str_column([month_label(int(m)) for m in uniques], inverse),
    }
    rest = {k: v for k, v in (columns or {}).items() if k != "month"}
    return pd.DataFrame({**head, **rest})


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one run. A run allocates many short-lived
    containers, and each collection also walks every long-lived object of the process (Mesa,
    pandas, the scenario); the few cycles a run makes (the model and its agents) are freed by
    the next collection after it. Reference counting frees everything else as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_replication(
    scenario: Scenario, seed: int, replication: int = 0, record_firms: bool = True
) -> RunResult:
    """Run one replication and return its tidy tables (a pure function of scenario and seed)."""
    from sim.model import GenAIMarket  # the model is only needed in workers

    with _cyclic_gc_paused():
        rec = GenAIMarket(scenario, seed, record_firms=record_firms).run().datacollector
    name = scenario.name
    firms = rec.firm_columns() if record_firms and rec.n_panel_months else None
    return RunResult(
        metrics=_frame(rec.metrics_columns(), name, replication, seed),
        firms=_frame(firms, name, replication, seed),
        events=_frame(rec.event_columns(), name, replication, seed),
    )


def _worker(args: tuple[int, Scenario, int, int, bool, bool]) -> tuple[int, RunResult | bytes]:
    """One job: a replication's tables; ``packed``: pickled (``_unpack`` restores them)."""
    job, scenario, seed, replication, record_firms, packed = args
    result = run_replication(scenario, seed, replication, record_firms)
    # Between processes a result travels as one bytes object: pickle.dumps builds it in its own
    # buffer about three times faster than multiprocessing's stream pickler writes the tables,
    # and the worker is free for its next job sooner.
    return job, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if packed else result


def _unpack(result: RunResult | bytes) -> RunResult:
    return pickle.loads(result) if isinstance(result, bytes) else result


def run_many(
    scenarios: list[Scenario],
    replications: int,
    root_seed: int,
    workers: int = 1,
    record_firms: bool = True,
    on_done: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    parameter_sets: list[dict[str, float]] | None = None,
) -> tuple[RunResult, list[int]]:
    """Run every scenario with the same ``replications`` seeds (common random numbers).

    ``parameter_sets`` (one per replication, e.g. ``sim.posterior.draw``) sets replication ``i``
    of *every* scenario to the ``i``-th set: common parameter draws beside common seeds.

    Replication ``i`` of every scenario uses the same seed, and every firm draws from its own
    stream (``sim.rng``), so differences between scenarios come from the scenarios, not from noise.
    Returns the stacked tables in (scenario order, replication) order, whatever the executor or
    number of workers, and the replication seeds. ``on_done`` is called with a job index as each
    finishes.

    ``executor`` (``sim.executor``) runs the replications; a command creates one and reuses it for
    all its runs. Without one, an executor of ``workers`` processes is made for this call and
    closed after it (``workers`` is ignored when ``executor`` is given). Pools need the usual
    ``if __name__ == "__main__":`` guard in scripts (notebooks and the CLI do not).
    """
    seeds = replication_seeds(root_seed, replications)
    if parameter_sets is not None:
        from sim.posterior import with_parameters

        if len(parameter_sets) != replications:
            raise ValueError("parameter_sets needs one set per replication")
        pairs = [
            (with_parameters(sc, parameter_sets[i]), i, seed)
            for sc in scenarios
            for i, seed in enumerate(seeds)
        ]
    else:
        pairs = [(sc, i, seed) for sc in scenarios for i, seed in enumerate(seeds)]

    def run(ex: Executor) -> list[RunResult]:
        packed = ex.kind != "sequential"  # results cross from worker processes
        jobs = [(k, sc, seed, i, record_firms, packed) for k, (sc, i, seed) in enumerate(pairs)]
        done: dict[int, RunResult] = {}
        for k, (_job, result) in ex.as_completed(_worker, jobs):
            done[k] = _unpack(result)  # as each arrives: never every result twice in memory
            if on_done is not None:
                on_done(k)
        return [done[k] for k in range(len(jobs))]

    if executor is None:
        with make_executor(min(workers, len(pairs))) as own:
            results = run(own)
    else:
        results = run(executor)
    return RunResult.concat(results), seeds


def run_scenario(
    scenario: Scenario,
    replications: int | None = None,
    root_seed: int | None = None,
    workers: int = 1,
    record_firms: bool = True,
    on_done: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> tuple[RunResult, list[int]]:
    """Run ``replications`` replications (default: the scenario's) from ``root_seed`` (default:
    the scenario's seed). See ``run_many``."""
    n = scenario.replications if replications is None else replications
    root = scenario.seed if root_seed is None else root_seed
    return run_many([scenario], n, root, workers, record_firms, on_done, executor)


# --------------------------------------------------------------------------------------------------
# Provenance and writing
# --------------------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            # --no-optional-locks: reading provenance must not take the repository's index.lock
            # (a concurrent git command in the same repository would fail on it).
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(here),
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    out = {}
    for pkg in (
        "genai-market-sim",
        "mesa",
        "numpy",
        "pandas",
        "scipy",
        "pydantic",
        "matplotlib",
        "pyarrow",
        "PyYAML",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def manifest(
    scenarios: list[Scenario],
    files: list[str | None],
    root_seed: int,
    seeds: list[int],
    workers: int,
    started: datetime,
    finished: datetime,
    command: str | None = None,
) -> dict[str, Any]:
    """Provenance of a results folder (one or several scenarios run with the same seeds)."""
    return {
        "scenarios": [
            {
                "name": sc.name,
                "file": f,
                "sha256": hashlib.sha256(scenario_to_yaml(sc).encode()).hexdigest(),
            }
            for sc, f in zip(scenarios, files, strict=True)
        ],
        "root_seed": root_seed,
        "replications": len(seeds),
        "replication_seeds": seeds,
        "workers": workers,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": _versions(),
        "command": command,
    }


def default_out_dir(label: str, root_seed: int, base: Path = Path("results")) -> Path:
    """``results/<label>-<UTC timestamp>-seed<seed>`` (label: a scenario name or 'compare')."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return base / f"{label}-{stamp}-seed{root_seed}"


def write_results(
    out_dir: Path,
    writer: Callable[[Path], None],
    replace: bool = False,
) -> Path:
    """Write a results folder atomically.

    ``writer`` fills a temporary folder beside ``out_dir``; only when it returns is the folder
    renamed into place. On any error the temporary folder is removed, so no half-written results
    folder is ever left behind. A non-empty ``out_dir`` is refused, unless ``replace``: then the
    old folder is moved aside when the new one is complete, and removed.
    """
    out_dir = Path(out_dir)
    if not replace and out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    try:
        writer(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; results are ordinary files
        if out_dir.exists():
            if replace:
                out_dir.rename(old)
            else:
                out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out_dir


def save_tables(result: RunResult, folder: Path) -> None:
    """Tidy tables as Parquet (all) and CSV (metrics and events, for spreadsheets)."""
    for name in TABLES:
        getattr(result, name).to_parquet(folder / f"{name}.parquet", index=False)
    result.metrics.to_csv(folder / "metrics.csv", index=False)
    result.events.to_csv(folder / "events.csv", index=False)


def load_tables(folder: Path) -> RunResult:
    """Read the tables of a results folder."""
    return RunResult(*(pd.read_parquet(Path(folder) / f"{t}.parquet") for t in TABLES))


def save_run(
    folder: Path,
    result: RunResult,
    scenarios: list[Scenario],
    provenance: dict[str, Any],
    summary_text: str,
    summary_data: dict[str, Any] | None = None,
    figures: Callable[[Path], object] | None = None,
    extra_tables: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Everything a results folder holds: resolved scenarios, manifest, tables, summary, figures.

    One scenario is saved as ``scenario.resolved.yaml``; several as
    ``scenarios/<name>.resolved.yaml``. ``extra_tables`` are written as CSV (small summaries).
    """
    if len(scenarios) == 1:
        (folder / "scenario.resolved.yaml").write_text(scenario_to_yaml(scenarios[0]), "utf-8")
    else:
        (folder / "scenarios").mkdir()
        for sc in scenarios:
            (folder / "scenarios" / f"{sc.name}.resolved.yaml").write_text(
                scenario_to_yaml(sc), "utf-8"
            )
    (folder / "manifest.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    save_tables(result, folder)
    for name, table in (extra_tables or {}).items():
        table.to_csv(folder / f"{name}.csv", index=False)
    (folder / "summary.txt").write_text(summary_text, encoding="utf-8")
    if summary_data is not None:
        (folder / "summary.json").write_text(json.dumps(summary_data, indent=2), encoding="utf-8")
    if figures is not None:
        fig_dir = folder / "figures"
        fig_dir.mkdir()
        figures(fig_dir)
