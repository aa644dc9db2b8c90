"""Command line: ``genai-sim run | compare | sweep | calibrate | report | plot | validate | bench |
dashboard``.

The CLI parses arguments, calls the library and writes; logic lives in ``sim.runner``,
``sim.compare``, ``sim.sweep``, ``sim.calibrate``, ``sim.report``, ``sim.summary`` and
``sim.plots``. Bad input (``InputError``) is printed as one message without a
traceback and exits with status 2.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    with ``genai-sim bench`` and ``genai-sim run -n N -w W``).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, replications // 2))


MAX_MESSAGE = 1500
"""Longest error message printed (messages quote short excerpts; this is a last guard)."""


def _fail(message: str) -> None:
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"... ({len(message) - MAX_MESSAGE} more characters)"
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """A parser for a command-line integer in ``[low, high]`` written as digits (``1.0``, ``1e3``
    or ``true`` are refused: typer alone would accept ``1.0``)."""

    def parse(text: str) -> int:
        if isinstance(text, int) and not isinstance(text, bool):
            value = text
        elif re.fullmatch(r"\s*[+-]?\d{1,20}\s*", str(text)):
            value = int(text)
        else:
            raise typer.BadParameter(f"{str(text)[:40]!r} is not a whole number")
        if not low <= value <= high:
            raise typer.BadParameter(f"{value} is not in the range {low}-{high}")
        return value

    return parse


def _check_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Refuse a Dask scheduler address that is malformed or does not answer within
    ``timeout_s`` (a plain TCP connection; nothing is sent)."""
    import socket
    from urllib.parse import urlsplit

    where = f"--scheduler {address[:100]}"
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
        parts = None
    if parts is None or parts.scheme not in ("tcp", "tls") or not host or not port:
        raise InputError(where, None, "not a scheduler address; write tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise InputError(where, None, f"cannot connect to the scheduler ({reason})") from None


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
        parser=_whole_number(1, 10_000),
        help="replications (default: the (first) scenario's)",
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        "-s",
        parser=_whole_number(0, 2**32 - 1),
        help="root seed (default: the (first) scenario's)",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        parser=_whole_number(1, 512),
        help="worker processes (default: one per 2 runs, up to the CPU count)",
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="results folder (must not exist or be empty)")
]
FiguresOpt = Annotated[bool, typer.Option(help="draw figures")]
PosteriorOpt = Annotated[
    Path | None,
    typer.Option(
        "--posterior",
        help="posterior.parquet from calibrate: replication i of every scenario runs with the "
        "i-th parameter draw (bands then show parameter and stochastic uncertainty)",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT")
]
DaskLocalOpt = Annotated[
    int | None,
    typer.Option(
        "--dask-local",
        parser=_whole_number(1, 512),
        help="start a Dask LocalCluster with this many workers",
    ),
]
MaxRunsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-runs",
        parser=_whole_number(1, 10**12),
        help="most runs the command may schedule (default: 20000); raise it for larger designs",
    ),
]
OutcomeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--outcome",
        help="add an outcome to the table (repeatable): e.g. active_developers@2026-06, "
        "market_size@2027, or a series from --declare",
    ),
]
DeclareOpt = Annotated[
    Path | None,
    typer.Option(
        "--declare",
        help="outcomes file declaring series of your own (declare: name -> expression over "
        "metric columns, unit, definition, year rule); see scenarios/outcomes/examples.yaml",
    ),
]


def _check_out(out_dir: Path, resume: bool = False) -> None:
    """Refuse an output folder that could not be written, before any work (creates nothing)."""
    from sim.safeload import check_output_folder

    check_output_folder(out_dir, "--out", resume=resume)


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


def _posterior_draws(
    posterior: Path | None, n: int, root: int, scenarios: list
) -> tuple[list[dict[str, float]] | None, str]:
    """Parameter draws for ``n`` replications (checked against every scenario before any run)
    and the label of what the bands cover."""
    if posterior is None:
        return None, "across replications"
    from sim.posterior import LABEL, draw, load_posterior, with_parameters

    draws = draw(load_posterior(posterior), n, root)
    for sc in scenarios:  # a draw the schema refuses is bad input, found before any run
        with_parameters(sc, draws[0])
    return draws, f"across replications: {LABEL}"


def _check_run_options(out: Path | None, scheduler: str | None, dask_local: int | None) -> None:
    """The executor options and the resumable results folder of sweep, discover and optimise,
    checked before any work."""
    if scheduler is not None and dask_local:
        _fail("give either --scheduler or --dask-local, not both")
    if out is not None:
        _check_out(out, resume=True)
    if scheduler is not None:
        _check_scheduler(scheduler)


def _n_workers(workers: int | None, dask_local: int | None, runs: int) -> int:
    """Worker processes for ``runs`` runs: Dask's local workers, else ``--workers`` or the
    default, never more than the runs."""
    return dask_local or min(workers or default_workers(runs), max(runs, 1))


def _run_stored(
    label: str,
    spec: Any,
    jobs: list,
    folder: Path,
    n_workers: int,
    scheduler: str | None,
    dask_local: int | None,
    quiet: bool,
) -> tuple[pd.DataFrame, int, datetime, datetime]:
    """Run the sweep ``spec``'s ``jobs`` not yet stored in ``folder`` on a new executor, with a
    progress bar: the outcome table, the number of runs reused, and the start and end times."""
    from sim import sweep as sw
    from sim.executor import make_executor

    done = len(sw.RunStore.stored(folder) & {j.key for j in jobs})
    executor = make_executor(n_workers, scheduler=scheduler, dask_local=dask_local)
    started = datetime.now(UTC)
    try:
        table = _with_progress(
            label,
            len(jobs) - done,
            quiet,
            lambda tick: sw.run_sweep(
                spec, folder, executor, on_done=lambda: tick(0), all_jobs=jobs
            ),
        )
    finally:
        executor.close()
    return table, done, started, datetime.now(UTC)


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
    posterior: PosteriorOpt = None,
) -> None:
    """Run a scenario with replications; write tables, figures and a summary."""
    from sim.executor import make_executor
    from sim.scenario import load_scenario

    if out is not None:
        _check_out(out)
    path = scenario or _default_scenario()
    sc = load_scenario(path)
    n = replications or sc.replications
    root = sc.seed if seed is None else seed
    draws, spread = _posterior_draws(posterior, n, root, [sc])
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
            lambda done: runner.run_many(
                [sc], n, root, on_done=done, executor=executor, parameter_sets=draws
            ),
        )
    finished = datetime.now(UTC)
    h = summary.headline(result.metrics, result.events)
    text = summary.format_summary(h, spread)
    prov = runner.manifest(
        [sc], [str(path)], root, seeds, n_workers, started, finished, _command_line()
    )
    prov["posterior"] = None if posterior is None else {"file": str(posterior), "draws": draws}
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
    posterior: PosteriorOpt = None,
    outcome: OutcomeOpt = None,
    declare: DeclareOpt = None,
) -> None:
    """Run several scenarios with common random numbers; compare headline outcomes."""
    from sim import compare as cmp
    from sim import runner
    from sim.executor import make_executor

    if out is not None:
        _check_out(out)
    scs, files, ref, extra = cmp.load_comparison(scenarios, end, reference, declare, outcome or [])
    n = replications or scs[0].replications
    root = scs[0].seed if seed is None else seed
    draws, spread = _posterior_draws(posterior, n, root, scs)
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
            lambda done: runner.run_many(
                scs, n, root, on_done=done, executor=executor, parameter_sets=draws
            ),
        )
    finished = datetime.now(UTC)
    prov = runner.manifest(scs, files, root, seeds, n_workers, started, finished, _command_line())
    prov["posterior"] = None if posterior is None else {"file": str(posterior), "draws": draws}
    prov["reference"] = ref
    text = cmp.write_comparison(result, scs, prov, extra, spread, out_dir, figures)
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
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="sweep folder (default: results/sweep-NAME;"
            " rerunning the same command resumes it)",
        ),
    ] = None,
    max_runs: MaxRunsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check the file, count runs, estimate, stop")
    ] = False,
    probe: Annotated[
        bool, typer.Option("--probe", help="with --dry-run: time one run on this machine")
    ] = False,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Sweep parameters (grid, lhs, sobol, morris); resumable; local processes or Dask."""
    from sim import sweep as sw

    _check_run_options(out, scheduler, dask_local)
    spec = sw.load_sweep(file)
    total = sw.check_size(spec, max_runs)
    folder = out or Path("results") / f"sweep-{spec.spec.name}"
    _check_out(folder, resume=True)
    n_workers = _n_workers(workers, dask_local, total)
    if dry_run:
        stored = len(sw.RunStore.stored(folder))
        seconds = sw.estimate_seconds(spec) if probe else sw.rough_seconds(spec)
        how = "timing probe" if probe else "typical cost; --probe times one run here"
        typer.echo(
            f"{spec.spec.name}: {total // spec.spec.replications} points x "
            f"{spec.spec.replications} replications = {total} runs"
            + (f" ({stored} stored in {folder}; reused where they match)" if stored else "")
            + f".\nAbout {seconds:.2f} s per run ({how}); estimated "
            f"{total * seconds / max(n_workers, 1):.0f} s with {n_workers} worker(s), "
            "plus about a second to start the workers."
        )
        return
    label = f"{spec.spec.name}: runs"
    table, _, started, finished = _run_stored(
        label, spec, sw.jobs(spec), folder, n_workers, scheduler, dask_local, quiet
    )
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
        int | None,
        typer.Option(
            "--trials",
            parser=_whole_number(1, 100_000),
            help="trial budget; below the file's, every other budget (replications, profiles, "
            "posterior) shrinks in proportion",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="results folder (default: results/calibration-<UTC time>); an unfinished one "
            "is continued",
        ),
    ] = None,
    accept: Annotated[
        Path | None,
        typer.Option(
            "--accept",
            help="install this results folder as the tracked calibration (calibrated.yaml, "
            "report, posterior) after re-simulating it and checking every target",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check the files, count runs, estimate, stop")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Fit the free parameters to the targets into a results folder (never tracked files);
    --accept installs a checked result."""
    from sim import calibrate as cb
    from sim.executor import make_executor

    cal = cb.load_calibration(file)  # unreachable or malformed targets: exit 2 before any run
    if accept is not None:
        if not accept.is_dir():
            raise InputError(str(accept), None, "not a folder")
        with make_executor(min(workers or default_workers(cal.spec.replications), 8)) as ex:
            typer.echo(cb.accept(cal, accept, ex))
        return
    if trials is not None:
        cal = cb.scaled(cal, trials)
    out_dir = out or Path("results") / f"calibration-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    cb.check_outputs(out_dir)
    opt = cal.spec.optimizer
    n_workers = workers or os.cpu_count() or 1
    if dry_run:
        typer.echo(cb.dry_run_text(cal, out_dir, n_workers))
        return
    cal.out = out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    executor = make_executor(n_workers)  # one pool for every phase
    try:
        left = max(opt.trials - cb.finished_trials(cb.open_study(cal)), 0)
        if left < opt.trials:
            typer.echo(
                f"Continuing study {cal.spec.name!r} in {out_dir}: {opt.trials - left} trials "
                f"stored, {left} to run."
            )
        fit = _with_progress(
            f"{cal.spec.name}: trials, profiles, posterior",
            cb.runs_to_go(cal, left),
            quiet,
            lambda tick: cb.fit(cal, executor, on_done=lambda: tick(0)),
        )
    finally:
        executor.close()
    finished = datetime.now(UTC)
    text = cb.write_results_folder(cal, fit, n_workers, started, finished, _command_line())
    typer.echo(text)
    typer.echo(
        f"Results: {out_dir} ({(finished - started).total_seconds():.0f} s). Nothing tracked was "
        f"changed; to install this result: genai-sim calibrate {file} --accept {out_dir}"
    )


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
    from sim.safeload import check_output_file

    for f in folders:
        if not f.is_dir():
            raise InputError(str(f), None, "not a folder")
    check_output_file(out or folders[0] / "report.html", "--out")
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
    from sim.report import RUN_FIGURES, folder_kind, plot_figure

    if list_figures or not figure:
        kind = folder_kind(folder)
        if kind != "run":  # say what the folder holds rather than list figures it cannot redraw
            drawn = sorted(
                str(p.relative_to(folder)) for p in folder.rglob("*.png") if "runs" not in p.parts
            )
            typer.echo(
                f"{folder} is a {kind} folder: plot redraws run figures only. Its figures, drawn "
                f"when it was made ({len(drawn)}): {', '.join(drawn) or 'none'}; "
                f"genai-sim report {folder} puts them in one HTML file."
            )
            return
        typer.echo("\n".join(f"{name}: {spec.caption}" for name, spec in RUN_FIGURES.items()))
        return
    from sim.safeload import check_output_file

    if out is not None:
        check_output_file(out, "--out")
    path = plot_figure(folder, figure, out or folder / "figures" / f"{figure}.png")
    typer.echo(f"Figure: {path}")


def file_kind(path: Path) -> str:
    """'sweep', 'calibration', 'outcomes' or 'scenario', from a file's top-level keys (anything
    that is not a mapping with sweep, calibration or outcomes keys is checked as a scenario)."""
    from sim.safeload import load_yaml

    try:
        raw = load_yaml(path)
    except InputError:
        return "scenario"  # the scenario loader reports the same problem
    if not isinstance(raw, dict):
        return "scenario"
    if "design" in raw:
        return "sweep"
    if "levers" in raw or "discover" in raw or "optimise" in raw:
        return "study"
    if "declare" in raw and not ({"parameters", "outcomes", "base"} & set(raw)):
        return "outcomes"
    if {"targets", "optimizer", "posterior", "out_of_sample_until"} & set(raw):
        return "calibration"
    params = raw.get("parameters")
    if isinstance(params, list) and params and all(isinstance(p, dict) for p in params):
        if any({"low", "high"} & set(p) for p in params):
            return "calibration"
        return "sweep"
    if "outcomes" in raw:
        return "sweep"
    return "scenario"


def _validate_one(f: Path) -> str:
    """Check one file as what it is; returns the 'ok' line or raises ``InputError``."""
    kind = file_kind(f)
    if kind == "sweep":
        from sim import sweep as sw

        spec = sw.load_sweep(f)
        return (
            f"ok: {f} (sweep {spec.spec.name!r}, {spec.spec.design.kind} design, "
            f"{sw.n_runs(spec)} runs; outcomes: {', '.join(spec.outcome_names)})"
        )
    if kind == "study":
        from sim.study import load_study

        study = load_study(f)
        asks = " and ".join(q for q in ("discover", "optimise") if getattr(study.spec, q))
        return (
            f"ok: {f} (study {study.spec.name!r}: {len(study.uncertainty_paths)} uncertainties, "
            f"{len(study.lever_paths)} levers; {asks}; outcomes: "
            + ", ".join(o.name for o in study.outcomes)
            + ")"
        )
    if kind == "outcomes":
        from sim.declared import load_declarations

        declared = load_declarations(f)
        return f"ok: {f} (outcomes file, declares {', '.join(declared) or 'nothing'})"
    if kind == "calibration":
        from sim.calibrate import load_calibration

        cal = load_calibration(f)
        return (
            f"ok: {f} (calibration {cal.spec.name!r}, {len(cal.spec.parameters)} free "
            f"parameters, {len(cal.targets)} targets)"
        )
    from sim.scenario import load_scenario

    sc = load_scenario(f)
    return f"ok: {f} (scenario {sc.name!r}, {sc.n_months} months, {len(sc.roster)} named firms)"


StudyOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="study folder (default: results/study-NAME; rerunning the same command resumes it)",
    ),
]


def _study_setup(file: Path, out: Path | None, scheduler: str | None, dask_local: int | None):
    """Load a study and check its folder and executor options (before any work)."""
    from sim.study import load_study

    _check_run_options(out, scheduler, dask_local)
    study = load_study(file)
    folder = out or Path("results") / f"study-{study.spec.name}"
    _check_out(folder, resume=True)
    # Resume only a study folder: refuse a non-empty folder holding anything else.
    mine = {"runs", "discovery", "optimise"}
    if folder.is_dir():
        foreign = [p.name for p in folder.iterdir() if p.name not in mine and p.name[0] != "."]
        if foreign:
            raise InputError(
                f"--out {folder}",
                None,
                f"holds {', '.join(sorted(foreign)[:5])}, not a study's runs/, discovery/ or "
                "optimise/; choose a new or empty folder",
            )
    return study, folder


@app.command()
@input_errors_exit_2
def discover(
    file: Annotated[Path, typer.Argument(help="study YAML file with a discover: block")],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
    out: StudyOutOpt = None,
    experiments: Annotated[
        int | None,
        typer.Option(
            "--experiments",
            parser=_whole_number(8, 10**7),
            help="override the study's number of Latin-hypercube points",
        ),
    ] = None,
    max_runs: MaxRunsOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Scenario discovery: where in uncertainties x levers does a condition hold? (PRIM)"""
    from sim import study as st
    from sim import sweep as sw

    study, folder = _study_setup(file, out, scheduler, dask_local)
    if study.spec.discover is None:
        raise InputError(str(file), "discover", "this study has no discover: block")
    if experiments is not None:
        study.spec.discover.experiments = experiments
    total = study.spec.discover.experiments * study.spec.replications
    sw.check_run_limit(
        total,
        max_runs,
        str(file),
        "discover.experiments",
        f"{study.spec.discover.experiments:,} points x {study.spec.replications:,} replications",
    )
    sweep, jobs = st.experiment(study)
    n_workers = _n_workers(workers, dask_local, total)
    label = f"{study.spec.name}: experiment"
    table, done, started, finished = _run_stored(
        label, sweep, jobs, folder, n_workers, scheduler, dask_local, quiet
    )
    extra = {"runs": total, "reused_runs": done, "workers": n_workers, "command": _command_line()}
    text = st.write_discovery(study, folder, table, started, finished, extra, figures)
    typer.echo(text)
    typer.echo(f"Results: {folder / 'discovery'}")


@app.command()
@input_errors_exit_2
def optimise(
    file: Annotated[Path, typer.Argument(help="study YAML file with an optimise: block")],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
    out: StudyOutOpt = None,
    max_runs: MaxRunsOpt = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Policy search: lever settings that trade the study's objectives off best (NSGA-II)."""
    from sim import study as st
    from sim import sweep as sw
    from sim.executor import make_executor

    study, folder = _study_setup(file, out, scheduler, dask_local)
    o = study.spec.optimise
    if o is None:
        raise InputError(str(file), "optimise", "this study has no optimise: block")
    per_trial = (o.scenarios if study.uncertainty_paths else 1) * study.spec.replications
    sw.check_run_limit(
        per_trial * o.trials,
        max_runs,
        str(file),
        "optimise.trials",
        f"{o.trials:,} trials x {per_trial:,} runs",
    )
    levers = {p: st.Dimension(*study.ranges[p], p in study.integer) for p in study.lever_paths}
    done = len(  # checks the log against this study before any work
        st.read_log(
            folder / "optimise" / st.TRIALS_FILE,
            levers,
            len(study.objectives),
            st.search_fingerprint(study),
        )
    )
    n_workers = _n_workers(workers, dask_local, per_trial)
    executor = make_executor(n_workers, scheduler=scheduler, dask_local=dask_local)
    started = datetime.now(UTC)
    try:
        trials = _with_progress(
            f"{study.spec.name}: trials",
            max(o.trials - done, 0),
            quiet,
            lambda tick: st.search(
                study, folder / "optimise", executor, on_trial=tick, store=folder
            ),
        )
    finally:
        executor.close()
    finished = datetime.now(UTC)
    extra = {
        "trials": len(trials),
        "reused_trials": done,
        "workers": n_workers,
        "command": _command_line(),
    }
    text = st.write_search(study, folder, trials, started, finished, extra, figures)
    typer.echo(text)
    typer.echo(f"Results: {folder / 'optimise'}")


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="scenario, sweep, calibration, outcomes or study YAML files to check"),
    ],
) -> None:
    """Check scenario, sweep, calibration, outcomes and study files without running them."""
    failed = 0
    for f in files:
        try:
            line = _validate_one(f)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
        else:
            typer.echo(line)
    if failed:
        raise typer.Exit(code=2)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="small scales and fewer repeats")] = False,
    write: Annotated[bool, typer.Option(help="write docs/performance.md")] = False,
    study: Annotated[
        bool, typer.Option(help="also the 10,000-run study discovery (about ten minutes)")
    ] = False,
    instructions: Annotated[
        bool,
        typer.Option(help="also instructions per replication, by valgrind (about three minutes)"),
    ] = False,
) -> None:
    """Benchmark the model: one JSON line per case (numbers only, never a pass or fail)."""
    from sim.bench import main as bench_main

    bench_main(
        [
            *(["--quick"] if quick else []),
            *(["--write"] if write else []),
            *(["--study"] if study else []),
            *(["--instructions"] if instructions else []),
        ]
    )


@app.command()
@input_errors_exit_2
def dashboard(
    scenario: Annotated[
        Path | None, typer.Argument(help="scenario shown first (default: the baseline)")
    ] = None,
    port: Annotated[
        int, typer.Option(parser=_whole_number(1, 65535), help="port to listen on")
    ] = 8765,
    host: Annotated[
        str, typer.Option(help="address to bind (loopback unless told otherwise)")
    ] = "127.0.0.1",
) -> None:
    """Interactive dashboard in the browser (Solara): levers, step / play / reset, charts."""
    from sim.scenario import load_scenario

    path = scenario if scenario is not None else _default_scenario()
    load_scenario(path)  # a bad file is reported here, before the server starts
    if not host.strip():
        raise InputError("--host", None, "empty address; the default is 127.0.0.1")
    try:
        from solara.__main__ import cli as solara_cli
    except ImportError:
        raise InputError(
            None, None, 'the dashboard needs Solara: pip install -e ".[dashboard]"'
        ) from None
    os.environ["GENAI_SIM_DASHBOARD_SCENARIO"] = str(path.resolve())
    typer.echo(f"Dashboard on http://{host}:{port}/ (Ctrl-C stops it)")
    solara_cli.main(
        ["run", "sim.dashboard_app", "--host", host, "--port", str(port), "--production",
         "--no-open", "--log-level", "warning"],
        prog_name="genai-sim dashboard",
    )  # fmt: skip


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
