"""The compiled kernels (``sim.kernels``) against their numpy reference.

The same scenario and seed give the same tables with kernels on and off: integers, flags and
names identical, floats within 1e-9 relative (on this project's machines they are bit for bit the
same: ``sim.kernels.npmath`` reproduces numpy's sums and transcendental functions). The
kernels' numpy building blocks are checked against numpy directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.kernels import npmath
from sim.model import GenAIMarket
from sim.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
CASES = [
    ("baseline", 0),
    ("baseline", 7),
    ("total_embargo", 1),
    ("subsidy_boom", 2),
    ("vc_winter", 3),
    ("open_source_push", 4),
]
#: Acquisition settings under which firms are sold (the shipped scenarios sell none), so that the
#: deal search of ``decide_exits`` is compared too.
DEAL_VARIANTS = [
    {
        "integration_cost_m_rmb": 5.0,
        "capability_value_per_log10": 20.0,
        "price_to_annual_revenue": 30.0,
        "fire_sale_share": 0.1,
        "distress_runway_months": 12.0,
    },
    {"integration_cost_m_rmb": 20.0, "capability_value_per_log10": 5.0},
    {"integration_cost_m_rmb": 0.0, "talent_value_years_of_wage": 10.0, "fire_sale_share": 0.0},
]


def _tables(sc: Scenario, seed: int, kernels: bool) -> dict[str, pd.DataFrame]:
    rec = GenAIMarket(sc, seed, kernels=kernels).run().datacollector
    return {
        "metrics": pd.DataFrame(rec.metrics_columns()),
        "firms": pd.DataFrame(rec.firm_columns()),
        "events": pd.DataFrame(rec.event_columns()),
    }


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        x, y = a[name], b[name]
        assert list(x.columns) == list(y.columns), name
        assert len(x) == len(y), name
        for c in x.columns:
            u, v = x[c].to_numpy(), y[c].to_numpy()
            if u.dtype.kind == "f":
                np.testing.assert_allclose(u, v, rtol=1e-9, atol=0, err_msg=f"{name}.{c}")
            else:
                assert np.array_equal(u, v), f"{name}.{c} differs"


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_kernels_match_numpy_reference(name: str, seed: int) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    assert_same_tables(_tables(sc, seed, kernels=True), _tables(sc, seed, kernels=False))


@pytest.mark.parametrize(("variant", "seed"), [(0, 0), (1, 1), (2, 2)])
def test_acquisitions_match_numpy_reference(variant: int, seed: int) -> None:
    base = load_scenario(SCENARIOS / "baseline.yaml").model_dump(mode="json")
    base["acquisitions"].update(DEAL_VARIANTS[variant])
    sc = Scenario.model_validate(base)
    on = _tables(sc, seed, kernels=True)
    assert (on["events"]["event"] == "acquired").sum() > 10  # the deal search is exercised
    assert_same_tables(on, _tables(sc, seed, kernels=False))


def test_npmath_functions_match_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    pos = np.concatenate([rng.uniform(0, 1e6, 500), rng.uniform(0, 2, 500), [0.0, np.inf]])
    exps = rng.uniform(-30, 30, 1000)
    with np.errstate(all="ignore"):
        assert [npmath.exp(x) for x in exps] == np.exp(exps).tolist()
        assert [npmath.log(x) for x in pos] == np.log(pos).tolist()
        assert [npmath.log10(x) for x in pos] == np.log10(pos).tolist()
        assert [npmath.power(x, 0.35) for x in pos] == np.power(pos, 0.35).tolist()
        assert [npmath.power(10.0, x) for x in exps] == np.power(10.0, exps).tolist()


def test_npmath_sums_are_numpys_pairwise_sum() -> None:
    rng = np.random.default_rng(1)
    for n in [*range(20), 64, 127, 128, 129, 300, 1000, 2049, 200_000]:
        a = rng.standard_normal(n) * 10.0 ** rng.uniform(-5, 5, n)
        assert npmath.add_reduce(a) == np.add.reduce(a)
        lo = n // 3
        assert npmath.pairwise_sum(a, lo, n - lo) == np.add.reduce(a[lo:])


def test_npmath_extrema_propagate_nan_as_numpy() -> None:
    pairs = [(1.0, 2.0), (2.0, 1.0), (np.nan, 1.0), (1.0, np.nan), (-np.inf, 3.0)]
    for a, b in pairs:
        np.testing.assert_equal(npmath.maximum(a, b), np.maximum(a, b))
        np.testing.assert_equal(npmath.minimum(a, b), np.minimum(a, b))
        if not (np.isnan(a) or np.isnan(b)):
            assert npmath.py_max(a, b) == max(a, b)
            assert npmath.py_min(a, b) == min(a, b)


_SIGNATURES_SCRIPT = """
import json, sys
from numba.core.registry import CPUDispatcher
import sim.kernels.demand, sim.kernels.exits, sim.kernels.finance, sim.kernels.inputs
import sim.kernels.recording
from sim.model import GenAIMarket
from sim.scenario import load_scenario

modules = [sim.kernels.demand, sim.kernels.exits, sim.kernels.finance, sim.kernels.inputs,
           sim.kernels.recording]

def signatures():
    # helpers that only kernels call are compiled into them and have no signature of their own
    return {f"{m.__name__}.{name}": len(fn.signatures) for m in modules
            for name, fn in vars(m).items()
            if isinstance(fn, CPUDispatcher) and fn.__module__ == m.__name__ and fn.signatures}

base = load_scenario(sys.argv[1] + "/baseline.yaml")
GenAIMarket(base, 0).run()
after_one = signatures()
for seed in (1, 2, 3):
    GenAIMarket(base, seed).run()
for name in ("total_embargo", "vc_winter", "open_source_push"):
    GenAIMarket(load_scenario(sys.argv[1] + f"/{name}.yaml"), 1).run()
print(json.dumps([after_one, signatures()]))
"""


def test_each_kernel_compiles_once_per_process() -> None:
    """Kernels get the same argument types every month and in every scenario (a new array layout
    or scalar type would compile the kernel again, a second or more in the middle of a run): in a
    fresh process, after one baseline replication, other seeds and scenarios add no compiled
    signature."""
    import json
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-c", _SIGNATURES_SCRIPT, str(SCENARIOS)],
        capture_output=True,
        text=True,
        check=True,
        cwd=SCENARIOS.parent,
    )
    after_one, after_all = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(after_one) >= 15  # the stages' kernels all ran (16 in all)
    assert after_all == after_one


@pytest.mark.parametrize("sweep_file", ["behaviour_sobol.yaml", "export_x_subsidy.yaml"])
def test_kernels_match_numpy_reference_across_sweep_designs(sweep_file: str) -> None:
    """Away from the shipped scenarios too: points spread over each shipped sweep's design
    (behavioural parameters; export controls x subsidies) give the same tables both ways."""
    from sim import sweep as sw

    spec = sw.load_sweep(SCENARIOS / "sweeps" / sweep_file)
    runs = sw.jobs(spec)
    for job in runs[:: max(1, len(runs) // 5)][:5]:
        sc = Scenario.model_validate_json(job.scenario_json)
        assert_same_tables(_tables(sc, job.seed, kernels=True), _tables(sc, job.seed, False))
