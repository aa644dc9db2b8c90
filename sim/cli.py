"""Command line: ``genai-sim run | compare | sweep | calibrate | report | plot | validate``.

The CLI parses arguments, calls the library and writes; logic lives in ``sim.runner``,
``sim.compare``, ``sim.sweep``, ``sim.calibrate``, ``sim.report``, ``sim.summary`` and
``sim.plots``. Bad input (``InputError``) is printed as one message without a
traceback and exits with status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    name="genai-sim",
    help="Agent-based simulation of China's generative-AI market (Mesa 3).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

BASELINE = Path("scenarios") / "baseline.yaml"


def _default_scenario() -> Path:
    """The baseline: ./scenarios/baseline.yaml, else the one beside the package's source tree."""
    if BASELINE.is_file():
        return BASELINE
    beside = Path(__file__).resolve().parent.parent / BASELINE
    if beside.is_file():
        return beside
    raise InputError(str(BASELINE), None, "file not found; pass a scenario file explicitly")


def default_workers(replications: int) -> int:
    """One worker per two replications (runs), up to the CPUs this process may use; 1 for 1-3.

    Workers are forked from one forkserver that imports the model once (``sim.executor``), while
    this process imports pandas; a single process imports the model itself. Both pay about the
    same fixed second, so two workers break even at two replications and win from four (measured
    with bench/bench_run.py and ``genai-sim run -n N -w W``).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, replications // 2))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def input_errors_exit_2[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Print an ``InputError`` as one line on stderr and exit with status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            _fail(str(exc))
            raise  # unreachable: _fail raises

    return wrapper


ReplicationsOpt = Annotated[
    int | None,
    typer.Option(
        "--replications",
        "-n",
        min=1,
        max=10_000,
        help="replications (default: the (first) scenario's)",
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", "-s", min=0, max=2**32 - 1, help="root seed (default: the (first) scenario's)"
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        max=512,
        help="worker processes (default: one per 2 runs, up to the CPU count)",
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="results folder (must not exist or be empty)")
]
FiguresOpt = Annotated[bool, typer.Option(help="draw figures")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        _fail(f"--out {out_dir}: folder exists and is not empty; choose a new folder")


def _with_progress(label: str, total: int, quiet: bool, work: Callable[[Callable], object]):
    """Run ``work(on_done)`` under a progress bar with an ETA."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        return work(lambda _i: progress.advance(task))


def _run_figures(metrics: pd.DataFrame, folder: Path) -> list[Path]:
    """The run's figures; imports matplotlib only when called (``--no-figures`` never does)."""
    from sim import plots  # matplotlib only when figures are drawn

    return plots.run_figures(metrics, folder)


def _command_line() -> str:
    return " ".join(["genai-sim", *sys.argv[1:]])


@app.command()
@input_errors_exit_2
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="scenario YAML file (default: scenarios/baseline.yaml)")
    ] = None,
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    workers: WorkersOpt = None,
    out: OutOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Run a scenario with replications; write tables, figures and a summary."""
    from sim.executor import make_executor
    from sim.scenario import load_scenario

    path = scenario or _default_scenario()
    sc = load_scenario(path)
    n = replications or sc.replications
    root = sc.seed if seed is None else seed
    n_workers = min(workers or default_workers(n), n)
    # A pool's forkserver starts importing the model now, while this process imports pandas.
    with make_executor(n_workers) as executor:
        from sim import runner, summary

        out_dir = out or runner.default_out_dir(sc.name, root)
        _check_out(out_dir)

        started = datetime.now(UTC)
        result, seeds = _with_progress(
            f"{sc.name}: replications",
            n,
            quiet,
            lambda done: runner.run_scenario(sc, n, root, on_done=done, executor=executor),
        )
    finished = datetime.now(UTC)
    h = summary.headline(result.metrics, result.events)
    text = summary.format_summary(h)
    prov = runner.manifest(
        [sc], [str(path)], root, seeds, n_workers, started, finished, _command_line()
    )
    runner.write_results(
        out_dir,
        lambda folder: runner.save_run(
            folder,
            result,
            [sc],
            prov,
            text,
            h,
            figures=(lambda d: _run_figures(result.metrics, d)) if figures else None,
        ),
    )
    typer.echo(text)
    typer.echo(
        f"Results: {out_dir} ({n} replications in {prov['duration_s']:.1f} s, "
        f"{n_workers} worker{'s' if n_workers > 1 else ''})"
    )


@app.command()
@input_errors_exit_2
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario YAML files (two or more)")],
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    workers: WorkersOpt = None,
    out: OutOpt = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference", "-r", help="scenario name differences are taken to (default: first)"
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="override every scenario's last month, YYYY-MM")
    ] = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Run several scenarios with common random numbers; compare headline outcomes."""
    from sim import compare as cmp
    from sim import runner, summary
    from sim.executor import make_executor
    from sim.scenario import load_scenario

    if len(scenarios) < 2:
        _fail("compare needs at least two scenario files")
    overrides = {"end": end} if end else None
    scs = [load_scenario(p, overrides) for p in scenarios]
    files = [str(p) for p in scenarios]
    cmp.check_distinct(scs, files)
    ref = reference or scs[0].name
    if ref not in {sc.name for sc in scs}:
        _fail(f"--reference {ref!r} is not among the scenarios: {', '.join(s.name for s in scs)}")
    n = replications or scs[0].replications
    root = scs[0].seed if seed is None else seed
    total = n * len(scs)
    n_workers = min(workers or default_workers(total), total)
    out_dir = out or runner.default_out_dir("compare", root)
    _check_out(out_dir)

    started = datetime.now(UTC)
    with make_executor(n_workers) as executor:  # one pool for every scenario and replication
        result, seeds = _with_progress(
            f"{len(scs)} scenarios x {n} replications",
            total,
            quiet,
            lambda done: runner.run_many(scs, n, root, on_done=done, executor=executor),
        )
    finished = datetime.now(UTC)
    outcomes = summary.replication_outcomes(result.metrics, result.events)
    table = cmp.headline_table(outcomes, ref)
    text = cmp.format_comparison(table, ref, n)
    prov = runner.manifest(scs, files, root, seeds, n_workers, started, finished, _command_line())
    runner.write_results(
        out_dir,
        lambda folder: runner.save_run(
            folder,
            result,
            scs,
            prov,
            text,
            figures=(lambda d: cmp.comparison_figures(result.metrics, d)) if figures else None,
            extra_tables={"outcomes": outcomes, "headline": table},
        ),
    )
    typer.echo(text)
    typer.echo(
        f"Results: {out_dir} ({total} runs in {prov['duration_s']:.1f} s, "
        f"{n_workers} worker{'s' if n_workers > 1 else ''})"
    )


@app.command()
@input_errors_exit_2
def sweep(
    file: Annotated[Path, typer.Argument(help="sweep YAML file")],
    workers: WorkersOpt = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT")
    ] = None,
    dask_local: Annotated[
        int | None,
        typer.Option(
            "--dask-local", min=1, max=512, help="start a Dask LocalCluster with this many workers"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="sweep folder (default: results/sweep-NAME;"
            " rerunning the same command resumes it)",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count runs, estimate, stop")] = False,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Sweep parameters (grid, lhs, sobol, morris); resumable; local processes or Dask."""
    from sim import sweep as sw
    from sim.executor import make_executor

    spec = sw.load_sweep(file)
    total = sw.n_runs(spec)
    folder = out or Path("results") / f"sweep-{spec.spec.name}"
    all_jobs = sw.jobs(spec)
    done = len(sw.RunStore(folder).done() & {j.key for j in all_jobs}) if folder.exists() else 0
    if scheduler and dask_local:
        _fail("give either --scheduler or --dask-local, not both")
    n_workers = dask_local or min(workers or default_workers(total), max(total, 1))
    if dry_run:
        seconds = sw.estimate_seconds(spec)
        left = total - done
        typer.echo(
            f"{spec.spec.name}: {total // spec.spec.replications} points x "
            f"{spec.spec.replications} replications = {total} runs ({done} already stored, "
            f"{left} to run).\nTiming probe: {seconds:.2f} s per run; estimated "
            f"{left * seconds / max(n_workers, 1):.0f} s with {n_workers} worker(s), "
            "plus about a second to start the workers."
        )
        return
    executor = make_executor(n_workers, scheduler=scheduler, dask_local=dask_local)
    started = datetime.now(UTC)
    try:
        table = _with_progress(
            f"{spec.spec.name}: runs",
            total - done,
            quiet,
            lambda tick: sw.run_sweep(
                spec, folder, executor, on_done=lambda: tick(0), all_jobs=all_jobs
            ),
        )
    finally:
        executor.close()
    finished = datetime.now(UTC)
    text = sw.write_sweep_outputs(
        spec, folder, table, started, finished, n_workers, _command_line(), figures
    )
    typer.echo(text)


@app.command()
@input_errors_exit_2
def calibrate(
    file: Annotated[
        Path, typer.Argument(help="calibration file (default: calibration/calibrate.yaml)")
    ] = Path("calibration") / "calibrate.yaml",
    workers: WorkersOpt = None,
    trials: Annotated[
        int | None, typer.Option("--trials", min=1, help="override the trial budget")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Fit the free parameters to the targets; write calibrated.yaml and a fit report."""
    from sim import calibrate as cb
    from sim.executor import make_executor

    cal = cb.load_calibration(file)
    if trials is not None:
        cal.spec.optimizer.trials = trials
    opt = cal.spec.optimizer
    n_workers = min(workers or os.cpu_count() or 1, opt.batch)
    executor = make_executor(n_workers)  # one pool for trials, profiles and final replications
    try:
        study = cb.open_study(cal)
        left = max(opt.trials - cb.finished_trials(study), 0)
        n_prof = len(cal.spec.parameters) * (cal.spec.profile_points + 1)
        if left < opt.trials:
            typer.echo(
                f"Continuing study {cal.spec.name!r}: {opt.trials - left} trials stored, "
                f"{left} to run."
            )

        def work(tick: Callable[[int], None]) -> tuple:
            st = cb.optimise(cal, executor, on_done=lambda: tick(0))
            best = cb.best_values(st)
            prof = cb.profiles(cal, best, executor, on_done=lambda: tick(0))
            final = cb.simulate(cal, best, cal.spec.final_replications, executor)
            return st, prof, final

        study, prof, final = _with_progress(
            f"{cal.spec.name}: trials and profiles", left + n_prof, quiet, work
        )
    finally:
        executor.close()
    typer.echo(cb.write_outputs(cal, study, prof, final))


@app.command()
@input_errors_exit_2
def report(
    folders: Annotated[list[Path], typer.Argument(help="results folders (run, compare, sweep)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file (default: report.html in the first folder)"),
    ] = None,
) -> None:
    """Write one self-contained HTML report (figures embedded; opens offline)."""
    from sim.report import build_report

    for f in folders:
        if not f.is_dir():
            raise InputError(str(f), None, "not a folder")
    path = build_report(folders, out or folders[0] / "report.html")
    typer.echo(f"Report: {path}")


@app.command()
@input_errors_exit_2
def plot(
    folder: Annotated[Path, typer.Argument(help="a run's results folder")],
    figure: Annotated[str, typer.Option("--figure", "-f", help="figure name (see --list)")] = "",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file, .png or .svg")] = None,
    list_figures: Annotated[bool, typer.Option("--list", help="list figure names")] = False,
) -> None:
    """Redraw one figure of a run as PNG or SVG."""
    from sim.report import RUN_FIGURES, plot_figure

    if list_figures or not figure:
        typer.echo("\n".join(f"{name}: {spec.caption}" for name, spec in RUN_FIGURES.items()))
        return
    path = plot_figure(folder, figure, out or folder / "figures" / f"{figure}.png")
    typer.echo(f"Figure: {path}")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="scenario YAML files to check")],
) -> None:
    """Check scenario files without running them."""
    from sim.scenario import load_scenario

    failed = 0
    for f in files:
        try:
            sc = load_scenario(f)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
        else:
            typer.echo(
                f"ok: {f} (scenario {sc.name!r}, {sc.n_months} months, "
                f"{len(sc.roster)} named firms)"
            )
    if failed:
        raise typer.Exit(code=2)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
