"""The firm table: every active firm's numbers as one struct of arrays.

Row ``i`` is the ``i``-th active firm in entry order. The table is compacted when a firm exits, so
every column is a contiguous view (``table.cash_m_rmb`` is ``(n,)``, ``table.users_m`` is
``(n, S)``) and stages work on whole arrays, never gathering ``[f.x for f in firms]``. Mesa agents
(``sim.agents``) keep each firm's identity, its random stream and its decisions, and find their row
through ``table.row(firm_id)``.

Money flows of the month live in ``table.flows``, an ``(n, len(Account))`` array indexed by the
``Account`` enumeration, so a misspelt account is an ``AttributeError``, not a new account.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


class Account(IntEnum):
    """Money-flow accounts of a firm's month (M RMB)."""

    REVENUE = 0
    INFERENCE_COST = 1
    STAFF_COST = 2
    COMPUTE_COST = 3
    OVERHEAD = 4
    COMPLIANCE_COST = 5
    SUBSIDY_IN = 6
    VC = 7
    GOV_EQUITY = 8
    PARENT = 9
    ENTRY_CAPITAL = 10
    ACQUISITION_COST = 11
    DEBT_SETTLED = 12
    CHIP_PURCHASE = 13
    IPO = 14
    STRATEGIC = 15


class Luck(IntEnum):
    """Kinds of a firm's monthly luck (rows of ``FirmTable.luck``), standard-normal draws."""

    TASTE = 0  # shock to users' taste for its service
    PITCH = 1  # funds' misreading of its pitch


# A firm draws its luck a block of months at a time, by the calendar (every block from its entry
# month), so its luck in a month does not depend on what it did before (a purely technical
# constant: it orders random draws and has no behavioural meaning).
LUCK_BLOCK_MONTHS = 12

#: Scalar columns: name -> (dtype, initial value of a new row, unit and meaning).
SCALARS: dict[str, tuple[Any, Any, str]] = {
    "firm_id": (np.int64, -1, "Mesa unique_id of the firm's agent"),
    "kind": (np.int64, 0, "index into sim.vocab.KINDS"),
    "entry_month": (np.int64, 0, "month index of entry"),
    "cash_m_rmb": (np.float64, 0.0, "cash, M RMB"),
    "budget_m_rmb_per_month": (np.float64, 0.0, "committed parent or grant budget, M RMB/month"),
    "parent_backed": (np.bool_, False, "a parent or grant covers losses"),
    "ecosystem": (np.float64, 0.0, "ecosystem strength, 0-1"),
    "own_chips_share": (np.float64, 0.0, "share of compute from own chips, 0-1"),
    "open_source": (np.bool_, False, "releases open weights"),
    "efficiency": (np.float64, 1.0, "research efficiency multiplier"),
    "effective_compute": (np.float64, 1.0, "accumulated effective training compute, H100e-months"),
    "own_capability_log10": (np.float64, 0.0, "capability from own training, log10"),
    "capability_log10": (np.float64, 0.0, "capability users get: own on top of open weights"),
    "frontier_staff": (np.float64, 0.0, "frontier researchers employed, people"),
    "price_index": (np.float64, np.nan, "price relative to the 2023 reference (NaN before set)"),
    "taste": (np.float64, 0.0, "random-walk appeal to users, utility units"),
    "approved": (np.bool_, True, "filing approved: may serve consumers"),
    "approval_month": (np.int64, -1, "month the filing is approved (-1: none pending)"),
    "last_funded_month": (np.int64, -10_000, "month of the last venture round"),
    "revenue_m_rmb": (np.float64, 0.0, "last settled month's revenue, M RMB"),
    "operating_margin_m_rmb": (np.float64, 0.0, "revenue less inference cost, M RMB"),
    "net_burn_m_rmb": (np.float64, 0.0, "costs less revenue and subsidies, M RMB"),
    "rd_budget_m_rmb": (np.float64, 0.0, "this month's R&D budget, M RMB"),
    "compute_h100e": (np.float64, 0.0, "training compute this month, H100e-months"),
    "marginal_cost": (np.float64, 0.0, "serving cost per RMB of usage at reference price"),
    "own_h100e": (np.float64, 0.0, "accelerators the firm owns, H100e (depreciating stock)"),
    "rented_h100e": (np.float64, 0.0, "accelerators rented this month, H100e"),
    "capacity_h100e": (np.float64, 0.0, "capacity held this month: own + rented, H100e"),
    "serve_h100e": (np.float64, 0.0, "capacity serving users this month, H100e"),
    "demand_usage_m_rmb": (np.float64, 0.0, "usage users demanded, M RMB at reference prices"),
    "served_usage_m_rmb": (np.float64, 0.0, "usage served (<= capacity), M RMB at reference"),
    "served_share": (np.float64, 1.0, "served / demanded usage last month, 0-1"),
    "pretraining": (np.bool_, True, "still pre-training its own base model (else app layer)"),
    "public": (np.bool_, False, "listed (has had an IPO)"),
    "meets_hurdle": (np.bool_, True, "its parent keeps growing its budget"),
    "own_trend": (np.float64, 0.0, "recent change of own capability, log10 a month (EWMA)"),
    "users_total_m": (np.float64, 0.0, "users over all segments, millions (row sum of users_m)"),
    "revenue_ytd_m_rmb": (np.float64, 0.0, "revenue this calendar year so far, M RMB"),
    "loss_ytd_m_rmb": (
        np.float64,
        0.0,
        "net loss this calendar year so far (costs less revenue and subsidies), M RMB",
    ),
    "pretraining_months_ytd": (
        np.int64,
        0,
        "months this calendar year in which the firm was pre-training when its accounts settled",
    ),
    "users_spend_weight": (
        np.float64,
        0.0,
        "users weighted by their segments' 2023 spending (users_m @ segment spend), M RMB",
    ),
}


#: Scalar columns grouped by dtype into blocks: block name -> column names, in SCALARS order.
BLOCKS: dict[str, tuple[str, ...]] = {
    str(np.dtype(d)): tuple(c for c, (cd, _, _) in SCALARS.items() if np.dtype(cd) == np.dtype(d))
    for d in dict.fromkeys(spec[0] for spec in SCALARS.values())
}
#: Where each scalar column lives: name -> (block name, column index in the block).
LAYOUT: dict[str, tuple[str, int]] = {
    c: (block, j) for block, names in BLOCKS.items() for j, c in enumerate(names)
}


class _Column:
    """A firm-table column. Reading gives a view of the first ``n`` rows, which is then kept in
    the table's ``__dict__`` (so later reads are plain attribute look-ups) until ``n`` or the
    allocation changes; assigning writes into that view (``FirmTable.__setattr__``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__doc__ = SCALARS[name][2] if name in SCALARS else name

    def __get__(self, table: FirmTable | None, owner: type | None = None) -> Any:
        if table is None:
            return self
        view = table.__dict__[self.name] = table._data[self.name][: table._n]
        table._cached.append(self.name)
        return view


def _column(name: str) -> _Column:
    return _Column(name)


class FirmTable:
    """Active firms as columns (one array per attribute), grown on entry, compacted on exit.

    Args:
        n_segments: number of demand segments ``S`` (width of ``users_m`` and ``fit``).
        capacity: initial number of rows allocated (doubles when full).
    """

    firm_id = _column("firm_id")
    kind = _column("kind")
    entry_month = _column("entry_month")
    cash_m_rmb = _column("cash_m_rmb")
    budget_m_rmb_per_month = _column("budget_m_rmb_per_month")
    parent_backed = _column("parent_backed")
    ecosystem = _column("ecosystem")
    own_chips_share = _column("own_chips_share")
    open_source = _column("open_source")
    efficiency = _column("efficiency")
    effective_compute = _column("effective_compute")
    own_capability_log10 = _column("own_capability_log10")
    capability_log10 = _column("capability_log10")
    frontier_staff = _column("frontier_staff")
    price_index = _column("price_index")
    taste = _column("taste")
    approved = _column("approved")
    approval_month = _column("approval_month")
    last_funded_month = _column("last_funded_month")
    revenue_m_rmb = _column("revenue_m_rmb")
    operating_margin_m_rmb = _column("operating_margin_m_rmb")
    net_burn_m_rmb = _column("net_burn_m_rmb")
    rd_budget_m_rmb = _column("rd_budget_m_rmb")
    compute_h100e = _column("compute_h100e")
    marginal_cost = _column("marginal_cost")
    own_h100e = _column("own_h100e")
    rented_h100e = _column("rented_h100e")
    capacity_h100e = _column("capacity_h100e")
    serve_h100e = _column("serve_h100e")
    demand_usage_m_rmb = _column("demand_usage_m_rmb")
    served_usage_m_rmb = _column("served_usage_m_rmb")
    served_share = _column("served_share")
    pretraining = _column("pretraining")
    public = _column("public")
    meets_hurdle = _column("meets_hurdle")
    own_trend = _column("own_trend")
    train_window = _column("train_window")  # (n, W): training H100e-months, a ring by month
    users_total_m = _column("users_total_m")
    users_spend_weight = _column("users_spend_weight")
    revenue_ytd_m_rmb = _column("revenue_ytd_m_rmb")
    loss_ytd_m_rmb = _column("loss_ytd_m_rmb")
    pretraining_months_ytd = _column("pretraining_months_ytd")
    users_m = _column("users_m")  # (n, S): users by segment, millions
    fit = _column("fit")  # (n, S): sector-fit utility (demand.sector_fit_weight on home sectors)
    flows = _column("flows")  # (n, len(Account)): this month's flows, M RMB
    luck = _column("luck")  # (n, len(Luck), LUCK_BLOCK_MONTHS): standard-normal draws by month

    def __init__(self, n_segments: int, capacity: int = 64, window: int = 12) -> None:
        self._cached: list[str] = []  # columns whose views are in __dict__ now
        self._n = 0
        self.version = 0  # counts changes of the set of rows (entries and exits)
        self.n_segments = n_segments
        self._capacity = max(int(capacity), 1)
        # Scalar columns live in one column-major block per dtype (a column is a contiguous
        # view), so a row is appended, a panel month recorded and exits compacted in one
        # operation per block rather than one per column.
        self._arrays: dict[str, np.ndarray] = {}
        self._init_rows: dict[str, np.ndarray] = {}
        for group, names in BLOCKS.items():
            dtype = SCALARS[names[0]][0]
            self._init_rows[group] = np.array([SCALARS[c][1] for c in names], dtype=dtype)
            block = np.empty((self._capacity, len(names)), dtype=dtype, order="F")
            block[:] = self._init_rows[group]
            self._arrays[group] = block
        wide = {
            "users_m": (n_segments,),
            "fit": (n_segments,),
            "flows": (len(Account),),
            "train_window": (window,),
            "luck": (len(Luck), LUCK_BLOCK_MONTHS),
        }
        for name, shape in wide.items():
            self._arrays[name] = np.zeros((self._capacity, *shape))
        self._wide = tuple(wide)
        self._data: dict[str, np.ndarray] = {}
        self._bind()
        self._row_of: dict[int, int] = {}

    def _bind(self) -> None:
        """Point every column name at its full-capacity array (a view into its block)."""
        for name, (group, j) in LAYOUT.items():
            self._data[name] = self._arrays[group][:, j]
        for name in self._wide:
            self._data[name] = self._arrays[name]
        self._forget_views()

    def _forget_views(self) -> None:
        """Drop the cached column views (they cover the first n rows of the old allocation)."""
        attrs = self.__dict__
        for name in self._cached:
            attrs.pop(name, None)
        self._cached.clear()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in COLUMNS:  # a column: write into its rows
            view = self.__dict__.get(name)
            if view is None:
                view = getattr(self, name)
            if value is not view:  # (a stage that updated the column in place hands it back)
                view[...] = value
        else:
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        """Number of active firms (rows in use)."""
        return self._n

    @n.setter
    def n(self, value: int) -> None:
        self._n = value
        self.version += 1
        self._forget_views()  # column views cover the first n rows

    @property
    def capacity(self) -> int:
        """Rows allocated (grows by doubling)."""
        return self._capacity

    def __len__(self) -> int:
        return self.n

    def row(self, firm_id: int) -> int:
        """Row of an active firm (KeyError if it has exited)."""
        return self._row_of[firm_id]

    def append(self, firm_id: int, **values: Any) -> int:
        """Add a firm at the end (entry order); unspecified columns take their initial values.

        Returns the new row. Unknown column names raise ``KeyError``.
        """
        if self.n == self._capacity:
            self._grow()
        i = self.n
        for group, init in self._init_rows.items():
            self._arrays[group][i] = init
        for name in self._wide:
            self._arrays[name][i] = 0.0
        self._data["firm_id"][i] = firm_id
        for name, value in values.items():
            if name not in self._data:
                raise KeyError(f"no column {name!r} in the firm table")
            self._data[name][i] = value
        self.n += 1
        self._row_of[firm_id] = i
        return i

    def column_sums(self, names: Sequence[str] | None = None) -> dict[str, float]:
        """Sum over active firms of every float and bool column (bools count), one reduction per
        block: for metrics that total many columns; or, given ``names``, of those columns only,
        one reduction each (cheaper for a few)."""
        if names is not None:
            return {c: float(np.add.reduce(getattr(self, c))) for c in names}
        out: dict[str, float] = {}
        for block, names in BLOCKS.items():
            if block != "int64":
                sums = np.add.reduce(self._arrays[block][: self.n], axis=0).tolist()
                out.update(zip(names, sums, strict=True))
        return out

    def block_rows(self, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
        """The rows ``rows`` (an index, or a slice of the active rows) of every scalar block
        (``BLOCKS``; columns by ``LAYOUT``) and of ``flows``: views for a slice (valid until the
        table changes), copies for an index."""
        if isinstance(rows, slice):
            rows = range(self.n)[rows]
            rows = slice(rows.start, rows.stop, rows.step)  # within the active rows
        return {name: self._arrays[name][rows] for name in (*BLOCKS, "flows")}

    def blocks(self) -> dict[str, np.ndarray]:
        """Every scalar block (``BLOCKS``; columns by ``LAYOUT``) whole, all ``capacity`` rows, of
        which the first ``n`` are the active firms: arrays of one layout whatever ``n`` (for
        compiled kernels, which compile once per layout). Valid until the table grows."""
        return {name: self._arrays[name] for name in BLOCKS}

    def remove_rows(self, rows: np.ndarray) -> None:
        """Drop the rows ``rows`` (exited firms) at once; the others keep their order."""
        if len(rows) == 0:
            return
        n = self.n
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        k = int(np.count_nonzero(keep))
        gone = self._data["firm_id"][rows].tolist()
        first = int(np.min(rows))  # rows above the first removed one stay where they are
        kept = keep[first:].nonzero()[0] + first
        for arr in self._arrays.values():
            arr[first:k] = arr[kept]
        self.n = k
        row_of = self._row_of
        for f in gone:
            del row_of[f]
        row_of.update(zip(self._data["firm_id"][first:k].tolist(), range(first, k), strict=True))

    def _grow(self) -> None:
        new_cap = 2 * self._capacity
        for name, arr in self._arrays.items():
            order = "F" if name in BLOCKS else "C"
            grown = np.empty((new_cap, *arr.shape[1:]), dtype=arr.dtype, order=order)
            grown[: self._capacity] = arr
            self._arrays[name] = grown
        self._capacity = new_cap
        self._bind()


#: Names of the firm table's columns (``FirmTable``'s ``_Column`` attributes).
COLUMNS: frozenset[str] = frozenset(k for k, v in vars(FirmTable).items() if isinstance(v, _Column))
