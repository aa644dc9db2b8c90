"""Monthly metrics and the firm panel."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from sim.kernels import recording as kr
from sim.metrics import concentration
from sim.state import LAYOUT
from sim.vocab import ACTIVE, APP_LAYER, EXIT_CAUSES, KINDS

_STARTUP = KINDS.index("startup")

_ACTIVE_KEYS = tuple(f"active_{k}" for k in KINDS)  # metric names, built once
_EXIT_KEYS = tuple(f"exits_{c}" for c in EXIT_CAUSES)
#: Firm-table columns whose totals are monthly metrics.
_TOTALLED = (
    "demand_usage_m_rmb",
    "served_usage_m_rmb",
    "users_total_m",
    "frontier_staff",
    "own_h100e",
    "capacity_h100e",
    "serve_h100e",
)

# Where ``sim.kernels.recording.month_sums`` finds its columns in the table's blocks.
_F_COLS = np.array(
    [
        LAYOUT[c][1]
        for c in (
            "revenue_m_rmb",
            "capability_log10",
            "users_total_m",
            "net_burn_m_rmb",
            "revenue_ytd_m_rmb",
            "loss_ytd_m_rmb",
        )
    ],
    dtype=np.int64,
)
_I_COLS = np.array([LAYOUT[c][1] for c in ("kind", "pretraining_months_ytd")], dtype=np.int64)
_PRETRAINING_COL = LAYOUT["pretraining"][1]
_TOTALLED_COLS = np.array([LAYOUT[c][1] for c in _TOTALLED], dtype=np.int64)
assert all(LAYOUT[c][0] == "float64" for c in ("revenue_m_rmb", "users_total_m", *_TOTALLED))
assert LAYOUT["kind"][0] == LAYOUT["pretraining_months_ytd"][0] == "int64"
assert LAYOUT["pretraining"][0] == "bool"


class Recording:
    """Monthly metrics and the firm panel."""

    def record(self) -> None:
        """Monthly metrics (one row) and the firm panel (one row per firm in the market)."""
        t, m = self.table, self.month
        d = self.scenario_params.demand
        # The firm table's and the segments' sums, counts and concentration measures.
        f = self._month_sums_compiled() if self.kernels else self._month_sums()
        dev = f["developer"]
        n_dev = int(np.count_nonzero(dev))
        # The model layer's revenue counts this month's revenue of firms that exited at its end as
        # well; the AIGC core market adds what applications and integrators keep.
        layer_m_rmb = f["layer_m_rmb"] + self.month_flows["exited_revenue_m_rmb"]
        market_m_rmb = layer_m_rmb / d.model_layer_share
        self.market_history.append(market_m_rmb)
        best = f["best"]
        installed = self.imported_installed + self.domestic_installed
        frontier = self.global_frontier_log10()
        weights = t.users_total_m + 1e-12
        mean_price = float(t.price_index @ weights / np.add.reduce(weights)) if t.n else np.nan
        total = f["total"]
        pretraining = f["pretraining"]
        demanded = total["demand_usage_m_rmb"]
        served = total["served_usage_m_rmb"]
        row: dict[str, Any] = {
            "month": m,
            "active_developers": n_dev,
            **dict(zip(_ACTIVE_KEYS, f["counts"], strict=True)),
            "app_layer_firms": t.n - pretraining,
            "pretraining_firms": pretraining,
            "entries": int(self.month_flows["entries"]),
            **{key: int(self.month_flows[key]) for key in _EXIT_KEYS},
            "hhi_users": f["hhi_users"],
            "cr3_users": f["cr3_users"],
            "hhi_revenue": f["hhi_revenue"],
            "cr3_revenue": f["cr3_revenue"],
            "market_size_bn_rmb_annualised": market_m_rmb * 12 / 1000,
            "market_m_rmb": market_m_rmb,
            "revenue_m_rmb": layer_m_rmb,
            "users_m": total["users_total_m"],
            "outside_users_m": f["outside_users_m"],
            "users_awaiting_choice_m": f["awaiting_m"],
            "adopters_m": f["adopters_m"],
            "consumer_adopters_m": f["consumer_adopters_m"],
            "potential_adopters_m": f["potential_m"],
            "startup_revenue_m_rmb": f["startup_revenue_m_rmb"],
            "startup_net_loss_m_rmb": f["startup_net_loss_m_rmb"],
            "startup_loss_to_revenue_ytd": f["startup_loss_ratio"],
            "usage_demanded_m_rmb": demanded,
            "usage_served_m_rmb": served,
            "served_share": served / demanded if demanded > 0 else 1.0,
            "usage_tokens_tn_per_month": served * 1e6 / d.reference_rmb_per_k_tokens * 1e3 / 1e12,
            "mean_price_index": mean_price,
            "frontier_wage_m_rmb_per_year": self.frontier_wage,
            "frontier_pool": self.frontier_pool,
            "frontier_employed": total["frontier_staff"],
            "compute_price_m_rmb_per_h100e_month": self.compute_price,
            "compute_price_floor_m_rmb": self.price_floor,
            "installed_h100e": installed,
            "firm_owned_h100e": total["own_h100e"],
            "firm_capacity_h100e": total["capacity_h100e"],
            "rental_pool_h100e": self.rental_pool_h100e,
            "outside_compute_bid_m_rmb": self.outside_compute_bid_m_rmb,
            "serving_h100e": total["serve_h100e"],
            "inference_h100e": total["serve_h100e"],
            "chip_purchases_h100e": self.month_flows["chip_purchases_h100e"],
            "domestic_chip_share": self.domestic_installed / installed if installed > 0 else 0.0,
            "imported_supply_factor": self.government.imported_supply_factor,
            "vc_inflow_factor": self.government.vc_inflow_factor,
            "subsidies_paid_m_rmb": self.month_flows["subsidies_paid_m_rmb"],
            "gov_equity_m_rmb": self.month_flows["gov_equity_m_rmb"],
            "vc_invested_m_rmb": self.month_flows["vc_invested_m_rmb"],
            "strategic_invested_m_rmb": self.month_flows["strategic_m_rmb"],
            "ipo_raised_m_rmb": self.month_flows["ipo_m_rmb"],
            "acquisition_spend_m_rmb": self.month_flows["acquisition_spend_m_rmb"],
            "vc_dry_powder_m_rmb": float(self.dry_powder_m_rmb()),
            "hype_index": self.hype,
            "entry_attractiveness": self.entry_attractiveness(n_dev),
            "best_capability_log10": best,
            "open_floor_log10": self.open_floor_log10(),
            "global_frontier_log10": frontier,
            "capability_gap_log10": frontier - best,
        }
        self.datacollector.add_metrics(self.time, row)
        rows = slice(0, t.n)
        self.datacollector.add_firms(
            m, t, rows, (ACTIVE, APP_LAYER), self._panel_columns(rows, dev), which=~t.pretraining
        )
        if self.month + 1 >= self.n_months:
            self.running = False

    def _month_sums(self) -> dict[str, Any]:
        """The firm table's and the segments' sums, counts and concentration measures that
        ``record`` reports (numpy; the reference of ``_month_sums_compiled``)."""
        t = self.table
        users, revenue = t.users_total_m, t.revenue_m_rmb
        dev = self.developers()
        hhi_users, cr3_users = concentration(users, 3)
        hhi_revenue, cr3_revenue = concentration(revenue, 3)
        startups = (t.kind == _STARTUP) & t.pretraining
        return {
            "developer": dev,
            "counts": np.bincount(t.kind[dev], minlength=len(KINDS)).tolist(),
            "pretraining": int(np.count_nonzero(t.pretraining)),
            "layer_m_rmb": float(np.add.reduce(revenue)),
            "best": float(np.maximum.reduce(t.capability_log10)) if t.n else 0.0,
            "total": t.column_sums(_TOTALLED),
            "hhi_users": hhi_users,
            "cr3_users": cr3_users,
            "hhi_revenue": hhi_revenue,
            "cr3_revenue": cr3_revenue,
            "outside_users_m": float(np.add.reduce(self.outside_users_m)),
            "awaiting_m": float(np.add.reduce(self.orphans_m)),
            "adopters_m": float(np.add.reduce(self.adopters_m)),
            "consumer_adopters_m": float(np.add.reduce(self.adopters_m[self.seg_consumer])),
            "potential_m": float(np.add.reduce(self.potential_m)),
            "startup_revenue_m_rmb": float(np.add.reduce(revenue[startups])),
            "startup_net_loss_m_rmb": float(np.add.reduce(t.net_burn_m_rmb[startups])),
            "startup_loss_ratio": self._startup_loss_ratio(startups),
        }

    def _month_sums_compiled(self) -> dict[str, Any]:
        """``_month_sums`` in one call of ``sim.kernels.recording.month_sums`` (``_month_sums``
        is its reference)."""
        t = self.table
        n = t.n
        blocks = t.blocks()
        dev = np.empty(n, dtype=bool)
        counts = np.empty(len(KINDS), dtype=np.int64)
        out = np.empty(kr.TOTALS + len(_TOTALLED))
        pretraining = kr.month_sums(
            n,
            blocks["float64"],
            blocks["int64"],
            blocks["bool"],
            _F_COLS,
            _I_COLS,
            _PRETRAINING_COL,
            _TOTALLED_COLS,
            t.train_window,
            self.scenario_params.firms.pretraining_min_h100e_months,
            _STARTUP,
            self.month % 12 + 1,
            self.outside_users_m,
            self.orphans_m,
            self.adopters_m,
            self.seg_consumer,
            self.potential_m,
            dev,
            counts,
            out,
        )
        sums = out.tolist()
        return {
            "developer": dev,
            "counts": counts.tolist(),
            "pretraining": int(pretraining),
            "layer_m_rmb": sums[kr.LAYER],
            "best": sums[kr.BEST],
            "total": dict(zip(_TOTALLED, sums[kr.TOTALS :], strict=True)),
            "hhi_users": sums[kr.HHI_USERS],
            "cr3_users": sums[kr.CR3_USERS],
            "hhi_revenue": sums[kr.HHI_REVENUE],
            "cr3_revenue": sums[kr.CR3_REVENUE],
            "outside_users_m": sums[kr.OUTSIDE],
            "awaiting_m": sums[kr.AWAITING],
            "adopters_m": sums[kr.ADOPTERS],
            "consumer_adopters_m": sums[kr.CONSUMER_ADOPTERS],
            "potential_m": sums[kr.POTENTIAL],
            "startup_revenue_m_rmb": sums[kr.STARTUP_REVENUE],
            "startup_net_loss_m_rmb": sums[kr.STARTUP_NET_LOSS],
            "startup_loss_ratio": sums[kr.STARTUP_LOSS_RATIO],
        }

    def _startup_loss_ratio(self, startups: np.ndarray) -> float:
        """Median, over start-ups that have pre-trained every month of this calendar year so far,
        of their net loss this year over their revenue this year (infinite for a firm with no
        revenue, negative for one in profit); NaN when there is none. In December it is the
        calendar year's ratio, the quantity start-ups' prospectuses report."""
        t = self.table
        full = startups & (t.pretraining_months_ytd == self.month % 12 + 1)
        if not full.any():
            return np.nan
        revenue = t.revenue_ytd_m_rmb[full]
        ratio = np.empty(revenue.size)
        ratio.fill(np.inf)
        np.divide(t.loss_ytd_m_rmb[full], revenue, out=ratio, where=revenue > 0)
        return statistics.median(ratio.tolist())  # np.median costs ten times more on a few

    def _panel_columns(
        self, rows: slice | np.ndarray, developer: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Firm-panel columns computed by the model, for the table rows ``rows`` (``developer``:
        those rows' developer flags, when the caller has them)."""
        if not self.datacollector.record_firms:
            return {}
        return {
            "developer": self.developers(rows) if developer is None else developer,
            "serving_h100e_per_m_rmb": self.serving_intensity(rows),
        }
