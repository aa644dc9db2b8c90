"""Figures from result tables (matplotlib's object API: no pyplot, no global backend state).

Every figure shows the median across replications with a 10-90 % band, names the scenario and the
number of replications, and states its units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.summary import band
from sim.vocab import KINDS, START_YEAR

KIND_COLOURS = {
    "megatech": "#1f77b4",
    "startup": "#d62728",
    "institute": "#2ca02c",
    "vertical": "#9467bd",
}


def _dates(index: pd.Index) -> pd.DatetimeIndex:
    return pd.to_datetime([f"{START_YEAR + m // 12}-{m % 12 + 1:02d}-01" for m in index])


def _banded(ax, metrics: pd.DataFrame, column: str, label: str, colour: str | None = None) -> None:
    b = band(metrics, column)
    x = _dates(b.index)
    (line,) = ax.plot(x, b["p50"], label=label, color=colour, lw=1.8)
    ax.fill_between(x, b["p10"], b["p90"], color=line.get_color(), alpha=0.2, lw=0)


def _caption(fig: Figure, text: str) -> None:
    """A caption under the axes, wrapped to the figure's width, with room kept for it by the
    layout engine (so no caption is cut off)."""
    import textwrap

    width_chars = int(fig.get_figwidth() * 72 / 8 * 1.9)  # 8-pt text, ~0.53 em per character
    lines = textwrap.wrap(text, width=max(width_chars, 40)) or [""]
    line_h = 8 * 1.35 / 72 / fig.get_figheight()  # one line, as a share of the figure height
    room = 0.01 + line_h * len(lines)
    fig.get_layout_engine().set(rect=(0, room + 0.01, 1, 1 - room - 0.01))
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=8, color="0.3", va="bottom")


THIN_FIELD = 3
"""Below this many active developers, shares and concentration describe one or two firms."""


def thin_until(developers: pd.DataFrame) -> int | None:
    """The first month index from which the median replication has at least ``THIN_FIELD``
    active developers and keeps them (None if it never has; 0 if it always has).

    ``developers``: rows with ``replication``, ``month`` and ``active_developers``.
    """
    med = developers.groupby("month")["active_developers"].median().sort_index()
    thin = med < THIN_FIELD
    if not thin.any():
        return int(med.index.min()) if len(med) else None
    last_thin = thin[thin].index.max()
    later = med.index[med.index > last_thin]
    return int(later.min()) if len(later) else None


def _mark_thin(ax: Axes, until: int | None, start: int = 0) -> None:
    """Grey the months before ``until`` (fewer than three developers), labelled on the axes."""
    if until is None or until <= start:
        return
    x0, x1 = _dates(pd.Index([start, until]))
    ax.axvspan(x0, x1, facecolor="none", hatch="//", edgecolor="0.55", lw=0, zorder=3)
    ax.text(
        x0,
        0.98,
        f" fewer than {THIN_FIELD} developers:\n shares describe one or two firms",
        transform=ax.get_xaxis_transform(),
        fontsize=7,
        color="0.35",
        va="top",
    )


def _axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(9, 5), layout="constrained")
    return fig, fig.add_subplot()


def _who(metrics: pd.DataFrame) -> tuple[str, int]:
    """The scenario names and the number of replications in a metrics table (for captions)."""
    return ", ".join(dict.fromkeys(metrics["scenario"])), int(metrics["replication"].nunique())


def _finish(
    fig: Figure,
    ax: Axes,
    path: Path,
    title: str,
    ylabel: str,
    legend: dict[str, object],
    scenario: str,
    replications: int,
    band: bool = True,
) -> Path:
    """Title, units, legend, grid, a caption naming scenario, replications and band; save."""
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, **legend)
    ax.grid(alpha=0.3, which="both")
    scen, n = scenario, replications
    what = (
        f"Lines: median of {n} replications; bands: 10-90 % across replications."
        if band
        else f"Pooled over {n} replications."
    )
    _caption(fig, f"Scenario: {scen}. {what}")
    fig.savefig(path, dpi=120)
    return path


def consolidation(
    metrics: pd.DataFrame, path: Path, marks: list[tuple[str, float, str]] | None = None
) -> Path:
    """Active foundation-model developers over time, total and by kind.

    ``marks``: published counts to show as points, (YYYY-MM, value, label).
    """
    fig, ax = _axes()
    _banded(ax, metrics, "active_developers", "all developers", "black")
    for kind in KINDS:
        _banded(ax, metrics, f"active_{kind}", kind, KIND_COLOURS[kind])
    for month, value, label in marks or []:
        ax.plot(pd.to_datetime(month + "-01"), value, "D", color="C3", ms=8, label=label)
    ax.set_ylim(bottom=0)
    return _finish(
        fig,
        ax,
        path,
        "Consolidation: active foundation-model developers",
        "active developers (count)",
        {"loc": "upper left"},
        *_who(metrics),
    )


def market_size(metrics: pd.DataFrame, path: Path) -> Path:
    """Market size (the annualised monthly AIGC core market, bn RMB), log scale."""
    fig, ax = _axes()
    pos = metrics[metrics["market_size_bn_rmb_annualised"] > 0]
    _banded(ax, pos, "market_size_bn_rmb_annualised", "simulated market size", "#1f77b4")
    ax.set_yscale("log")
    # The first months' few-firm revenues would stretch the log axis over decades of nothing.
    top = float(band(pos, "market_size_bn_rmb_annualised")["p90"].max()) if len(pos) else 1.0
    ax.set_ylim(bottom=max(top * 1e-4, ax.get_ylim()[0]))
    return _finish(
        fig,
        ax,
        path,
        "Market size (China AIGC core market definition)",
        "bn RMB per year (monthly market x 12, log scale)",
        {"loc": "upper left"},
        *_who(metrics),
    )


def concentration(metrics: pd.DataFrame, path: Path) -> Path:
    """HHI and top-three shares of users and revenue."""
    fig, ax = _axes()
    for col, label, colour in (
        ("cr3_users", "top-3 share of users", "#1f77b4"),
        ("cr3_revenue", "top-3 share of revenue", "#ff7f0e"),
        ("hhi_users", "HHI of users", "#2ca02c"),
        ("hhi_revenue", "HHI of revenue", "#d62728"),
    ):
        _banded(ax, metrics, col, label, colour)
    for level, label in (
        (0.10, "HHI 1,000: moderately concentrated"),
        (0.18, "HHI 1,800: highly concentrated (US merger guidelines 2023)"),
    ):
        ax.axhline(level, color="0.4", ls=":", lw=1)
        ax.text(
            ax.get_xlim()[1],
            level + 0.005,
            label + " ",
            fontsize=7,
            color="0.4",
            va="bottom",
            ha="right",
        )
    ax.set_ylim(0, 1)
    _mark_thin(ax, thin_until(metrics), int(metrics["month"].min()))
    return _finish(
        fig,
        ax,
        path,
        "Concentration of users and revenue",
        "share or HHI (0-1)",
        {"loc": "upper right", "ncols": 2},
        *_who(metrics),
    )


def paired_differences(metrics: pd.DataFrame, column: str, reference: str) -> pd.DataFrame:
    """``column`` of every other scenario minus the reference's, replication by replication and
    month by month (replication ``i`` of every scenario shares its seed): rows of scenario,
    replication, month and the difference (named ``column``)."""
    keys = ["replication", "month"]
    ref = metrics.loc[metrics["scenario"] == reference, [*keys, column]]
    others = metrics.loc[metrics["scenario"] != reference, ["scenario", *keys, column]]
    merged = others.merge(ref, on=keys, suffixes=("", "_ref"))
    merged[column] = merged[column] - merged[f"{column}_ref"]
    return merged[["scenario", *keys, column]]


def scenarios_figure(
    metrics: pd.DataFrame,
    column: str,
    path: Path,
    title: str,
    ylabel: str,
    log: bool = False,
    reference: str | None = None,
    diff_label: str | None = None,
) -> Path:
    """One metric for every scenario in ``metrics``, median and 10-90 % band each; with a
    ``reference``, a second panel shows each other scenario's paired difference to it (median
    and 10-90 % across replications of the difference), where a policy's effect can be seen
    even when the level bands overlap."""
    names = list(dict.fromkeys(metrics["scenario"]))
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    paired = reference is not None and reference in names and len(names) > 1
    if paired:
        fig = Figure(figsize=(9, 7), layout="constrained")
        ax, dax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        fig, ax = _axes()
    data = metrics[metrics[column] > 0] if log else metrics
    for name, group in data.groupby("scenario", sort=False):
        _banded(ax, group, column, str(name), colours[str(name)])
    if log:
        ax.set_yscale("log")
        top = float(data[column].max()) if len(data) else 1.0
        ax.set_ylim(bottom=max(top * 1e-4, ax.get_ylim()[0]))  # not decades of a few firms
    else:
        ax.set_ylim(bottom=0)
    if column.startswith(("cr3", "hhi")):  # shares of one or two firms say nothing
        first = metrics[metrics["scenario"] == names[0]]
        _mark_thin(ax, thin_until(first), int(metrics["month"].min()))
    if paired:
        diffs = paired_differences(metrics, column, str(reference))
        for name, group in diffs.groupby("scenario", sort=False):
            _banded(dax, group, column, f"{name} - {reference}", colours[str(name)])
        dax.axhline(0, color="0.3", lw=1)
        dax.set_ylabel(diff_label or f"difference to {reference}")
        dax.legend(frameon=False, fontsize=8, loc="best")
        dax.grid(alpha=0.3)
        dax.set_title(
            f"Paired difference to {reference} (same seeds): median and 10-90 % across "
            "replications",
            fontsize=9,
        )
    return _finish(fig, ax, path, title, ylabel, {"loc": "best", "fontsize": 8}, *_who(metrics))


def run_figures(metrics: pd.DataFrame, folder: Path) -> list[Path]:
    """The standard figures of a run, as PNG files in ``folder``."""
    folder = Path(folder)
    return [
        consolidation(metrics, folder / "consolidation.png"),
        market_size(metrics, folder / "market_size.png"),
        concentration(metrics, folder / "concentration.png"),
    ]


def cell_noise(runs: pd.DataFrame, x: str, y: str, outcome: str) -> pd.DataFrame:
    """Per grid cell (x, y): mean over replications, its standard error and whether the cell is
    *within noise of the best*: its difference to the cell with the highest mean, taken
    replication by replication (points share seeds: common random numbers), is under 1.96
    standard errors of the mean difference, so the replications cannot tell the two apart at
    about 95 %."""
    data = runs.dropna(subset=[outcome])
    g = data.groupby([y, x])[outcome]
    cells = pd.DataFrame({"mean": g.mean(), "n": g.size(), "sd": g.std(ddof=1)})
    cells["se"] = (cells["sd"] / np.sqrt(cells["n"])).where(cells["n"] > 1, np.inf).fillna(np.inf)
    best = cells["mean"].idxmax()
    per_rep = data.pivot_table(index="replication", columns=[y, x], values=outcome)
    diff = per_rep.sub(per_rep[best], axis=0)  # paired: same replication, same seed
    n = diff.notna().sum()
    se_diff = (diff.std(ddof=1) / np.sqrt(n)).where(n > 1, np.inf).fillna(np.inf)
    gap = -diff.mean()
    tied = (gap < 1.96 * se_diff) | (gap == 0)
    cells["best"] = cells.index == best
    cells["tied_with_best"] = tied.reindex(cells.index).fillna(False).astype(bool) & ~cells["best"]
    return cells


def heatmap(
    runs: pd.DataFrame,
    x: str,
    y: str,
    outcome: str,
    path: Path,
    title: str,
    caption: str,
    labels: tuple[str, str, str] | None = None,
    digits: int = 2,
) -> Path:
    """An outcome on a 2-D grid of two swept parameters, from the per-run table ``runs``.

    Each cell shows the mean over replications and its standard error; cells the replications
    cannot tell apart from the best one are hatched and the best is outlined, so the colour scale
    is not read as a ranking where there is only noise. Text is black or white by the cell's
    lightness. ``labels`` are the x, y and colour-bar labels (default: the raw names).
    """
    import matplotlib as mpl

    cells = cell_noise(runs, x, y, outcome)
    digits = max(digits, 1)  # means over replications of counts are not counts
    mean = cells["mean"].unstack(x)
    se = cells["se"].unstack(x)
    tied = cells["tied_with_best"].unstack(x).fillna(False)
    best = cells["best"].unstack(x).fillna(False)
    xl, yl, cl = labels or (x, y, outcome)
    fig, ax = _axes()
    cmap = mpl.colormaps["viridis"]
    values = mean.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    norm = mpl.colors.Normalize(lo, hi if hi > lo else lo + 1.0)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    ax.set_xticks(range(len(mean.columns)), [f"{v:g}" for v in mean.columns])
    ax.set_yticks(range(len(mean.index)), [f"{v:g}" for v in mean.index])
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    for (i, j), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        r, g_, b, _ = cmap(norm(value))
        dark = 0.299 * r + 0.587 * g_ + 0.114 * b < 0.5
        err = se.to_numpy()[i, j]
        text = f"{value:.{digits}f}" + (f"\n±{err:.{digits}f}" if np.isfinite(err) else "")
        ax.text(
            j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black"
        )
        if tied.to_numpy()[i, j]:
            ax.add_patch(
                mpl.patches.Rectangle(
                    (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.85", lw=0
                )
            )
        if best.to_numpy()[i, j]:
            ax.add_patch(
                mpl.patches.Rectangle(
                    (j - 0.48, i - 0.48), 0.96, 0.96, fill=False, edgecolor="red", lw=2
                )
            )
    fig.colorbar(image, ax=ax, label=cl)
    ax.set_title(title, fontsize=10)
    n = int(cells["n"].min()) if len(cells) else 0
    _caption(
        fig,
        f"{caption} Cells: mean ± standard error over {n}+ replications; red outline: highest "
        "mean; hatched: within noise of it (paired difference by replication, common random "
        "numbers, < 1.96 standard errors).",
    )
    fig.savefig(path, dpi=120)
    return path


def sensitivity_bars(table: pd.DataFrame, path: Path, title: str, caption: str) -> Path:
    """Sobol S1 and ST (with confidence intervals) or Morris mu* (with sigma), per outcome."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig = Figure(figsize=(9, 2.2 + 2.0 * len(outcomes)), layout="constrained")
    axes = fig.subplots(len(outcomes), 1, squeeze=False)[:, 0]
    sobol = "S1" in table.columns
    for ax, outcome in zip(axes, outcomes, strict=True):
        t = table[table["outcome"] == outcome]
        pos = np.arange(len(t))
        if sobol:
            ax.barh(pos - 0.2, t["S1"], 0.4, xerr=t["S1_conf"], label="first order S1")
            ax.barh(pos + 0.2, t["ST"], 0.4, xerr=t["ST_conf"], label="total ST")
            ax.set_xlabel("Sobol index (share of output variance), 95 % CI")
        else:
            ax.barh(pos, t["mu_star"], 0.6, xerr=t["mu_star_conf"], label="mu* (mean |effect|)")
            ax.plot(t["sigma"], pos, "k|", markersize=12, label="sigma")
            ax.set_xlabel("elementary effect (outcome units), 95 % CI")
        ax.set_yticks(pos, t["parameter"], fontsize=8)
        ax.set_title(outcome, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    axes[0].legend(frameon=False, fontsize=8, loc="lower right")
    fig.suptitle(title)
    _caption(fig, caption)
    fig.savefig(path, dpi=120)
    return path


def calibration_fit(
    fit: pd.DataFrame,
    path: Path,
    replications: int,
    title: str = "Calibration fit: targets and simulated medians",
    caption: str | None = None,
) -> Path:
    """Targets against simulated medians with 10-90 % bands, one panel per target (tolerance
    relative where the table's ``relative`` column says so, else absolute)."""
    fig = Figure(figsize=(max(9, 2.2 * len(fit)), 3.8), layout="constrained")
    axes = fig.subplots(1, len(fit), squeeze=False)[0]
    for ax, row in zip(axes, fit.itertuples(), strict=True):
        ax.errorbar(
            [0],
            [row.simulated_median],
            yerr=[
                [row.simulated_median - row.simulated_p10],
                [row.simulated_p90 - row.simulated_median],
            ],
            fmt="o",
            capsize=6,
            label="simulated median, 10-90 %",
        )
        relative = getattr(row, "relative", row.target == "market_size")
        tol = row.value * row.tolerance if relative else row.tolerance
        ax.axhspan(row.value - tol, row.value + tol, color="0.85", label="target ± tolerance")
        ax.axhline(row.value, color="black", lw=1, label="target")
        ax.set_xticks([])
        from sim.calibrate import TARGET_KINDS

        kind = TARGET_KINDS.get(row.target)
        unit = kind.unit if kind else row.target
        reported = getattr(row, "weight", 1.0) == 0
        ax.set_title(
            f"{row.target} {row.period}" + ("\n(reported, not fitted)" if reported else ""),
            fontsize=10,
        )
        ax.set_ylabel(unit)
    axes[0].legend(frameon=False, fontsize=7, loc="lower left")
    fig.suptitle(title)
    _caption(
        fig,
        caption
        or f"Best parameters re-run with {replications} replications; bars: 10-90 % "
        "across replications; grey: the target's tolerance.",
    )
    fig.savefig(path, dpi=120)
    return path


def loss_history(history: pd.DataFrame, path: Path) -> Path:
    """Loss of every completed trial and the best so far (log scale)."""
    fig, ax = _axes()
    ax.scatter(history["trial"], history["loss"], s=10, color="0.5", label="trial")
    ax.plot(history["trial"], history["best_so_far"], color="C3", label="best so far")
    ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss (squared errors in tolerance units, log scale)")
    ax.set_title("Calibration: loss history")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    _caption(fig, "Optuna TPE; each trial runs the same replication seeds.")
    fig.savefig(path, dpi=120)
    return path


def loss_profiles(
    profiles: pd.DataFrame, best: dict[str, float], best_loss: float, path: Path
) -> Path:
    """One-at-a-time loss profiles around the optimum (flat = not identified)."""
    names = list(dict.fromkeys(profiles["parameter"]))
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(3.3 * cols, 2.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        g = profiles[profiles["parameter"] == name]
        ax.plot(g["value"], g["loss"], "o-", ms=3)
        ax.axvline(best[name], color="C3", lw=1)
        ax.axhline(best_loss + 1, color="0.5", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("Loss profiles around the optimum (others at their best values)")
    _caption(
        fig, "Red: best value; dotted: best loss + 1 (the identification threshold); log scale."
    )
    fig.savefig(path, dpi=120)
    return path


def market_vs_forecast(
    annual: pd.DataFrame, points: pd.DataFrame, path: Path, scenario: str
) -> Path:
    """Calendar-year market size (median and 10-90 % band) against published forecast points."""
    fig, ax = _axes()
    q = annual.groupby("year")["market_bn_rmb"].quantile([0.1, 0.5, 0.9]).unstack()
    ax.plot(q.index, q[0.5], "-o", color="#1f77b4", ms=3, label="simulated (median)")
    ax.fill_between(q.index, q[0.1], q[0.9], color="#1f77b4", alpha=0.2, lw=0)
    if len(points):
        ax.plot(
            points["period"].astype(int),
            points["value"],
            "D",
            color="C3",
            ms=8,
            label="iiMedia forecast (published points)",
        )
    ax.set_yscale("log")
    # A few firms' first-year revenues would stretch the log axis over decades of nothing.
    top = float(q[0.9].max()) if len(q) else 1.0
    low = top * 1e-3
    ax.set_ylim(bottom=low)
    hidden = [int(y) for y in q.index if q.loc[y, 0.5] < low]
    if hidden:
        ax.text(
            0.01,
            0.02,
            f"off the axis (below {low:.2g} bn RMB): {', '.join(map(str, hidden))}",
            transform=ax.transAxes,
            fontsize=7,
            color="0.35",
        )
    ax.set_xlabel("year")
    return _finish(
        fig,
        ax,
        path,
        "Market size against iiMedia's forecast (China AIGC core market)",
        "bn RMB per calendar year (log scale)",
        {"loc": "upper left"},
        scenario,
        int(annual["replication"].nunique()),
    )


def leader_shares(firms: pd.DataFrame, path: Path, top: int = 6) -> Path:
    """Stacked shares of users and revenue of the leading firms (mean over replications)."""
    import matplotlib as mpl

    active = firms[firms["status"] == "active"]
    fig = Figure(figsize=(9, 6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    n_rep = firms["replication"].nunique()
    for ax, col, label in (
        (axes[0], "users_m", "share of users"),
        (axes[1], "revenue_m_rmb", "share of revenue"),
    ):
        total = active.groupby(["replication", "month"])[col].transform("sum")
        share = active.assign(share=active[col] / total.where(total > 0))
        mean = share.groupby(["month", "firm"])["share"].sum().unstack(fill_value=0) / n_rep
        leaders = list(mean.iloc[-1].sort_values(ascending=False).index[:top])
        stack = mean[leaders].copy()
        stack["all others"] = (1 - stack.sum(axis=1)).clip(lower=0)
        x = _dates(stack.index)
        # Firms are not kinds: a palette apart from KIND_COLOURS, "all others" in grey.
        palette = [mpl.colormaps["Set2"](i % 8) for i in range(len(leaders))] + ["0.93"]
        ax.stackplot(x, stack.T.to_numpy(), labels=list(stack.columns), colors=palette, alpha=0.9)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        developers = (
            firms[firms["developer"].astype(bool) & (firms["status"] == "active")]
            .groupby(["replication", "month"])
            .size()
            .rename("active_developers")
            .reset_index()
        )
        months = firms[["replication", "month"]].drop_duplicates()
        developers = months.merge(developers, how="left").fillna({"active_developers": 0})
        _mark_thin(ax, thin_until(developers), int(firms["month"].min()))
    # Leaders are not kinds: colours from another palette, legend beside the plots.
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.suptitle("Shares of the leading firms (largest at the end of the run)")
    _caption(
        fig,
        f"Scenario: {', '.join(dict.fromkeys(firms['scenario']))}. Mean share over "
        f"{n_rep} replications; firms named by the roster or by entry order.",
    )
    fig.savefig(path, dpi=120)
    return path


def survival_curves(
    curves: dict[str, pd.DataFrame],
    counts: dict[str, int],
    path: Path,
    scenario: str,
    replications: int,
) -> Path:
    """Kaplan-Meier survival by kind of developer, months since entry."""
    fig, ax = _axes()
    for kind, km in curves.items():
        ax.step(
            km["months"],
            km["survival"],
            where="post",
            color=KIND_COLOURS.get(kind),
            label=f"{kind} (n = {counts.get(kind, 0)})",
        )
        if "lower" in km:
            ax.fill_between(
                km["months"],
                km["lower"],
                km["upper"],
                step="post",
                color=KIND_COLOURS.get(kind),
                alpha=0.15,
                linewidth=0,
            )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("months since entry")
    return _finish(
        fig,
        ax,
        path,
        "Survival of developers by kind (Kaplan-Meier, 90 % band)",
        "share still developing foundation models",
        {"loc": "upper right"},
        scenario,
        replications,
        band=False,
    )


def exits_by_year(events: pd.DataFrame, replications: int, path: Path, scenario: str) -> Path:
    """Exits per year by cause (mean per replication), stacked bars."""
    exits = events[events["event"].isin(["bankrupt", "acquired", "pivoted"])].copy()
    exits["year"] = 2021 + exits["month"] // 12
    table = exits.groupby(["year", "event"]).size().unstack(fill_value=0) / replications
    fig, ax = _axes()
    bottom = np.zeros(len(table))
    for cause, colour in (("bankrupt", "#d62728"), ("acquired", "#1f77b4"), ("pivoted", "#ff7f0e")):
        if cause in table.columns:
            ax.bar(table.index, table[cause], bottom=bottom, color=colour, label=cause)
            bottom += table[cause].to_numpy()
    ax.set_xlabel("year")
    return _finish(
        fig,
        ax,
        path,
        "Exits by cause per year",
        "exits per replication (mean)",
        {"loc": "upper right"},
        scenario,
        replications,
        band=False,
    )


def policy_context(metrics: pd.DataFrame, path: Path) -> Path:
    """Export-control supply factor, subsidy spending and the compute price over time."""
    fig = Figure(figsize=(9, 7), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    med = metrics.groupby("month").median(numeric_only=True)
    x = _dates(med.index)
    axes[0].step(x, med["imported_supply_factor"], where="post", color="C3")
    axes[0].set_ylabel("imported supply\n(share of uncontrolled)")
    axes[0].set_ylim(0, 1.05)
    axes[1].bar(x, med["subsidies_paid_m_rmb"] + med["gov_equity_m_rmb"], width=25, color="C2")
    axes[1].set_ylabel("subsidies and gov.\nequity (M RMB/month)")
    _banded(axes[2], metrics, "compute_price_m_rmb_per_h100e_month", "compute price", "C0")
    axes[2].set_ylabel("compute price\n(M RMB/H100e-month)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("Policy context")
    _caption(
        fig,
        f"Scenario: {', '.join(dict.fromkeys(metrics['scenario']))}. Medians over "
        f"{metrics['replication'].nunique()} replications; compute price with its 10-90 % "
        "band.",
    )
    fig.savefig(path, dpi=120)
    return path


def posterior_pairs(parameters: list, particles: pd.DataFrame, path: Path) -> Path:
    """Posterior marginals (weighted histograms against the flat prior, on the diagonal) and
    pairwise scatter plots of the particles (point size by weight), on each search scale."""
    names = [p.path for p in parameters]
    n = len(names)
    fig = Figure(figsize=(1.9 * n + 1, 1.9 * n + 1), layout="constrained")
    axes = fig.subplots(n, n, squeeze=False)
    w = particles["weight"].to_numpy(dtype=float)
    for i, pi in enumerate(parameters):
        for j, pj in enumerate(parameters):
            ax = axes[i][j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                bins = (
                    np.geomspace(pi.low, pi.high, 16)
                    if pi.log
                    else np.linspace(pi.low, pi.high, 16)
                )
                ax.hist(particles[pi.path], bins=bins, weights=w, color="C0", alpha=0.8)
                ax.axhline(1 / 15, color="0.4", lw=1, ls="--")  # the flat prior per bin
                ax.set_yticks([])
            else:
                ax.scatter(particles[pj.path], particles[pi.path], s=4 + 400 * w, alpha=0.6)
                ax.set_ylim(pi.low, pi.high)
                if pi.log:
                    ax.set_yscale("log")
            ax.set_xlim(pj.low, pj.high)
            if pj.log:
                ax.set_xscale("log")
            ax.tick_params(labelsize=6)
            if i == n - 1:
                ax.set_xlabel(names[j].split(".")[-1], fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(names[i].split(".")[-1], fontsize=7)
    fig.suptitle("Posterior (ABC-SMC): marginals against the flat prior (dashed) and pairs")
    fig.savefig(path, dpi=110)
    return path


def peeling_tradeoff(
    trajectory: pd.DataFrame,
    chosen: int,
    path: Path,
    condition: str,
    final: tuple[float, float] | None = None,
) -> Path:
    """PRIM's peeling trajectory: coverage against density, coloured by restricted dimensions;
    the peeled box chosen and (``final``: coverage, density) the box after dropping restrictions
    that do not beat chance."""
    fig, ax = _axes()
    points = ax.scatter(
        trajectory["coverage"],
        trajectory["density"],
        c=trajectory["res_dim"],
        cmap="viridis",
        s=18,
    )
    ax.plot(trajectory["coverage"], trajectory["density"], color="0.7", lw=0.8, zorder=0)
    row = trajectory.loc[chosen]
    ax.scatter(
        [row["coverage"]],
        [row["density"]],
        s=160,
        facecolors="none",
        edgecolors="red",
        lw=2,
        label=f"box {chosen}, as peeled",
    )
    if final is not None:
        ax.scatter(
            [final[0]],
            [final[1]],
            marker="*",
            s=220,
            color="red",
            label="the box reported (weak restrictions dropped)",
        )
    fig.colorbar(points, ax=ax, label="restricted dimensions")
    ax.set_xlabel("coverage (share of the runs where the condition holds that lie in the box)")
    ax.set_ylabel("density (share of runs in the box where it holds)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, loc="lower left")
    ax.grid(alpha=0.3)
    ax.set_title(f"Peeling trajectory: {condition}", fontsize=10)
    _caption(
        fig,
        "Each point is a box PRIM peeled, from the whole input space (coverage 1) "
        "towards smaller, denser boxes.",
    )
    fig.savefig(path, dpi=120)
    return path


def box_limits(box: pd.DataFrame, path: Path, text: str) -> Path:
    """Each dimension's drawn range (grey) and the box's limits within it (blue: restricted)."""
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(box)), layout="constrained")
    ax = fig.add_subplot()
    for i, r in enumerate(box.itertuples(index=False)):
        span = r.range_high - r.range_low
        lo = (r.low - r.range_low) / span if span else 0.0
        hi = (r.high - r.range_low) / span if span else 1.0
        ax.barh(i, 1.0, left=0.0, color="0.9", height=0.6)
        ax.barh(i, hi - lo, left=lo, color="#1f77b4" if r.restricted else "#9ecae1", height=0.6)
        ax.text(
            1.01,
            i,
            f"{r.low:.3g} to {r.high:.3g}  (of {r.range_low:.3g} to {r.range_high:.3g})",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(
        range(len(box)), [f"{r.dimension} [{r.kind}]" for r in box.itertuples()], fontsize=8
    )
    ax.set_xlim(0, 1.8)
    ax.set_xticks([0, 0.5, 1], ["low end", "middle", "high end"])
    ax.invert_yaxis()
    ax.set_title("The box within each dimension's drawn range (dark: restricted)", fontsize=10)
    _caption(fig, text)
    fig.savefig(path, dpi=120)
    return path


def pareto_front(
    trials: pd.DataFrame, objectives: list[tuple[str, str, int]], path: Path, caption: str
) -> Path:
    """Every pair of objectives: all candidates, the Pareto front highlighted."""
    pairs = [(a, b) for i, a in enumerate(objectives) for b in objectives[i + 1 :]] or [
        (objectives[0], objectives[0])
    ]
    fig = Figure(figsize=(5.5 * len(pairs), 4.8), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    front = trials[trials["pareto"]]
    for ax, (a, b) in zip(axes, pairs, strict=True):
        ax.scatter(trials[a[0]], trials[b[0]], s=14, color="0.65", label="candidates")
        ax.scatter(front[a[0]], front[b[0]], s=30, color="C3", label="Pareto front")
        ax.set_xlabel(f"{a[1]} ({'max' if a[2] > 0 else 'min'})", fontsize=8)
        ax.set_ylabel(f"{b[1]} ({'max' if b[2] > 0 else 'min'})", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle("Policy search: objectives of every candidate")
    _caption(fig, caption)
    fig.savefig(path, dpi=120)
    return path
