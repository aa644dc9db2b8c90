"""One way to run many independent jobs: in this process, in a local process pool, or on Dask.

Every command that runs simulations (``run``, ``compare``, ``sweep``, ``calibrate``) creates ONE
executor with ``make_executor`` and hands it to ``sim.runner.run_many``, ``sim.sweep.run_sweep``
and ``sim.calibrate``, so worker processes start once per command and are reused by every
replication, scenario, sweep run, trial and profile point.

Contract
--------
``Executor.as_completed(fn, items)`` calls ``fn(item)`` for every item (``fn`` and items must be
picklable for the pools) and yields ``(index, result)`` pairs as calls finish, in any order.
``Executor.map`` collects them and returns the results **in item order**, so what a caller builds
never depends on the executor or on the number of workers; callers that stream results (sweeps)
store each by its key and read them back in job order. An exception raised by ``fn`` propagates
to the caller (pending calls are cancelled). Close an executor with ``close()`` or use it as a
context manager.

Why 'forkserver' with preloaded modules
---------------------------------------
Measured on a 2-core Linux machine (Python 3.12): a fresh interpreter needs about 0.8-1.1 s to
import the model (mesa, numpy, scipy, pandas, pydantic), while a baseline replication takes
0.1-0.3 s, so the start method decides whether a pool pays off.

- 'spawn' (the previous choice) pays the import in *every* worker: CPU time grows with the
  number of workers, and on a busy or small machine the workers' imports compete with each other.
- 'fork' starts a worker in about 10 ms, but forking a process that runs other threads (the CLI's
  rich progress bar, the pool's own manager thread, Dask or SQLite threads) can deadlock the child
  on a lock held at fork time; Python 3.12 warns about it and 3.14 no longer defaults to it.
- 'forkserver' with ``set_forkserver_preload`` starts one clean single-threaded server process that
  imports the model once; each worker is then forked from that server in milliseconds, whatever
  threads the CLI runs. The server is started as soon as the executor is created
  (``forkserver.ensure_running`` returns at once), so its imports overlap with the caller's own
  work (reading the scenario, importing pandas). Measured (time until every worker has the model
  imported, best of runs on a shared 2-core machine): 2 workers 0.84 s with 'forkserver' against
  0.94 s with 'spawn'; 4 workers 0.84 s against 1.79 s, because 'spawn' imports once per worker
  and 'forkserver' once in all. That is about what one process pays to import the model itself,
  so a pool costs little more than running in-process: ``bench_parallel`` gave, for 16 baseline
  replications, 4.16 s in-process, 3.10 s on 2 workers including the forkserver's start and
  2.33 s on a warm pool (speed-up 1.79, efficiency 0.89); for 8 replications 2.14 s, 1.95 s and
  1.12 s (1.91x).

The start method is chosen per pool through ``multiprocessing.get_context``; the global start
method is never changed. The preload list is a property of the process-wide forkserver, which is
started once per process: the first pool fixes it. Where 'forkserver' does not exist (Windows),
the pool falls back to 'spawn' with an initializer that imports the model once per worker.
"""

from __future__ import annotations

import multiprocessing
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Modules every worker needs: the model and the job functions of runs, sweeps and calibration.
# Importing them is the fixed cost a worker would otherwise pay on its first job; so is readying
# the compiled kernels (sim.kernels.warm runs one baseline replication to do it).
PRELOAD: tuple[str, ...] = (
    "sim.model",
    "sim.runner",
    "sim.sweep",
    "sim.calibrate",
    "sim.kernels.warm",
)


def _preload(modules: Sequence[str] = PRELOAD) -> None:
    """Import the worker modules (initializer of 'spawn' workers, where there is no forkserver)."""
    import importlib

    for name in modules:
        importlib.import_module(name)


def _noop(_item: object) -> None:
    """A job that does nothing: used to start every worker of a pool ahead of real jobs."""
    return None


class Executor(ABC):
    """Runs independent calls ``fn(item)``; see the module docstring for the contract."""

    workers: int = 1
    kind: str = "sequential"

    @abstractmethod
    def as_completed(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index into items, fn(item))`` as each call finishes (any order)."""

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]`` in item order, whatever order calls finish in.

        ``on_done`` is called with each item's index as its call finishes (for progress bars).
        """
        results: dict[int, R] = {}
        for index, result in self.as_completed(fn, items):
            results[index] = result
            if on_done is not None:
                on_done(index)
        return [results[i] for i in range(len(items))]

    def warm_up(self) -> None:
        """Start every worker now instead of on the first jobs (no-op without workers)."""
        return None

    def close(self) -> None:
        """Release workers; the executor must not be used afterwards."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SequentialExecutor(Executor):
    """In this process, one call after another, in item order."""

    def as_completed(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, item in enumerate(items):
            yield index, fn(item)


class ProcessExecutor(Executor):
    """A local pool of ``workers`` processes forked from a preloaded forkserver (see module doc).

    The pool (and the forkserver) start when the executor is created and live until ``close``,
    so every job submitted through it reuses the same warm workers.
    """

    kind = "processes"

    def __init__(self, workers: int, preload: Sequence[str] = PRELOAD) -> None:
        from concurrent.futures import ProcessPoolExecutor

        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(list(preload))
            from multiprocessing import forkserver

            forkserver.ensure_running()  # returns at once; the server imports in the background
            self.start_method = "forkserver"
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        else:  # pragma: no cover - Windows
            self.start_method = "spawn"
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_preload,
                initargs=(tuple(preload),),
            )

    def warm_up(self) -> None:
        """Start every worker: one no-op job per worker, waited for."""
        list(self.pool.map(_noop, range(self.workers)))

    def as_completed(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        from concurrent.futures import as_completed

        futures = {self.pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            for fut in as_completed(futures):
                # Forget the finished future, so that it does not keep its result alive for
                # the rest of the run: the consumer owns the result now.
                yield futures.pop(fut), fut.result()
        finally:  # a failed job or an interrupted consumer: do not run what is left
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """A Dask distributed cluster: a scheduler address, or a LocalCluster of ``local`` workers.

    A scheduler that cannot be reached within ``timeout_s`` seconds (or an address that is not
    one) is an ``InputError`` blamed on ``--scheduler`` (exit 2), not a traceback.
    """

    kind = "dask"

    def __init__(
        self, scheduler: str | None = None, local: int | None = None, timeout_s: float = 10.0
    ) -> None:
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            from sim.errors import InputError
            from sim.safeload import excerpt

            try:
                self.client = Client(scheduler, timeout=f"{timeout_s}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    "--scheduler", None, f"cannot connect to {excerpt(scheduler)}: {exc}"[:300]
                ) from None
            self.workers = max(len(self.client.scheduler_info().get("workers", {})), 1)
        else:
            self.workers = local or 1
            self.cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self.cluster)

    def as_completed(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        from distributed import as_completed as dask_completed

        futures = self.client.map(fn, list(items), pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        try:
            for fut in dask_completed(futures):
                result = fut.result()
                fut.release()
                yield index[fut.key], result
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(
    workers: int = 1, scheduler: str | None = None, dask_local: int | None = None
) -> Executor:
    """The executor of one command: Dask if ``scheduler`` or ``dask_local`` is given, else a local
    process pool for ``workers > 1``, else this process."""
    if scheduler and dask_local:
        raise ValueError("give either a Dask scheduler address or a local cluster size, not both")
    if scheduler or dask_local:
        return DaskExecutor(scheduler=scheduler, local=dask_local)
    if workers > 1:
        return ProcessExecutor(workers)
    return SequentialExecutor()


# --------------------------------------------------------------------------------------------------
# Benchmark hook (numbers only; nothing here is asserted by the tests)
# --------------------------------------------------------------------------------------------------


def _timed_replications(executor: Executor, scenario: Any, replications: int) -> float:
    from sim.runner import run_many

    start = time.perf_counter()
    run_many([scenario], replications, root_seed=1, executor=executor)
    return time.perf_counter() - start


def bench_parallel(
    scenario: Any, replications: int = 16, workers: Sequence[int] = (1, 2)
) -> list[dict[str, Any]]:
    """Time ``replications`` replications of ``scenario`` with each worker count.

    One worker runs in this process (no pool; the model is imported and one replication run
    before timing, so the in-process import of about a second is *not* in its time). Every larger
    count is timed twice: ``includes_pool_startup=True`` starts a fresh forkserver (its imports),
    creates the pool, runs and closes it, as a command does; ``False`` times the runs on a pool
    already started and warmed (what each job costs once a command's pool is up).
    ``efficiency`` is the speed-up over the one-worker case divided by the number of workers.

    Returns one dict per case: ``case, workers, replications, seconds, replications_per_s,
    efficiency, includes_pool_startup``. Call it under an ``if __name__ == "__main__":`` guard
    from scripts.
    """
    from sim.runner import run_replication

    run_replication(scenario, seed=0, record_firms=False)  # imports and caches of this process
    rows: list[dict[str, Any]] = []

    def row(case: str, w: int, seconds: float, startup: bool) -> None:
        rows.append(
            {
                "case": case,
                "workers": w,
                "replications": replications,
                "seconds": round(seconds, 3),
                "replications_per_s": round(replications / seconds, 3),
                "efficiency": None,
                "includes_pool_startup": startup,
            }
        )

    for w in workers:
        if w <= 1:
            with SequentialExecutor() as ex:
                row("in-process", 1, _timed_replications(ex, scenario, replications), False)
            continue
        _stop_forkserver()  # so the cold case pays the server's imports, as a command does
        start = time.perf_counter()
        with ProcessExecutor(w) as ex:
            _timed_replications(ex, scenario, replications)
        row("cold pool", w, time.perf_counter() - start, True)
        with ProcessExecutor(w) as ex:
            ex.warm_up()
            ex.map(_warm_job, [scenario] * w)  # first model run in each worker
            row("warm pool", w, _timed_replications(ex, scenario, replications), False)
    base = next((r["seconds"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        if base is not None:
            r["efficiency"] = round(base / r["seconds"] / r["workers"], 3)
    return rows


def _stop_forkserver() -> None:
    """Stop this process's forkserver if one runs (benchmarks only; no pool may be open).

    Uses ``ForkServer._stop``, the hook CPython's own tests use; without it the next pool reuses
    the running server and a "cold" timing would miss the server's imports.
    """
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


def _warm_job(scenario: Any) -> None:
    from sim.runner import run_replication

    run_replication(scenario, seed=0, record_firms=False)


def cli_wall_times(scenario_file: str, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` wall seconds of ``genai-sim --help`` and ``genai-sim validate FILE``,
    each in a fresh interpreter (what a user waits for)."""
    import subprocess
    import sys

    out = {}
    for label, args in (("--help", ["--help"]), ("validate", ["validate", scenario_file])):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", "from sim.cli import main; main()", *args],
                check=True,
                capture_output=True,
            )
            best = min(best, time.perf_counter() - start)
        out[label] = round(best, 3)
    return out
