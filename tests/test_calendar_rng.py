"""Calendar arithmetic and the independence of named random streams."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim.calendar import month_label, parse_month
from sim.rng import STREAMS, Streams, replication_seeds


def test_month_round_trip() -> None:
    assert parse_month("2021-01") == 0
    assert parse_month("2022-11-30") == 22
    assert month_label(22) == "2022-11"
    for i in (0, 11, 12, 119):
        assert parse_month(month_label(i)) == i


@pytest.mark.parametrize("bad", ["2023-13", "2023/01", "23-01", "2023-02-30", "soon"])
def test_bad_dates_are_rejected(bad: str) -> None:
    # The message quotes the offending date.
    with pytest.raises(ValueError, match=re.escape(f"date {bad!r}")):
        parse_month(bad)


def test_streams_are_independent() -> None:
    """Drawing more from one stream never shifts another (adding a random decision is safe)."""
    a, b = Streams(7), Streams(7)
    b["entry"].random(1000)
    b.firm("Baidu ERNIE Bot").normal(size=50)
    np.testing.assert_array_equal(a["mesa"].random(5), b["mesa"].random(5))
    np.testing.assert_array_equal(a.firm("entrant-3").random(5), b.firm("entrant-3").random(5))


def test_firm_streams_are_keyed_by_identity() -> None:
    s = Streams(7)
    first = s.firm("entrant-3").random(3)
    np.testing.assert_array_equal(first, Streams(7).firm("entrant-3").random(3))
    assert not np.array_equal(first, s.firm("entrant-4").random(3))
    assert not np.array_equal(first, Streams(8).firm("entrant-3").random(3))
    draws = [s[name].random() for name in STREAMS] + [s.firm(k).random() for k in ("a", "b")]
    assert len(set(draws)) == len(draws)


def test_replication_seeds_extend_as_a_prefix() -> None:
    assert replication_seeds(11, 3) == replication_seeds(11, 5)[:3]
    assert len(set(replication_seeds(11, 50))) == 50
