"""The shared executor: results in item order, one warm pool reused by every call."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from sim.executor import ProcessExecutor, SequentialExecutor, make_executor
from sim.runner import TABLES, run_many

from .conftest import scenario_with


def slow_square(x: int) -> int:
    """Later items finish first on two workers (order must not leak into results)."""
    time.sleep(0.02 * (5 - x))
    return x * x


def pid(_x: object) -> int:
    return os.getpid()


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


class Box:
    """A result whose lifetime the caller can watch (a weak reference)."""

    def __init__(self, value: int) -> None:
        self.value = value


def boxed(x: int) -> Box:
    return Box(x)


@pytest.fixture(scope="module")
def pool() -> ProcessExecutor:
    with ProcessExecutor(2) as ex:
        yield ex


def test_map_returns_results_in_item_order(pool: ProcessExecutor) -> None:
    items = list(range(6))
    done: list[int] = []
    assert pool.map(slow_square, items, on_done=done.append) == [x * x for x in items]
    assert sorted(done) == items
    assert SequentialExecutor().map(slow_square, items) == [x * x for x in items]


def test_one_pool_serves_every_call(pool: ProcessExecutor) -> None:
    pool.warm_up()
    first = set(pool.map(pid, range(8)))
    second = set(pool.map(pid, range(8)))
    assert os.getpid() not in first
    assert len(first | second) <= 2  # the same two workers, not a new pool per call


def test_a_failing_job_raises_in_the_caller(pool: ProcessExecutor) -> None:
    with pytest.raises(ValueError, match="three"):
        pool.map(fails_on_three, range(6))
    assert pool.map(fails_on_three, [1, 2]) == [1, 2]  # the pool survives


def test_a_shared_pool_gives_the_sequential_tables(pool: ProcessExecutor) -> None:
    """Two scenarios, then a second call, on one pool: the tables of one process."""
    a = scenario_with(end="2023-03")
    b = scenario_with(end="2023-03", name="other", policy={"subsidy_scale": 2.0})
    seq, seeds = run_many([a, b], 3, root_seed=4)
    par, par_seeds = run_many([a, b], 3, root_seed=4, executor=pool)
    again, _ = run_many([b], 2, root_seed=4, executor=pool)
    assert seeds == par_seeds
    for t in TABLES:
        pd.testing.assert_frame_equal(getattr(seq, t), getattr(par, t))
    m = seq.metrics
    expected = m[(m["scenario"] == "other") & (m["replication"] < 2)].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.metrics, expected)


def test_make_executor_picks_the_kind() -> None:
    assert isinstance(make_executor(1), SequentialExecutor)
    with make_executor(2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.workers == 2
    with pytest.raises(ValueError, match="not both"):
        make_executor(2, scheduler="tcp://localhost:1", dask_local=2)


def test_the_pool_keeps_no_finished_result(pool: ProcessExecutor) -> None:
    """A result handed to the caller is the caller's: once it drops it, it is freed while the
    rest of the jobs run (a sweep's finished runs are not all held until the end)."""
    import gc
    import weakref

    earlier: list[weakref.ref[Box]] = []
    for _index, box in pool.as_completed(boxed, range(5)):
        gc.collect()
        assert [ref() for ref in earlier] == [None] * len(earlier)
        earlier.append(weakref.ref(box))
        del box
    assert len(earlier) == 5
