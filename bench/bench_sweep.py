"""Benchmark sweeps: runs per second with 1 and 2 local workers, and peak memory by sweep size.

Run: ``python bench/bench_sweep.py [--runs N] [--workers W]``. Prints numbers; asserts nothing.
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

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def make_sweep(folder: Path, runs: int) -> sw.Sweep:
    spec = folder / "bench.yaml"
    spec.write_text(
        f"name: bench\nbase: {BASELINE}\nend: 2028-12\nreplications: 1\nseed: 1\n"
        f"design: {{kind: lhs, samples: {runs}, seed: 1}}\n"
        "parameters:\n"
        "  - {path: policy.subsidy_scale, range: [0, 2]}\n"
        "  - {path: policy.export_control_scale, range: [0, 2]}\n"
        "outcomes: [active_developers_2028-12, market_bn_rmb_2028]\n",
        encoding="utf-8",
    )
    return sw.load_sweep(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = make_sweep(Path(tmp), args.runs)
        executor = sw.ProcessExecutor(args.workers) if args.workers > 1 else sw.SequentialExecutor()
        start = time.perf_counter()
        try:
            table = sw.run_sweep(sweep, Path(tmp) / "out", executor)
        finally:
            executor.close()
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(table)} runs (to 2028-12), {args.workers} worker(s): {seconds:.1f} s, "
        f"{len(table) / seconds:.2f} runs/s; peak memory of the coordinating process "
        f"{peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
