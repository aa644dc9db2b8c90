"""The dashboard's logic, without the web framework: levers from the schema, runs, tables, charts.

``sim.dashboard_app`` (Solara) draws this; everything here is plain Python so tests can check it
without a browser. Levers are scenario fields named by their key path; their labels, units, bounds
and descriptions are read from the pydantic schema (``sim.scenario``), never typed again here.
A run steps the lever run and a reference run (the scenario file as written, same seed) month by
month; every series comes from the model's Recorder (Mesa's DataCollector interface).
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.calendar import month_label
from sim.params import field_at, set_path
from sim.scenario import Scenario, load_scenario
from sim.vocab import KINDS, START_YEAR

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from sim.model import GenAIMarket

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
TARGETS = ROOT / "calibration" / "targets.csv"

#: Key paths of the levers the dashboard offers, in display order.
LEVER_PATHS = (
    "policy.export_control_scale",
    "policy.export_control_shift_months",
    "policy.subsidy_scale",
    "capital.inflow_2021_m_rmb_per_month",
    "technology.open_release_gap_log10",
    "policy.regulation.approval_delay_mean_months",
    "seed",
)
#: Events shown in the feed (firm entries and exits).
FEED_EVENTS = ("entry", "pivoted", "acquired", "bankrupt")
#: Units written at the end of field names (the schema's convention), longest first.
_UNIT_SUFFIXES = (
    ("_m_rmb_per_month", "M RMB per month"),
    ("_m_rmb_per_year", "M RMB per year"),
    ("_m_rmb", "M RMB"),
    ("_months", "months"),
    ("_log10", "log10"),
    ("_scale", "multiplier"),
)
OVERRIDES_FROM = "dashboard"
"""How a bad lever value is attributed in the schema's message (``dashboard: key.path: ...``)."""


@dataclass(frozen=True)
class Lever:
    """One scenario field offered as a lever, described entirely by the schema."""

    path: str
    label: str
    unit: str
    description: str
    low: float | None
    high: float | None
    integer: bool


def lever(path: str) -> Lever:
    """The lever at key path ``path`` (``policy.subsidy_scale``), read from the schema."""
    field = field_at(path)
    if field is None:
        raise KeyError(f"{path} runs past a leaf of the scenario schema")
    name = path.rsplit(".", 1)[-1]
    low = high = None
    for meta in field.metadata:
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
    unit = next((u for suffix, u in _UNIT_SUFFIXES if name.endswith(suffix)), "")
    stem = name
    for suffix, _ in _UNIT_SUFFIXES:
        if stem.endswith(suffix) and suffix != "_scale":
            stem = stem[: -len(suffix)]
            break
    return Lever(
        path=path,
        label=stem.replace("_", " ").capitalize(),
        unit=unit,
        description=field.description or "",
        low=low,
        high=high,
        integer=field.annotation is int,
    )


LEVERS: tuple[Lever, ...] = tuple(lever(p) for p in LEVER_PATHS)


def lever_values(scenario: Scenario) -> dict[str, float | int]:
    """The levers' values in a validated scenario."""
    values: dict[str, float | int] = {}
    for lv in LEVERS:
        value: Any = scenario
        for key in lv.path.split("."):
            value = getattr(value, key)
        values[lv.path] = value
    return values


def overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Nested scenario overrides from ``{key.path: value}``."""
    nested: dict[str, Any] = {}
    for path, value in values.items():
        set_path(nested, path, value)
    return nested


def scenario_choices(extra: Path | None = None) -> dict[str, Path]:
    """Scenario files offered in the picker: ``scenarios/*.yaml`` and ``extra``, by stem."""
    choices = {p.stem: p for p in sorted(SCENARIOS.glob("*.yaml"))}
    if extra is not None:
        choices.setdefault(extra.stem, extra)
        if choices[extra.stem].resolve() != extra.resolve():
            choices[str(extra)] = extra
    return choices


def market_targets(path: Path = TARGETS) -> list[tuple[int, float]]:
    """iiMedia's market points (year, bn RMB) from the calibration targets."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            (int(row["period"]), float(row["value"]))
            for row in csv.DictReader(fh)
            if row["target"] == "market_size"
        ]


class DashboardRun:
    """A lever run and its reference (the scenario file as written, same seed), stepped together.

    ``values`` maps key paths to values: the levers, and any other field (``end``), which then
    applies to the reference as well. Raises ``InputError`` with the schema's message if a lever
    value is not allowed.
    """

    def __init__(self, scenario_path: Path, values: dict[str, Any]) -> None:
        from sim.model import GenAIMarket  # imports Mesa; the CLI does not need it

        self.scenario_path = Path(scenario_path)
        self.values = dict(values)
        self.scenario = load_scenario(self.scenario_path, overrides(values), OVERRIDES_FROM)
        seed = self.scenario.seed
        # The reference keeps the file's levers; other overrides (e.g. ``end``) apply to both.
        kept = {k: v for k, v in values.items() if k not in LEVER_PATHS}
        self.reference_scenario = load_scenario(
            self.scenario_path, overrides({**kept, "seed": seed}), OVERRIDES_FROM
        )
        self.is_reference = self.scenario == self.reference_scenario
        self.model: GenAIMarket = GenAIMarket(self.scenario, seed=seed)
        self.reference: GenAIMarket = GenAIMarket(self.reference_scenario, seed=seed)
        self.lock = threading.Lock()

    @property
    def months_done(self) -> int:
        """Months simulated so far."""
        return self.model.datacollector.n_metric_months

    @property
    def n_months(self) -> int:
        """Months in the scenario."""
        return self.model.n_months

    @property
    def running(self) -> bool:
        """False once the scenario's last month has been simulated."""
        return bool(self.model.running)

    def month_text(self) -> str:
        """The month shown on the page."""
        if self.months_done == 0:
            return f"Month: not started (0 of {self.n_months} simulated)"
        label = month_label(self.months_done - 1)
        return f"Month: {label} ({self.months_done} of {self.n_months} simulated)"

    def step(self, months: int = 1) -> None:
        """Advance both runs by up to ``months`` months (not beyond the scenario's end)."""
        with self.lock:
            for _ in range(months):
                if not self.model.running:
                    break
                self.model.step()
                if self.reference.running:
                    self.reference.step()

    def run_to_end(self) -> None:
        """Simulate every remaining month."""
        self.step(self.n_months)

    # -- tables (all from the Recorder) ---------------------------------------------------------

    def metrics(self, reference: bool = False) -> pd.DataFrame:
        """Monthly series of the lever run (or the reference), from its DataCollector."""
        model = self.reference if reference else self.model
        with self.lock:
            frame = model.datacollector.get_model_vars_dataframe()
        if frame.empty:  # nothing recorded yet: no columns either
            frame = frame.reindex(columns=["month"])
        frame.insert(1, "date", [month_label(int(m)) for m in frame["month"]])
        return frame

    def firms(self, reference: bool = False) -> pd.DataFrame:
        """The firm panel (one row per firm and month)."""
        model = self.reference if reference else self.model
        with self.lock:
            return model.datacollector.firms_frame()

    def events(self, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
        """The lever run's event log (optionally only ``kinds`` of event), newest first."""
        with self.lock:
            frame = self.model.datacollector.events_frame()
        if kinds is not None:
            frame = frame[frame["event"].isin(kinds)]
        frame = frame.iloc[::-1].reset_index(drop=True)
        frame.insert(1, "date", [month_label(int(m)) for m in frame["month"]])
        return frame

    def leader_shares(self, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Monthly user shares of the ``n`` firms with most users now (lever run, reference)."""
        firms = self.firms()
        if firms.empty:
            empty = firms.pivot_table(index="month", columns="firm", values="users_m")
            return empty, empty
        last = firms[firms["month"] == firms["month"].max()]
        leaders = list(last.nlargest(n, "users_m")["firm"])
        return _shares(firms, leaders), _shares(self.firms(reference=True), leaders)

    def csv_tables(self) -> dict[str, bytes]:
        """The run's tables as CSV files for download."""
        return {
            "metrics.csv": self.metrics().to_csv(index=False).encode(),
            "reference_metrics.csv": self.metrics(reference=True).to_csv(index=False).encode(),
            "events.csv": self.events().to_csv(index=False).encode(),
            "firms.csv": self.firms().to_csv(index=False).encode(),
        }


def _shares(firms: pd.DataFrame, leaders: list[str]) -> pd.DataFrame:
    total = firms.groupby("month")["users_m"].sum()
    wide = firms[firms["firm"].isin(leaders)].pivot_table(
        index="month", columns="firm", values="users_m", aggfunc="sum"
    )
    wide = wide.reindex(columns=[f for f in leaders if f in wide.columns])
    return wide.div(total.reindex(wide.index).where(lambda s: s > 0), axis=0)


# -- charts --------------------------------------------------------------------------------------


def _years(months: Any) -> Any:
    return START_YEAR + (months.to_numpy() if hasattr(months, "to_numpy") else months) / 12.0


def _figure(title: str, ylabel: str) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.0), dpi=80, layout="constrained")
    ax = fig.subplots()
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    return fig, ax


def _lines(
    ax: Any, run: pd.DataFrame, ref: pd.DataFrame | None, columns: dict[str, str], **kw: Any
) -> None:
    """Solid lines of the lever run and dashed ones of the reference, one colour per column."""
    for j, (col, label) in enumerate(columns.items()):
        colour = kw.get("colours", {}).get(col, f"C{j}")
        if ref is not None and not ref.empty:
            ax.plot(_years(ref["month"]), ref[col], color=colour, ls="--", lw=1.2, alpha=0.9)
        if not run.empty:
            ax.plot(_years(run["month"]), run[col], color=colour, lw=1.6, label=label)


def _finish(ax: Any, n_months: int, reference: bool) -> None:
    ax.set_xlim(START_YEAR, START_YEAR + n_months / 12.0)
    handles, labels = ax.get_legend_handles_labels()
    if reference:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="grey", ls="--", lw=1))
        labels.append("reference (file, same seed)")
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncol=2, frameon=False)


def charts(run: DashboardRun) -> dict[str, Figure]:
    """The dashboard's charts, each with the reference run dashed (unless the levers are as in
    the file, when the reference is the same run)."""
    m = run.metrics()
    ref = None if run.is_reference else run.metrics(reference=True)
    n = run.n_months
    figs: dict[str, Figure] = {}

    fig, ax = _figure("Active foundation-model developers by kind", "firms")
    cols = {"active_developers": "all", **{f"active_{k}": k for k in KINDS}}
    cols["app_layer_firms"] = "application layer"
    _lines(ax, m, ref, cols)
    _finish(ax, n, ref is not None)
    figs["consolidation"] = fig

    fig, ax = _figure("Market size (annualised)", "bn RMB per year")
    _lines(ax, m, ref, {"market_size_bn_rmb_annualised": "simulated"})
    points = market_targets()
    ax.scatter(
        [y + 0.5 for y, _ in points], [v for _, v in points], color="k", marker="D", s=25,
        zorder=5, label="iiMedia (calendar year)",
    )  # fmt: skip
    _finish(ax, n, ref is not None)
    figs["market"] = fig

    fig, ax = _figure("Concentration of users", "HHI / share")
    _lines(ax, m, ref, {"hhi_users": "HHI", "cr3_users": "top-3 share"})
    ax.set_ylim(0, 1)
    _finish(ax, n, ref is not None)
    figs["concentration"] = fig

    fig, ax = _figure("Compute price and domestic chips", "M RMB per H100e-month")
    _lines(ax, m, ref, {"compute_price_m_rmb_per_h100e_month": "compute price"})
    ax2 = ax.twinx()
    ax2.tick_params(labelsize=8)
    ax2.set_ylabel("domestic share of installed chips", fontsize=9)
    ax2.set_ylim(0, 1)
    _lines(ax2, m, ref, {"domestic_chip_share": "domestic chip share"}, colours={})
    for line in ax2.get_lines():
        line.set_color("C3")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left", frameon=False)
    ax.set_xlim(START_YEAR, START_YEAR + n / 12.0)
    figs["compute"] = fig

    fig, ax = _figure("Leading firms' shares of users", "share of users")
    shares, ref_shares = run.leader_shares()
    for j, firm in enumerate(shares.columns):
        if ref is not None and firm in ref_shares.columns:
            ax.plot(_years(ref_shares.index), ref_shares[firm], color=f"C{j}", ls="--", lw=1.2)
        ax.plot(_years(shares.index), shares[firm], color=f"C{j}", lw=1.6, label=str(firm))
    ax.set_ylim(0, 1)
    _finish(ax, n, ref is not None)
    figs["leaders"] = fig
    return figs
