"""Recording as columns: monthly metrics and the firm panel, built into tidy tables at the end.

``Recorder`` appends one value per metric and one array per firm column each month (no per-firm
dicts) and offers the interface Mesa's tools read from a ``DataCollector`` (``model_vars``,
``get_model_vars_dataframe``, ``get_agent_vars_dataframe`` and the collection-step bookkeeping
``mesa.batch_run`` uses), so ``batch_run`` and SolaraViz can drive the model with no second
recording path beside the tidy tables.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # makes pa.compute available

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
_PANEL_START_ROWS = 2048  # the firm panel's first buffers (rows); doubled when full
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
#: pandas' default string dtype (what it infers for a column of Python strings).
_STR = pd.Series(["x"]).dtype
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


def str_column(labels: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The string column ``labels[codes]`` in pandas' default string dtype, built by Arrow from
    the codes (building it from a million Python strings costs far more)."""
    taken = pa.compute.take(pa.array(labels, type=pa.large_string()), pa.array(codes))
    return pd.array(taken, dtype=_STR)


class Recorder:
    """Column store of one replication's monthly metrics, firm panel and event log.

    Args:
        record_firms: keep the firm-level panel (off for sweeps that need only metrics).
    """

    def __init__(self, record_firms: bool = True) -> None:
        self.record_firms = record_firms
        self._metric_rows: list[dict[str, Any]] = []  # one dict a month; see ``model_vars``
        self._vars: tuple[int, dict[str, list[Any]]] = (0, {})  # model_vars as last built
        self._collection_steps: list[float] = []
        self._agent_records: dict[float, list[Any]] = {}  # batch_run reads these
        self._agenttype_records: dict[float, dict[Any, list[Any]]] = {}
        self.agent_reporters: dict[str, Any] = {}
        self.agenttype_reporters: dict[Any, dict[str, Any]] = {}
        # The event log as columns (one list per column), cheaper than a dict per event; the
        # event and detail strings as codes into ``_labels``. The firm's name and kind are
        # looked up from its id when the table is built.
        self.events: dict[str, array.array] = {
            c: array.array("d" if c == "amount_m_rmb" else "q")
            for c in EVENT_COLUMNS
            if c not in _IDENT
        }
        self._labels: dict[str, int] = {}
        self._label_codes: dict[tuple[str, ...], np.ndarray] = {}  # see ``_codes``
        # The firm panel: one growable column-major buffer per table block and panel column
        # (rows appended in place each month; ``firm_columns`` reads their first rows, so a run
        # never concatenates its monthly chunks), and the number of rows and chunks in them.
        self._panel: dict[str, np.ndarray] = {}
        self._panel_rows = 0
        self._panel_chunks = 0
        self._names: dict[int, tuple[str, str, bool]] = {}  # firm id -> (name, kind, roster)

    @property
    def n_panel_months(self) -> int:
        """Number of monthly firm-panel chunks recorded."""
        return self._panel_chunks

    # -- writing ---------------------------------------------------------------------------------

    def register_firm(self, firm_id: int, name: str, kind: str, roster: bool) -> None:
        """Remember a firm's identity for the panel's name, kind and roster columns."""
        self._names[firm_id] = (name, kind, roster)

    def add_metrics(self, step: float, row: dict[str, Any]) -> None:
        """Append one month's metrics (one value per metric; every month the same metrics). The
        dict is kept as it is (the caller hands it over): ``model_vars`` turns rows into series
        when read, which costs less than appending to some 70 lists every month."""
        self._collection_steps.append(step)
        self._metric_rows.append(row)

    @property
    def n_metric_months(self) -> int:
        """Number of months whose metrics are recorded."""
        return len(self._metric_rows)

    @property
    def model_vars(self) -> dict[str, list[Any]]:
        """Metric name -> one value per recorded month (the name and shape of Mesa's
        ``DataCollector.model_vars``, which ``mesa.batch_run`` reads); built when read."""
        rows = self._metric_rows
        if self._vars[0] != len(rows):  # built once per recorded month, however often read
            self._vars = (len(rows), {key: [row[key] for row in rows] for key in rows[0]})
        return self._vars[1]

    def add_firms(
        self,
        month: int,
        table: FirmTable,
        rows: Any,
        status: str | tuple[str, ...],
        computed: dict[str, np.ndarray],
        which: np.ndarray | None = None,
    ) -> None:
        """Append firm-panel rows ``rows`` (an index or slice into the table) with ``status``
        (one for all, or with ``which`` the row's status is ``status[which[k]]``) and the
        model's ``computed`` columns for those rows."""
        if not self.record_firms:
            return
        if not isinstance(rows, slice):
            rows = np.atleast_1d(rows)
        blocks = table.block_rows(rows)
        size = blocks["flows"].shape[0]
        at = self._reserve(size, blocks, computed)
        panel, end = self._panel, at + size
        for name, values in blocks.items():
            panel[name][at:end] = values
        panel["month"][at:end] = month
        panel["status"][at:end] = self._codes(status, size, which)
        for col in _MODEL_COLUMNS:
            panel[col][at:end] = computed[col]
        self._panel_rows = end
        self._panel_chunks += 1

    def _reserve(
        self, size: int, blocks: dict[str, np.ndarray], computed: dict[str, np.ndarray]
    ) -> int:
        """Make room for ``size`` more panel rows (buffers shaped and typed as the first chunk's
        ``blocks`` and ``computed`` columns, doubled when full); return the first free row."""
        panel, n = self._panel, self._panel_rows
        if not panel:
            shapes = {name: (v.shape[1:], v.dtype) for name, v in blocks.items()}
            shapes["month"] = shapes["status"] = ((), np.dtype(np.int64))
            for col in _MODEL_COLUMNS:
                shapes[col] = ((), np.asarray(computed[col]).dtype)
            cap = max(_PANEL_START_ROWS, 2 * size)
            for name, (shape, dtype) in shapes.items():
                panel[name] = np.empty((cap, *shape), dtype=dtype, order="F")
        elif n + size > len(panel["month"]):
            cap = max(2 * len(panel["month"]), n + size)
            for name, old in panel.items():
                panel[name] = np.empty((cap, *old.shape[1:]), dtype=old.dtype, order="F")
                panel[name][:n] = old[:n]
        return n

    def _code(self, label: str) -> int:
        """The code of an event or detail string (new strings get the next code)."""
        code = self._labels.get(label)
        if code is None:
            code = self._labels[label] = len(self._labels)
        return code

    def _codes(
        self, labels: str | Sequence[str], n: int, which: np.ndarray | None = None
    ) -> np.ndarray:
        """Codes of ``n`` labels: one label for all, one per row, or with ``which`` the row's
        label is ``labels[which[k]]``."""
        if isinstance(labels, str):
            return np.full(n, self._code(labels), dtype=np.int64)
        key = tuple(labels)
        codes = self._label_codes.get(key)
        if codes is None:  # codes never change once given, so a tuple's are kept
            codes = self._label_codes[key] = np.array([self._code(x) for x in key], dtype=np.int64)
        return codes.copy() if which is None else codes[np.asarray(which, dtype=np.intp)]

    def log_event(
        self, month: int, firm: Any, event: str, amount_m_rmb: float, detail: str = ""
    ) -> None:
        """Append to the event log (entries, rounds, subsidies, exits, policy steps)."""
        e = self.events
        e["month"].append(month)
        e["firm_id"].append(-1 if firm is None else firm.unique_id)
        e["event"].append(self._code(event))
        e["amount_m_rmb"].append(float(amount_m_rmb))
        e["detail"].append(self._code(detail))

    def log_events(
        self,
        month: int,
        firm_ids: np.ndarray | list[int],
        event: str,
        amounts: np.ndarray | list[float],
        details: str | list[str],
        which: np.ndarray | None = None,
    ) -> None:
        """Append one event per firm (same month and kind of event), in the order given;
        ``details`` is one string for all or one per event (or, with ``which``, the event's
        detail is ``details[which[k]]``)."""
        e = self.events
        n = len(firm_ids)
        e["month"].extend(array.array("q", [month]) * n)
        e["firm_id"].frombytes(np.asarray(firm_ids, dtype=np.int64).tobytes())
        e["event"].extend(array.array("q", [self._code(event)]) * n)
        e["amount_m_rmb"].frombytes(np.asarray(amounts, dtype=np.float64).tobytes())
        e["detail"].frombytes(self._codes(details, n, which).tobytes())

    # -- reading ---------------------------------------------------------------------------------

    def metrics_columns(self) -> dict[str, Any]:
        """Monthly metrics as columns (``metrics_frame``'s), one array each (the types pandas
        would infer from the lists, inferred faster)."""
        return {k: np.asarray(v) for k, v in self.model_vars.items()}

    def metrics_frame(self) -> pd.DataFrame:
        """Monthly metrics, one row per month."""
        return pd.DataFrame(self.metrics_columns())

    def firms_frame(self) -> pd.DataFrame:
        """The firm panel: one row per active firm and month, plus each firm in its exit month."""
        if not self._panel:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in FIRM_PANEL_COLUMNS}).astype(
                {"month": "int64"}
            )
        return pd.DataFrame(self.firm_columns())

    def firm_columns(self) -> dict[str, Any]:
        """The firm panel as columns (``firms_frame``'s; needs at least one recorded month).
        Numeric columns are read-only views into the recorder's buffers (a frame built from them
        copies)."""
        n = self._panel_rows
        stacked = {key: buf[:n] for key, buf in self._panel.items()}
        for view in stacked.values():  # views into the live buffers: read only
            view.flags.writeable = False
        cols: dict[str, Any] = {k: stacked[k] for k in ("month", *_MODEL_COLUMNS)}
        cols["status"] = str_column(list(self._labels), stacked["status"])
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
        return {c: cols[c] for c in FIRM_PANEL_COLUMNS}

    def events_frame(self) -> pd.DataFrame:
        """The event log, one row per event."""
        return pd.DataFrame(self.event_columns(), columns=list(EVENT_COLUMNS))

    def event_columns(self) -> dict[str, Any]:
        """The event log as columns (``events_frame``'s)."""
        e = self.events
        labels = list(self._labels)
        col = {
            k: np.frombuffer(v, dtype=np.float64 if v.typecode == "d" else np.int64).copy()
            for k, v in e.items()
        }
        cols: dict[str, Any] = {
            "month": col["month"],
            "firm_id": col["firm_id"],
            "event": str_column(labels, col["event"]),
            "amount_m_rmb": col["amount_m_rmb"],
            "detail": str_column(labels, col["detail"]),
        }
        cols["firm"], cols["kind"], _ = self._identities(cols["firm_id"])
        return {c: cols[c] for c in EVENT_COLUMNS}

    def _identities(self, ids: np.ndarray) -> tuple[Any, Any, np.ndarray]:
        """Name and kind (string columns) and roster flag of each firm id (``-1``: no firm:
        empty strings)."""
        known = np.array(sorted(self._names), dtype=np.int64)
        table = [self._names[int(i)] for i in known]
        names = [n for n, _, _ in table] + [""]
        kinds = [k for _, k, _ in table] + [""]
        roster = np.array([r for _, _, r in table] + [False], dtype=bool)
        pos = np.searchsorted(known, ids)
        found = pos < known.size
        found[found] = known[pos[found]] == ids[found]
        pos = np.where(found, pos, known.size)
        return str_column(names, pos), str_column(kinds, pos), roster[pos]

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
