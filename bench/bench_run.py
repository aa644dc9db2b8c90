"""Benchmark: seconds per baseline replication and replications per second with 1 and 2 workers.

Run: ``python bench/bench_run.py [--repeats N]``. Reports numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from sim.runner import run_replication, run_scenario
from sim.scenario import load_scenario

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replications", type=int, default=8)
    args = parser.parse_args()
    sc = load_scenario(BASELINE)
    run_replication(sc, seed=0)  # warm-up: imports and caches
    times = []
    for seed in range(args.repeats):
        t0 = time.perf_counter()
        run_replication(sc, seed=seed)
        times.append(time.perf_counter() - t0)
    print(
        f"one baseline replication ({sc.n_months} months, firm panel on): "
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
        f"max {max(times):.3f} s over {args.repeats} seeds"
    )
    t0 = time.perf_counter()
    run_replication(sc, seed=0, record_firms=False)
    print(f"without the firm panel: {time.perf_counter() - t0:.3f} s")
    for workers in (1, min(2, os.cpu_count() or 1)):
        t0 = time.perf_counter()
        run_scenario(sc, args.replications, root_seed=1, workers=workers)
        dt = time.perf_counter() - t0
        print(
            f"{args.replications} replications, {workers} worker(s): {dt:.2f} s "
            f"({args.replications / dt:.2f} replications/s, process start-up included)"
        )


if __name__ == "__main__":
    main()
