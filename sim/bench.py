"""Benchmarks: numbers, never assertions (``genai-sim bench`` or ``python -m sim.bench``).

Each case prints one JSON line; ``--write`` also writes ``docs/performance.md`` with the command
that produced it. Cases:

* ``baseline``: one baseline replication (wall time in this process, so without interpreter
  start-up; months per second), median of repeats.
* ``scale``: ms per simulated month at (firms, segments) from (100, 100) to (2,000, 10,000), sizes
  held fixed (no entry, no exits), and the ratio to a *bare numpy demand step* (utilities, a
  softmax over firms, shares times segment sizes) timed in the same process on the same arrays.
* ``parallel``: 16 baseline replications in this process and on 2 workers of the shared
  forkserver pool (``sim.executor``), timed with the pool's start-up (a whole command) and on a
  pool already warm (replications per second and efficiency = speed-up / workers).
* ``memory``: peak resident memory of one replication and of a 300-run sweep (child processes).
* ``stages``: the share of a baseline month spent in each stage of ``GenAIMarket.step``.
* ``cli``: wall times of ``genai-sim --help`` and ``genai-sim validate`` in fresh interpreters.
* ``instructions`` (``--instructions``, needs valgrind; about three minutes): instructions one
  baseline replication executes, counted by callgrind. Unlike wall time, the count is the same
  whatever else the machine is doing and on whichever host of a kind it runs (wall times of the
  same code read 0.13 s and 0.19 s on this kind on one day), so it compares code, not hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SCALES: tuple[tuple[int, int], ...] = ((100, 100), (300, 1_000), (1_000, 10_000), (2_000, 10_000))


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def bench_baseline(repeats: int = 7) -> dict[str, Any]:
    """One baseline replication, firm panel on (median over ``repeats`` seeds)."""
    from sim.runner import run_replication

    sc = load_scenario(BASELINE)
    run_replication(sc, seed=0)  # warm-up: imports and caches
    seeds = iter(range(1, repeats + 1))
    med, times = _median_time(lambda: run_replication(sc, seed=next(seeds)), repeats)
    return {
        "case": "baseline",
        "months": sc.n_months,
        "seconds_median": round(med, 4),
        "seconds_min": round(min(times), 4),
        "months_per_s": round(sc.n_months / med, 1),
        "repeats": repeats,
    }


def scale_scenario(n_firms: int, n_segments: int) -> Scenario:
    """The baseline with ``n_firms`` named firms entering in 2021-01 and ``n_segments`` segments.

    Segments cycle through the baseline's (potential users divided so the market keeps its size);
    firms are well-funded and parent-backed and stochastic entry is off, so no firm enters, is sold
    or fails and the field stays at ``n_firms`` for the whole run.
    """
    base = load_scenario(BASELINE).model_dump(mode="json")
    segs = base["demand"]["segments"]
    reps = -(-n_segments // len(segs))
    base["demand"]["segments"] = [
        {
            **s,
            "name": f"{s['name']}-{k}",
            "potential_users_m_2023": s["potential_users_m_2023"] / reps,
        }
        for k in range(reps)
        for s in segs
    ][:n_segments]
    kinds = ("megatech", "startup", "institute", "vertical")
    sectors = sorted({s["sector"] for s in segs})
    base["roster"] = [
        {
            "name": f"firm-{i:05d}",
            "kind": kinds[i % 4],
            "entry": "2021-01",
            "cash_m_rmb": 1e5,
            "budget_m_rmb_per_month": 10.0,
            "ecosystem": (i % 10) / 10,
            "open_source": i % 7 == 0,
            "home_sectors": [sectors[i % len(sectors)]],
            "source": "benchmark firm",
        }
        for i in range(n_firms)
    ]
    # No entry; every firm is parent-backed and rich, so none is sold or goes bankrupt (a firm
    # that stops pre-training stays in the market as the application layer).
    base["entry"]["base_rate_per_month"] = 0.0
    base["end"] = "2024-12"
    return Scenario.model_validate(base)


def bare_demand_step(
    cap: np.ndarray,
    price: np.ndarray,
    eco: np.ndarray,
    seg_eco: np.ndarray,
    fit: np.ndarray,
    sizes: np.ndarray,
) -> np.ndarray:
    """The floor a demand step cannot beat: (firms, segments) utilities, softmax, users."""
    u = (3.0 * cap - 2.5 * np.log(price))[:, None] + 1.5 * eco[:, None] * seg_eco[None, :] + fit
    u -= u.max(axis=0)
    np.exp(u, out=u)
    u /= u.sum(axis=0)
    return u * sizes[None, :]


def bench_scale(
    scales: tuple[tuple[int, int], ...] = SCALES, months: int = 6, warmup: int = 40
) -> list[dict[str, Any]]:
    """ms per simulated month at each (firms, segments), and the ratio to the bare demand step."""
    from sim.model import GenAIMarket

    out = []
    for n_firms, n_segments in scales:
        model = GenAIMarket(scale_scenario(n_firms, n_segments), seed=1, record_firms=True)
        model.run_until(warmup)  # past entry, the first prices and the filing approvals
        assert model.table.n == n_firms, "benchmark field must stay fixed"
        t0 = time.perf_counter()
        model.run_until(warmup + months)
        per_month = (time.perf_counter() - t0) / months
        t = model.table
        args = (
            t.capability_log10.copy(),
            t.price_index.copy(),
            t.ecosystem.copy(),
            model.seg_eco_weight,
            t.fit.copy(),
            model.adopters_m,
        )
        bare, _ = _median_time(lambda a=args: bare_demand_step(*a), 5)
        out.append(
            {
                "case": "scale",
                "firms": n_firms,
                "segments": n_segments,
                "ms_per_month": round(per_month * 1e3, 2),
                "bare_demand_ms": round(bare * 1e3, 2),
                "ratio_to_bare": round(per_month / bare, 2),
                "ns_per_firm_segment": round(per_month / (n_firms * n_segments) * 1e9, 2),
            }
        )
        del model
    return out


def bench_parallel(
    replications: int = 16, workers: tuple[int, ...] = (1, 2)
) -> list[dict[str, Any]]:
    """``replications`` baseline replications in this process and on the shared process pool.

    Uses ``sim.executor.bench_parallel``: one worker runs in this process; each larger count is
    timed on a fresh pool including its start-up (the forkserver's imports, as a command pays
    them) and on a pool already started and warmed (what the command's shared executor costs per
    job once it is up). ``pool`` names the case; ``efficiency`` is relative to this process.
    """
    from sim.executor import bench_parallel as timed

    sc = load_scenario(BASELINE)
    return [
        {
            "case": "parallel",
            "pool": r["case"],
            "workers": r["workers"],
            "replications": r["replications"],
            "seconds": r["seconds"],
            "replications_per_s": round(r["replications_per_s"], 2),
            "efficiency": r["efficiency"],
            "includes_pool_startup": r["includes_pool_startup"],
        }
        for r in timed(sc, replications, workers)
    ]


def bench_cli(repeats: int = 3) -> dict[str, Any]:
    """Wall seconds of ``genai-sim --help`` and ``genai-sim validate baseline.yaml`` in fresh
    interpreters (best of ``repeats``): the fixed cost a user waits for before any work."""
    from sim.executor import cli_wall_times

    walls = cli_wall_times(str(BASELINE), repeats)
    return {
        "case": "cli",
        "help_s": walls["--help"],
        "validate_s": walls["validate"],
        "repeats": repeats,
    }


# Peak RSS of this process from /proc (VmHWM starts afresh at exec, unlike ru_maxrss, which a
# child started from a large parent inherits).
_HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
_MEMORY_RUN = """
from sim.runner import run_replication
from sim.scenario import load_scenario
run_replication(load_scenario({path!r}), seed=1)
print(HWM)
""".replace("HWM", _HWM)

_MEMORY_SWEEP = """
import resource, tempfile, pathlib
from sim.executor import _stop_forkserver
from sim.runner import run_many
from sim.scenario import load_scenario
sc = load_scenario({path!r}, {{"end": "2028-12"}})
scs = [sc.model_copy(update={{"name": f"p{{i}}"}}) for i in range(100)]
run_many(scs, 3, root_seed=1, workers=2, record_firms=False)
_stop_forkserver()  # workers are the forkserver's children: reap it so they are counted
me = HWM
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(me + 2 * kids)
""".replace("HWM", _HWM)


def bench_memory(sweep: bool = True) -> list[dict[str, Any]]:
    """Peak resident memory (MiB) of one replication, and of 300 runs on 2 workers."""
    out = []
    cases = [("one replication", _MEMORY_RUN)] + (
        [("300-run sweep", _MEMORY_SWEEP)] if sweep else []
    )
    for label, code in cases:
        res = subprocess.run(
            [sys.executable, "-c", code.format(path=str(BASELINE))],
            capture_output=True,
            text=True,
            check=True,
        )
        kib = int(res.stdout.strip().splitlines()[-1])
        out.append({"case": "memory", "what": label, "peak_rss_mib": round(kib / 1024, 1)})
    return out


def bench_stages(repeats: int = 3) -> dict[str, Any]:
    """Share of a baseline month spent in each stage of ``GenAIMarket.step``."""
    import inspect

    from sim.model import GenAIMarket

    names = [
        line.strip()[5:].split("(")[0]
        for line in inspect.getsource(GenAIMarket.step).splitlines()
        if line.strip().startswith("self.") and line.strip().endswith("()")
    ]
    totals = dict.fromkeys(names, 0.0)
    sc = load_scenario(BASELINE)
    GenAIMarket(sc, 0).run()  # warm-up: the kernels' first call loads them
    for seed in range(repeats):
        model = GenAIMarket(sc, seed)
        for name in names:
            method = getattr(model, name)

            def timed(method=method, name=name) -> None:
                t0 = time.perf_counter()
                method()
                totals[name] += time.perf_counter() - t0

            setattr(model, name, timed)
        model.run()
    total = sum(totals.values())
    return {
        "case": "stages",
        "share": {k: round(v / total, 3) for k, v in totals.items()},
        "ms_per_month": round(total / repeats / sc.n_months * 1e3, 3),
    }


_INSTRUCTIONS_RUN = """
import sys
from sim.runner import run_replication
from sim.scenario import load_scenario
sc = load_scenario({path!r})
run_replication(sc, seed=0)  # imports and caches, counted in both runs and so cancelled
for seed in range(1, 1 + int(sys.argv[1])):
    run_replication(sc, seed=seed)
"""


def bench_instructions(replications: int = 3) -> dict[str, Any]:
    """Instructions one baseline replication executes (millions; mean of seeds 1 to
    ``replications``), counted by valgrind's callgrind as the difference between a process that
    runs them and one that stops after the warm-up, so imports and start-up cancel (after an
    uncounted run that leaves numba's cache warm)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"case": "instructions", "skipped": "valgrind not found"}
    code = _INSTRUCTIONS_RUN.format(path=str(BASELINE))

    tool = (valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null")

    def count(n: int) -> int:
        res = subprocess.run(
            [*tool, sys.executable, "-c", code, str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"Collected\s*:\s*(\d+)", res.stderr)
        if found is None:
            raise RuntimeError(f"callgrind printed no instruction count:\n{res.stderr[-2000:]}")
        return int(found.group(1))

    # One uncounted run first: numba compiles the kernels for the CPU valgrind emulates (its
    # cache key differs from the host's) and caches them, so that both counted runs load them.
    count(0)
    per_run = (count(replications) - count(0)) / replications
    months = load_scenario(BASELINE).n_months
    return {
        "case": "instructions",
        "million_per_replication": round(per_run / 1e6, 1),
        "million_per_month": round(per_run / months / 1e6, 2),
        "replications": replications,
    }


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


STUDY = ROOT / "scenarios" / "studies" / "independents.yaml"


def bench_study(experiments: int = 5000, workers: int = 2) -> dict[str, Any]:
    """The worked study's discovery at scale: ``experiments`` Latin-hypercube points x its
    replications over its 8 dimensions, on local processes, from an empty folder to PRIM's box
    (the same path as ``genai-sim discover``; wall time including the run store and PRIM)."""
    import tempfile

    from sim import study as st
    from sim import sweep as sw
    from sim.executor import make_executor

    study = st.load_study(STUDY)
    assert study.spec.discover is not None
    study.spec.discover.experiments = experiments
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        sweep, jobs = st.experiment(study)
        with make_executor(workers) as executor:
            table = sw.run_sweep(sweep, folder, executor, all_jobs=jobs)
        t_runs = time.perf_counter() - t0
        found = st.discover_box(study, table)
        total = time.perf_counter() - t0
    return {
        "case": "study",
        "study": STUDY.name,
        "dimensions": len(study.uncertainty_paths) + len(study.lever_paths),
        "end": str(study.base_raw["end"]),
        "runs": len(jobs),
        "workers": workers,
        "seconds": round(total, 1),
        "seconds_runs": round(t_runs, 1),
        "runs_per_s": round(len(jobs) / t_runs, 1),
        "coverage": round(found.stats["coverage"], 3),
        "density": round(found.stats["density"], 3),
    }


def run_all(
    quick: bool = False,
    emit: Callable[[dict[str, Any]], None] = print,
    study: bool = False,
    instructions: bool = False,
) -> list[dict]:
    """Run every case (``quick``: small scales, no sweep memory; ``study``: also the 10,000-run
    discovery, about ten minutes; ``instructions``: also callgrind's count, about three
    minutes), emitting each result."""
    results: list[dict[str, Any]] = []

    def add(items: dict | list[dict]) -> None:
        for item in items if isinstance(items, list) else [items]:
            results.append(item)
            emit(item)

    add(bench_baseline(3 if quick else 7))
    add(bench_scale(SCALES[:2] if quick else SCALES))
    add(bench_parallel(8 if quick else 16))
    add(bench_memory(sweep=not quick))
    add(bench_stages(1 if quick else 3))
    add(bench_cli(1 if quick else 3))
    if instructions:
        add(bench_instructions())
    if study:
        add(bench_study())
    return results


def _table(
    title: str, header: list[str], align: str, rows: list[list[Any]], intro: str = ""
) -> list[str]:
    """A Markdown section with one table (``align``: one of ``l``/``r`` per column)."""
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    body = ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lead = [intro, ""] if intro else []
    return [f"## {title}", "", *lead, "| " + " | ".join(header) + " |", rule, *body, ""]


def _paragraph(title: str, text: str) -> list[str]:
    """A Markdown section of one paragraph."""
    return [f"## {title}", "", text, ""]


def performance_markdown(results: list[dict[str, Any]], command: str) -> str:
    """``docs/performance.md`` from benchmark results."""
    lines = [
        "# Performance",
        "",
        f"Produced by `{command}` on {platform.machine()} with {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, on {time.strftime('%Y-%m-%d')}. Medians of repeats; "
        "numbers, not assertions (tests never time anything).",
        "",
    ]
    for r in results:
        if r["case"] == "baseline":
            lines += _paragraph(
                "One baseline replication",
                f"{r['seconds_median']} s for {r['months']} months ({r['months_per_s']} months/s; "
                f"best {r['seconds_min']} s), firm panel on, without interpreter start-up.",
            )
        if r["case"] == "instructions" and "skipped" not in r:
            lines += _paragraph(
                "Instructions per baseline replication",
                f"{r['million_per_replication']:,} million ({r['million_per_month']} million a "
                f"month; valgrind callgrind, mean of {r['replications']} seeds): the same count, "
                "within about 1 % (memory layout moves it a little), whatever the machine's load "
                "or host, so it compares code where wall times compare hosts too.",
            )
    scale = [r for r in results if r["case"] == "scale"]
    if scale:
        lines += _table(
            "Scale (field held fixed: no entry, no exits)",
            ["firms", "segments", "ms / month", "bare demand step, ms", "ratio", "ns / cell"],
            "rrrrrr",
            [
                [
                    f"{r['firms']:,}",
                    f"{r['segments']:,}",
                    r["ms_per_month"],
                    r["bare_demand_ms"],
                    r["ratio_to_bare"],
                    r["ns_per_firm_segment"],
                ]
                for r in scale
            ],
        )
    par = [r for r in results if r["case"] == "parallel"]
    if par:
        lines += _table(
            "Replications in parallel",
            ["pool", "workers", "replications", "s", "reps/s", "efficiency", "pool start-up"],
            "lrrrrrl",
            [
                [
                    r.get("pool", ""),
                    r["workers"],
                    r["replications"],
                    r["seconds"],
                    r["replications_per_s"],
                    r["efficiency"],
                    "included" if r["includes_pool_startup"] else "excluded",
                ]
                for r in par
            ],
        )
    mem = [r for r in results if r["case"] == "memory"]
    if mem:
        lines += ["## Peak memory", ""] + [f"- {r['what']}: {r['peak_rss_mib']} MiB" for r in mem]
        lines.append("")
    for r in results:
        if r["case"] == "stages":
            lines += _table(
                "Where a baseline month goes",
                ["stage", "share"],
                "lr",
                [[f"`{k}`", f"{v:.1%}"] for k, v in r["share"].items()],
                intro=f"{r['ms_per_month']} ms a baseline month on average.",
            )
    for r in results:
        if r["case"] == "study":
            lines += _paragraph(
                "A 10,000-run study",
                f"`genai-sim discover {r['study']}` at {r['runs']:,} runs ({r['dimensions']} "
                f"dimensions, Latin hypercube, to {r['end']}) on {r['workers']} local worker "
                f"processes, from an empty folder: {r['seconds']} s in all ({r['seconds_runs']} s "
                f"of runs, {r['runs_per_s']} runs/s, each stored as it finishes; the rest PRIM). "
                f"The box found: coverage {r['coverage']}, density {r['density']}.",
            )
    for r in results:
        if r["case"] == "cli":
            lines += _paragraph(
                "Command start-up",
                f"`genai-sim --help` {r['help_s']} s, `genai-sim validate scenarios/baseline.yaml` "
                f"{r['validate_s']} s (fresh interpreter, best of {r['repeats']}).",
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m sim.bench [--quick] [--write]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scales, fewer repeats")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    parser.add_argument(
        "--study", action="store_true", help="also the 10,000-run study (about ten minutes)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also instructions per replication, by valgrind callgrind (about three minutes)",
    )
    args = parser.parse_args(argv)
    results = run_all(
        args.quick,
        emit=lambda r: print(json.dumps(r), flush=True),
        study=args.study,
        instructions=args.instructions,
    )
    if args.write:
        cmd = (
            "python -m sim.bench"
            + (" --quick" if args.quick else "")
            + (" --instructions" if args.instructions else "")
            + (" --study" if args.study else "")
            + " --write"
        )
        (ROOT / "docs" / "performance.md").write_text(performance_markdown(results, cmd) + "\n")


if __name__ == "__main__":
    main()
