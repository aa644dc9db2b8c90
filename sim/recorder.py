"""Recording as columns: monthly metrics and the firm panel, built into tidy tables at the end.

``Recorder`` appends one value per metric and one array per firm column each month (no per-firm
dicts) and offers the interface Mesa's tools read from a ``DataCollector`` (``model_vars``,
``get_model_vars_dataframe``, ``get_agent_vars_dataframe`` and the collection-step bookkeeping
``mesa.batch_run`` uses), so ``batch_run`` and SolaraViz can drive the model with no second
recording path beside the tidy tables.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from sim.state import LAYOUT, Account, FirmTable

#: Firm-panel columns taken straight from the firm table, in table order.
_TABLE_COLUMNS = (
    "entry_month",
    "efficiency",
    "cash_m_rmb",
    "capability_log10",
    "own_capability_log10",
)
_LATER_COLUMNS = (
    "price_index",
    "frontier_staff",
    "compute_h100e",
    "own_h100e",
    "capacity_h100e",
    "serve_h100e",
    "demand_usage_m_rmb",
    "served_usage_m_rmb",
    "served_share",
    "marginal_cost",
    "rd_budget_m_rmb",
)
#: Columns the model computes for the panel (not stored in the table).
_MODEL_COLUMNS = ("developer", "serving_h100e_per_m_rmb")
#: Money-flow columns of the panel: table account -> column name.
_FLOW_COLUMNS = {
    Account.STAFF_COST: "staff_cost_m_rmb",
    Account.COMPUTE_COST: "compute_cost_m_rmb",
    Account.INFERENCE_COST: "inference_cost_m_rmb",
    Account.OVERHEAD: "overhead_m_rmb",
    Account.COMPLIANCE_COST: "compliance_cost_m_rmb",
    Account.SUBSIDY_IN: "subsidy_in_m_rmb",
    Account.VC: "vc_in_m_rmb",
    Account.GOV_EQUITY: "gov_equity_in_m_rmb",
    Account.PARENT: "parent_in_m_rmb",
    Account.ENTRY_CAPITAL: "entry_capital_m_rmb",
    Account.ACQUISITION_COST: "acquisition_cost_m_rmb",
    Account.DEBT_SETTLED: "debt_settled_m_rmb",
    Account.CHIP_PURCHASE: "chip_purchase_m_rmb",
    Account.IPO: "ipo_in_m_rmb",
    Account.STRATEGIC: "strategic_in_m_rmb",
}
EVENT_COLUMNS = ("month", "firm_id", "firm", "kind", "event", "amount_m_rmb", "detail")
_IDENT = ("firm", "kind")  # event columns filled from the firm registry
FIRM_PANEL_COLUMNS = (
    "month",
    "firm_id",
    "firm",
    "kind",
    "status",
    "roster",
    *_TABLE_COLUMNS,
    "users_m",
    "revenue_m_rmb",
    *_LATER_COLUMNS,
    *_FLOW_COLUMNS.values(),
    "approved",
    *_MODEL_COLUMNS,
)


class Recorder:
    """Column store of one replication's monthly metrics, firm panel and event log.

    Args:
        record_firms: keep the firm-level panel (off for sweeps that need only metrics).
    """

    def __init__(self, record_firms: bool = True) -> None:
        self.record_firms = record_firms
        self.model_vars: dict[str, list[Any]] = defaultdict(list)  # Mesa DataCollector name
        self._collection_steps: list[float] = []
        self._agent_records: dict[float, list[Any]] = {}  # batch_run reads these
        self._agenttype_records: dict[float, dict[Any, list[Any]]] = {}
        self.agent_reporters: dict[str, Any] = {}
        self.agenttype_reporters: dict[Any, dict[str, Any]] = {}
        # The event log as columns (one list per column), cheaper than a dict per event.
        # The firm's name and kind are looked up from its id when the table is built.
        self.events: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS if c not in _IDENT}
        self._firm_chunks: list[dict[str, np.ndarray]] = []
        self._names: dict[int, tuple[str, str, bool]] = {}  # firm id -> (name, kind, roster)

    # -- writing ---------------------------------------------------------------------------------

    def register_firm(self, firm_id: int, name: str, kind: str, roster: bool) -> None:
        """Remember a firm's identity for the panel's name, kind and roster columns."""
        self._names[firm_id] = (name, kind, roster)

    def add_metrics(self, step: float, row: dict[str, Any]) -> None:
        """Append one month's metrics (one value per metric)."""
        self._collection_steps.append(step)
        for key, value in row.items():
            self.model_vars[key].append(value)

    def add_firms(
        self,
        month: int,
        table: FirmTable,
        rows: Any,
        status: str | np.ndarray,
        computed: dict[str, np.ndarray],
    ) -> None:
        """Append firm-panel rows ``rows`` (an index or slice into the table) with ``status``
        (one for all, or one per row) and the model's ``computed`` columns for those rows."""
        if not self.record_firms:
            return
        rows = np.arange(table.n)[rows] if isinstance(rows, slice) else np.atleast_1d(rows)
        chunk = table.snapshot(rows)
        chunk["month"] = np.full(rows.size, month, dtype=np.int64)
        chunk["status"] = (
            np.full(rows.size, status, dtype=object)
            if isinstance(status, str)
            else np.asarray(status, dtype=object)
        )
        for col in _MODEL_COLUMNS:
            chunk[col] = np.atleast_1d(computed[col]).copy()
        self._firm_chunks.append(chunk)

    def log_event(
        self, month: int, firm: Any, event: str, amount_m_rmb: float, detail: str = ""
    ) -> None:
        """Append to the event log (entries, rounds, subsidies, exits, policy steps)."""
        e = self.events
        e["month"].append(month)
        e["firm_id"].append(-1 if firm is None else firm.unique_id)
        e["event"].append(event)
        e["amount_m_rmb"].append(float(amount_m_rmb))
        e["detail"].append(detail)

    def log_events(
        self,
        month: int,
        firm_ids: np.ndarray | list[int],
        event: str,
        amounts: np.ndarray | list[float],
        details: str | list[str],
    ) -> None:
        """Append one event per firm (same month and kind of event), in the order given;
        ``details`` is one string for all or one per event."""
        e = self.events
        n = len(firm_ids)
        e["month"].extend([month] * n)
        e["firm_id"].extend(np.asarray(firm_ids, dtype=np.int64).tolist())
        e["event"].extend([event] * n)
        e["amount_m_rmb"].extend(np.asarray(amounts, dtype=np.float64).tolist())
        e["detail"].extend([details] * n if isinstance(details, str) else details)

    # -- reading ---------------------------------------------------------------------------------

    def metrics_frame(self) -> pd.DataFrame:
        """Monthly metrics, one row per month."""
        return pd.DataFrame(dict(self.model_vars))

    def firms_frame(self) -> pd.DataFrame:
        """The firm panel: one row per active firm and month, plus each firm in its exit month."""
        if not self._firm_chunks:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in FIRM_PANEL_COLUMNS}).astype(
                {"month": "int64"}
            )
        stacked = {
            key: np.concatenate([c[key] for c in self._firm_chunks]) for key in self._firm_chunks[0]
        }
        cols: dict[str, np.ndarray] = {k: stacked[k] for k in ("month", "status", *_MODEL_COLUMNS)}
        for col in ("firm_id", *_TABLE_COLUMNS, *_LATER_COLUMNS, "approved"):
            block, j = LAYOUT[col]
            cols[col] = stacked[block][:, j]
        block, j = LAYOUT["users_total_m"]
        cols["users_m"] = stacked[block][:, j]
        flows = stacked["flows"]
        cols["revenue_m_rmb"] = flows[:, Account.REVENUE]
        for account, col in _FLOW_COLUMNS.items():
            cols[col] = flows[:, account]
        cols["firm"], cols["kind"], cols["roster"] = self._identities(cols["firm_id"])
        return pd.DataFrame({c: cols[c] for c in FIRM_PANEL_COLUMNS})

    def events_frame(self) -> pd.DataFrame:
        """The event log, one row per event."""
        e = self.events
        cols: dict[str, Any] = {  # typed arrays first: pandas infers list types slowly
            "month": np.array(e["month"], dtype=np.int64),
            "firm_id": np.array(e["firm_id"], dtype=np.int64),
            "event": e["event"],
            "amount_m_rmb": np.array(e["amount_m_rmb"], dtype=np.float64),
            "detail": e["detail"],
        }
        cols["firm"], cols["kind"], _ = self._identities(cols["firm_id"])
        return pd.DataFrame({c: cols[c] for c in EVENT_COLUMNS}, columns=list(EVENT_COLUMNS))

    def _identities(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Name, kind and roster flag of each firm id (``-1``: no firm: empty strings)."""
        known = np.array(sorted(self._names), dtype=np.int64)
        table = [self._names[int(i)] for i in known]
        names = np.array([n for n, _, _ in table] + [""], dtype=object)
        kinds = np.array([k for _, k, _ in table] + [""], dtype=object)
        roster = np.array([r for _, _, r in table] + [False], dtype=bool)
        pos = np.searchsorted(known, ids)
        found = pos < known.size
        found[found] = known[pos[found]] == ids[found]
        pos = np.where(found, pos, known.size)
        return names[pos], kinds[pos], roster[pos]

    # -- Mesa DataCollector interface ------------------------------------------------------------

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """Model-level series, as ``mesa.DataCollector.get_model_vars_dataframe``."""
        return self.metrics_frame()

    def get_agent_vars_dataframe(self) -> pd.DataFrame:
        """Firm-level panel indexed by (Step, AgentID), as Mesa's DataCollector returns it."""
        f = self.firms_frame()
        return f.rename(columns={"month": "Step", "firm_id": "AgentID"}).set_index(
            ["Step", "AgentID"]
        )
