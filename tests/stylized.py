"""Stylized facts of China's generative-AI market as checks on result tables, and mutant models
that fake them.

Each check is a property the real market showed after the 2023 "hundred-model war" (the source
report; `shared/data/`), stated loosely enough to hold across seeds, and written so that a model
which fakes the fact fails it. The mutants are kept here as fixtures: a model whose exits are dice,
one in which megatechs never exit and every firm has the same cost, and one in which compute
capacity is not part of the firms' problem. ``tests/test_stylized_facts.py`` asserts that the
model passes every check and that each mutant fails at least one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from sim.calendar import parse_month
from sim.model import GenAIMarket
from sim.runner import RunResult
from sim.summary import annual_market_bn_rmb

CHATGPT = parse_month("2022-11")
Check = Callable[[RunResult], tuple[bool, str]]


def _at(metrics: pd.DataFrame, date: str) -> pd.DataFrame:
    return metrics[metrics["date"] == date].set_index("replication")


def entry_wave_after_chatgpt(r: RunResult) -> tuple[bool, str]:
    """Entries in the eight months after ChatGPT are at least three times those before."""
    m = r.metrics
    before = m[m["month"].between(CHATGPT - 8, CHATGPT - 1)].groupby("replication")["entries"].sum()
    after = m[m["month"].between(CHATGPT + 1, CHATGPT + 8)].groupby("replication")["entries"].sum()
    return bool((after >= 3 * before).all()), f"before {before.tolist()} after {after.tolist()}"


def tens_of_developers_in_mid_2023(r: RunResult) -> tuple[bool, str]:
    """Tens of foundation-model developers in mid-2023 (the report counts 78 models)."""
    active = _at(r.metrics, "2023-07")["active_developers"]
    return bool(active.between(20, 120).all()), str(active.tolist())


def shakeout_to_a_few(r: RunResult) -> tuple[bool, str]:
    """The field peaks in 2023-2025 and at most half the peak still pre-trains in 2028."""
    m = r.metrics
    peak_month = m.loc[m.groupby("replication")["active_developers"].idxmax(), "month"]
    peak = m.groupby("replication")["active_developers"].max()
    ratio = _at(m, "2028-12")["active_developers"] / peak
    ok = peak_month.between(parse_month("2023-01"), parse_month("2025-12")).all()
    return bool(ok and ratio.median() <= 0.5), f"peaks {peak_month.tolist()} ratio {ratio.tolist()}"


def concentrated_users(r: RunResult) -> tuple[bool, str]:
    """A few providers hold most users by 2028: the top-3 share is above one half in the median
    replication and above two fifths in the lower quartile (chance and spillovers keep some
    markets more open: over 40 replications about one in eight stays below one half and the
    lowest tail is near two fifths, so "every one" would be a claim about a single draw)."""
    cr3 = _at(r.metrics, "2028-12")["cr3_users"]
    return bool(cr3.median() > 0.5 and cr3.quantile(0.25) > 0.4), str(cr3.round(2).tolist())


def market_grows_by_orders_of_magnitude(r: RunResult) -> tuple[bool, str]:
    """The market grows at least tenfold from 2023 to 2028 (iiMedia: about 35x)."""
    annual = annual_market_bn_rmb(r.metrics).pivot(
        index="replication", columns="year", values="market_bn_rmb"
    )
    growth = annual[2028] / annual[2023]
    return bool((growth >= 10).all()), str(growth.round(1).tolist())


def leaders_differ(r: RunResult) -> tuple[bool, str]:
    """Chance matters: the largest provider in 2028 is not the same firm in every replication."""
    f = r.firms[r.firms["date"] == "2028-12"]
    leaders = f.sort_values("users_m", ascending=False).groupby("replication").head(1)
    return bool(leaders["firm"].nunique() >= 2), str(leaders["firm"].tolist())


def exits_are_selective(r: RunResult) -> tuple[bool, str]:
    """Developers that stop pre-training or fail are mostly the weaker ones: at least 70 % of them
    were below the median developer's own capability the month before."""
    f = r.firms
    dev = f[f["developer"] & (f["status"] == "active")]
    median = dev.groupby(["replication", "month"])["own_capability_log10"].median()
    ev = r.events[r.events["event"].isin(["pivoted", "bankrupt", "acquired"])]
    prior = dev.set_index(["replication", "month", "firm_id"])["own_capability_log10"]
    below, total = 0, 0
    for rep, month, fid in ev[["replication", "month", "firm_id"]].itertuples(index=False):
        key = (rep, month - 1, fid)
        if key in prior.index and (rep, month - 1) in median.index:
            total += 1
            below += int(prior.loc[key] < median.loc[(rep, month - 1)])
    share = below / total if total else np.nan
    return bool(total >= 10 and share >= 0.7), f"{below}/{total} below the median"


def serving_costs_differ(r: RunResult) -> tuple[bool, str]:
    """Efficiency shows in costs: among developers in mid-2025 the 90th-percentile serving cost
    is at least 1.3 times the 10th (DeepSeek's cost advantage was several-fold)."""
    f = r.firms[(r.firms["date"] == "2025-06") & r.firms["developer"].astype(bool)]
    if f.empty:
        return False, "no developers in 2025-06"
    q = f.groupby("replication")["marginal_cost"]
    ratio = q.quantile(0.9) / q.quantile(0.1)
    return bool((ratio >= 1.3).all()), str(ratio.round(2).tolist())


def megatech_units_can_fail(r: RunResult) -> tuple[bool, str]:
    """A megatech's unit is not immortal: across replications at least one stops pre-training or
    exits by 2028 (smaller platforms scaled back their own frontier models)."""
    ev = r.events[
        (r.events["kind"] == "megatech")
        & r.events["event"].isin(["pivoted", "bankrupt", "acquired"])
    ]
    return bool(len(ev) >= 1), f"{len(ev)} megatech exits or pivots"


def compute_is_scarce(r: RunResult) -> tuple[bool, str]:
    """Export controls made compute scarce: in 2024-2025 the rental price stays above its cost
    floor (the median month at least 10 % above)."""
    m = r.metrics[r.metrics["date"].between("2024-01", "2025-12")]
    ratio = (m["compute_price_m_rmb_per_h100e_month"] / m["compute_price_floor_m_rmb"]).median()
    return bool(ratio >= 1.1), f"median price / floor {ratio:.2f}"


def price_war(r: RunResult) -> tuple[bool, str]:
    """Prices collapse after 2023: the user-weighted average price falls by more than half in two
    years (the 2024 price war cut headline API prices by 90 % or more; the average here also
    covers subscriptions and licences, which fell less)."""
    a = _at(r.metrics, "2023-12")["mean_price_index"]
    b = _at(r.metrics, "2025-12")["mean_price_index"]
    fall = 1 - b / a
    return bool((fall >= 0.5).all()), str(fall.round(2).tolist())


CHECKS: dict[str, Check] = {
    f.__name__: f
    for f in (
        entry_wave_after_chatgpt,
        tens_of_developers_in_mid_2023,
        shakeout_to_a_few,
        concentrated_users,
        market_grows_by_orders_of_magnitude,
        leaders_differ,
        exits_are_selective,
        serving_costs_differ,
        megatech_units_can_fail,
        compute_is_scarce,
        price_war,
    )
}


def failures(r: RunResult) -> dict[str, str]:
    """The checks a result fails, with what each saw."""
    out = {}
    for name, check in CHECKS.items():
        ok, detail = check(r)
        if not ok:
            out[name] = detail
    return out


# --------------------------------------------------------------------------------------------------
# Mutants: models that fake the facts (applied with a context manager, in-process runs only)
# --------------------------------------------------------------------------------------------------


@contextmanager
def patched(**methods: Callable) -> Iterator[None]:
    """Replace ``GenAIMarket`` methods for the duration of the block."""
    saved = {name: getattr(GenAIMarket, name) for name in methods}
    try:
        for name, fn in methods.items():
            setattr(GenAIMarket, name, fn)
        yield
    finally:
        for name, fn in saved.items():
            setattr(GenAIMarket, name, fn)


def _dice_exits(self: GenAIMarket) -> None:
    """Mutant (a): from 2024 every non-megatech exits at a fixed 3.5 % a month; no economics."""
    if self.month < parse_month("2024-01"):
        return
    for firm in list(self.firm_agents):
        if firm.kind != "megatech" and self.random.random() < 0.035:
            self._exit(firm, "bankrupt")
    self.table.cash_m_rmb = np.maximum(self.table.cash_m_rmb, 0.0)


def fixed_exit_rate() -> Iterator[None]:
    """Mutant (a) as a context: exits by dice."""
    return patched(decide_exits=_dice_exits)


def _one_cost(self: GenAIMarket, rows: slice = slice(None)) -> np.ndarray:
    n = len(self.table.efficiency[rows])
    return np.full(n, self.serving_intensity_2023 * self.inference_efficiency())


_real_decide_exits = GenAIMarket.decide_exits


def _megatechs_immortal(self: GenAIMarket) -> None:
    t = self.table
    mega = t.kind == 0  # sim.vocab.KINDS[0] is "megatech"
    t.cash_m_rmb = np.where(mega, np.maximum(t.cash_m_rmb, 0.0), t.cash_m_rmb)
    keep = t.pretraining.copy()
    _real_decide_exits(self)
    t = self.table
    mega = t.kind == 0
    t.pretraining = np.where(mega, True, t.pretraining)
    del keep


def immortal_megatechs_one_cost() -> Iterator[None]:
    """Mutant (b): megatechs never exit or stop, and every firm has the same serving cost."""
    return patched(serving_intensity=_one_cost, decide_exits=_megatechs_immortal)


def _unlimited_compute(self: GenAIMarket) -> None:
    """Mutant (c): every firm gets the compute it plans at the cost floor; capacity never binds."""
    t = self.table
    if t.n == 0:
        return
    from sim.state import Account

    self.compute_price = self.price_floor
    serve_need = t.demand_usage_m_rmb * self.serving_intensity() * 10
    train_money = np.maximum(t.rd_budget_m_rmb - t.flows[:, Account.STAFF_COST], 0.0)
    train = train_money / self.price_floor
    t.serve_h100e = serve_need
    t.compute_h100e = train
    t.capacity_h100e = serve_need + train
    t.rented_h100e = t.capacity_h100e
    t.flows[:, Account.COMPUTE_COST] += train_money
    t.flows[:, Account.INFERENCE_COST] += serve_need * self.price_floor
    self.rental_pool_h100e = float(t.capacity_h100e.sum())


def capacity_removed() -> Iterator[None]:
    """Mutant (c) as a context."""
    return patched(clear_compute=_unlimited_compute)


MUTANTS: dict[str, Callable[[], Iterator[None]]] = {
    "fixed_exit_rate": fixed_exit_rate,
    "immortal_megatechs_one_cost": immortal_megatechs_one_cost,
    "capacity_removed": capacity_removed,
}
