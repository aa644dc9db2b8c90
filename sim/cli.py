"""Command line: ``genai-sim run | validate``.

The CLI parses arguments, calls the library and writes; logic lives in ``sim.runner``,
``sim.summary`` and ``sim.plots``. Bad input (``InputError``) is printed as one message without a
traceback and exits with status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from sim.errors import InputError

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
    """One worker per 16 replications, up to the CPU count.

    A spawned worker costs about a second to start (imports) while a replication takes about
    0.2 s, so extra processes only pay off for larger jobs (see bench/bench_run.py).
    """
    return max(1, min(os.cpu_count() or 1, replications // 16))


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


@app.command()
@input_errors_exit_2
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="scenario YAML file (default: scenarios/baseline.yaml)")
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications", "-n", min=1, max=10_000, help="replications (default: the scenario's)"
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", "-s", min=0, max=2**32 - 1, help="root seed (default: the scenario's)"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=512,
            help="worker processes (default: one per 16 replications, up to the CPU count)",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="results folder (must not exist or be empty)")
    ] = None,
    figures: Annotated[bool, typer.Option(help="draw figures")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Run a scenario with replications; write tables, figures and a summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from sim import plots, runner, summary
    from sim.scenario import load_scenario

    path = scenario or _default_scenario()
    sc = load_scenario(path)
    n = replications or sc.replications
    root = sc.seed if seed is None else seed
    n_workers = min(workers or default_workers(n), n)
    out_dir = out or runner.default_out_dir(sc, root)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        _fail(f"--out {out_dir}: folder exists and is not empty; choose a new folder")

    started = datetime.now(UTC)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        disable=quiet,
        transient=True,
        console=None,
    ) as progress:
        task = progress.add_task(f"{sc.name}: replications", total=n)
        result, seeds = runner.run_scenario(
            sc, n, root, n_workers, on_done=lambda _i: progress.advance(task)
        )
    finished = datetime.now(UTC)
    h = summary.headline(result.metrics, result.events)
    text = summary.format_summary(h)
    prov = runner.manifest(
        sc,
        str(path),
        root,
        seeds,
        n_workers,
        started,
        finished,
        command=" ".join(["genai-sim", *sys.argv[1:]]),
    )

    def write(folder: Path) -> None:
        runner.save_run(
            folder,
            result,
            sc,
            prov,
            text,
            h,
            figures=(lambda d: plots.run_figures(result.metrics, d)) if figures else None,
        )

    runner.write_results(out_dir, write)
    typer.echo(text)
    typer.echo(
        f"Results: {out_dir} ({n} replications in {prov['duration_s']:.1f} s, "
        f"{n_workers} worker{'s' if n_workers > 1 else ''})"
    )


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
