"""Benchmark sweeps: runs per second in this process and on W local workers, and peak memory.

Run: ``python bench/bench_sweep.py [--runs N] [--workers W]``. With W > 1 the pool is timed with
its start-up and warm; efficiency = (runs/s on W workers) / (runs/s in this process) / W. Prints
numbers; asserts nothing.
Peak memory is this process's maximum resident set (the sweep's coordinating process, which
collects results); worker processes hold one run at a time.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from sim import sweep as sw
from sim.executor import Executor, ProcessExecutor, SequentialExecutor

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def make_sweep(folder: Path, runs: int) -> sw.Sweep:
    spec = folder / "bench.yaml"
    spec.write_text(
        f"name: bench\nbase: {BASELINE}\nend: 2028-12\nreplications: 1\nseed: 1\n"
        f"design: {{kind: lhs, samples: {runs}, seed: 1}}\n"
        "parameters:\n"
        "  - {path: policy.subsidy_scale, range: [0, 2]}\n"
        "  - {path: policy.export_control_scale, range: [0, 2]}\n"
        "outcomes: [active_developers@2028-12, market_size@2028]\n",
        encoding="utf-8",
    )
    return sw.load_sweep(spec)


def timed_sweep(sweep: sw.Sweep, folder: Path, executor: Executor) -> tuple[int, float]:
    """Runs and seconds of one sweep into an empty folder (job list made before timing)."""
    all_jobs = sw.jobs(sweep)
    start = time.perf_counter()
    table = sw.run_sweep(sweep, folder, executor, all_jobs=all_jobs)
    return len(table), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = make_sweep(Path(tmp), args.runs)
        sw.execute_job(sw.jobs(sweep)[0])  # imports and caches of this process
        with SequentialExecutor() as ex:
            runs, base = timed_sweep(sweep, Path(tmp) / "seq", ex)
        print(
            f"{runs} runs (to 2028-12), 1 worker (this process): {base:.1f} s, "
            f"{runs / base:.2f} runs/s"
        )
        if args.workers > 1:
            start = time.perf_counter()
            with ProcessExecutor(args.workers) as ex:
                timed_sweep(sweep, Path(tmp) / "cold", ex)
            cold = time.perf_counter() - start
            with ProcessExecutor(args.workers) as ex:
                ex.warm_up()
                _, warm = timed_sweep(sweep, Path(tmp) / "warm", ex)
            for label, seconds in (("pool start-up included", cold), ("warm pool", warm)):
                print(
                    f"{runs} runs, {args.workers} workers, {label}: {seconds:.1f} s, "
                    f"{runs / seconds:.2f} runs/s, efficiency "
                    f"{base / seconds / args.workers:.2f}"
                )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the coordinating process {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
