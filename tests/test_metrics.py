"""Market-structure metrics against values computed by hand."""

from __future__ import annotations

import pytest

from sim.metrics import active_developers, concentration, concentration_ratio, hhi


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 1, 1, 1], 0.25), ([7], 1.0), ([3, 1], 0.625), ([3, 1, 0, 0], 0.625), ([], 0.0)],
)
def test_hhi(values: list[float], expected: float) -> None:
    assert hhi(values) == pytest.approx(expected)


def test_concentration_ratio() -> None:
    assert concentration_ratio([5, 3, 1, 1]) == pytest.approx(0.9)
    assert concentration_ratio([1, 5, 3, 1], k=1) == pytest.approx(0.5)
    assert concentration_ratio([2, 2]) == pytest.approx(1.0)
    assert concentration_ratio([]) == 0.0


def test_concentration_gives_hhi_and_cr_of_the_same_shares() -> None:
    assert concentration([5, 3, 1, 1]) == pytest.approx((0.36, 0.9))  # 0.25 + 0.09 + 2 * 0.01
    assert concentration([1, 5, 3, 1], k=1) == pytest.approx((0.36, 0.5))
    assert concentration([0, 0]) == (0.0, 0.0)


def test_active_developers() -> None:
    assert active_developers(["active", "bankrupt", "active", "pivoted"]) == 2
