"""Self-contained HTML reports and single figures from saved results.

``genai-sim report DIR...`` writes one HTML file (figures embedded as data URIs, styles inline, no
external URL: it opens offline in any browser) for a run, a comparison or a sweep folder.
``genai-sim plot DIR --figure NAME`` redraws one figure as PNG or SVG. Figures come from one
registry (``RUN_FIGURES``), so the report and ``plot`` always draw the same thing.

The report opens with a plain-language summary generated from the numbers (``run_facts``), so the
text and the tables cannot disagree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import plots
from sim.calendar import month_label
from sim.errors import InputError
from sim.outcomes import parse_outcome, quantiles
from sim.runner import RunResult, load_tables
from sim.summary import annual_market_bn_rmb
from sim.vocab import EXIT_CAUSES

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "calibration" / "targets.csv"


# --------------------------------------------------------------------------------------------------
# Pure analysis
# --------------------------------------------------------------------------------------------------


def kaplan_meier(durations: np.ndarray, events: np.ndarray, level: float = 0.9) -> pd.DataFrame:
    """Kaplan-Meier survival estimate with a pointwise confidence band (statsmodels'
    ``SurvfuncRight``; Greenwood standard errors).

    Args:
        durations: (n,) months from entry to exit or to the end of the run (censoring).
        events: (n,) True where the firm exited (any cause), False where it was still active.
        level: coverage of the band.

    Returns:
        A frame with ``months`` (event times, starting at 0), ``survival`` (S(t) just after) and
        ``lower``/``upper`` (the band, clipped to [0, 1]).
    """
    from scipy.stats import norm
    from statsmodels.duration.survfunc import SurvfuncRight

    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    start = pd.DataFrame({"months": [0.0], "survival": [1.0], "lower": [1.0], "upper": [1.0]})
    if not e.any():
        return start
    sf = SurvfuncRight(d, e.astype(int))
    z = norm.ppf(0.5 + level / 2)
    se = np.nan_to_num(sf.surv_prob_se)
    body = pd.DataFrame(
        {
            "months": sf.surv_times.astype(float),
            "survival": sf.surv_prob,
            "lower": np.clip(sf.surv_prob - z * se, 0.0, 1.0),
            "upper": np.clip(sf.surv_prob + z * se, 0.0, 1.0),
        }
    )
    return pd.concat([start, body], ignore_index=True)


def firm_lifetimes(firms: pd.DataFrame) -> pd.DataFrame:
    """One row per firm and replication: kind, entry month, months survived, exited or not."""
    ordered = firms.sort_values("month")
    key = ["replication", "firm_id"]
    last = ordered.groupby(key).tail(1).set_index(key)
    end = firms["month"].max()
    # A developer's life ends when it stops pre-training (the application layer) or leaves.
    stopped = ordered[ordered["status"] != "active"].groupby(key)["month"].min()
    out = last[["firm", "kind", "entry_month", "status"]].copy()
    out["exited"] = out.index.isin(stopped.index)
    out["months"] = stopped.reindex(out.index).fillna(end).to_numpy() - out["entry_month"]
    return out.reset_index()


def targets_table() -> pd.DataFrame:
    """The calibration targets (for marking published figures), or an empty frame."""
    if not TARGETS.is_file():
        return pd.DataFrame(columns=["target", "period", "value"])
    return pd.read_csv(TARGETS, dtype={"period": str})


def run_facts(
    metrics: pd.DataFrame, firms: pd.DataFrame, events: pd.DataFrame, month: str
) -> dict[str, Any]:
    """The numbers the plain-language summary states, for one month (e.g. the last)."""
    at = metrics[metrics["date"] == month]
    n_rep = int(metrics["replication"].nunique())
    active = at["active_developers"].to_numpy()
    lo, hi = (int(np.quantile(active, q, method="nearest")) for q in (0.1, 0.9))
    within = int(np.sum((active >= lo) & (active <= hi)))
    survivors = firms[(firms["date"] == month) & (firms["status"] == "active")]
    share_mega = float((survivors["kind"] == "megatech").mean()) if len(survivors) else 0.0
    year = int(month[:4])
    market = parse_outcome(f"market_size@{year}").values(metrics, events).dropna()
    peak_month = parse_outcome("peak_month").values(metrics, events)
    peak_developers = parse_outcome("peak_developers").values(metrics, events)
    exits = events[events["event"].isin(EXIT_CAUSES)]
    return {
        "month": month,
        "replications": n_rep,
        "active_low": lo,
        "active_high": hi,
        "replications_within": within,
        "megatech_share_of_survivors": share_mega,
        "cr3_users_median": float(at["cr3_users"].median()),
        "market_year": year if len(market) else None,
        "market_bn_rmb_median": float(market.median()) if len(market) else None,
        "peak_median": quantiles(peak_developers)["median"],
        "peak_date": month_label(int(quantiles(peak_month)["median"])),
        "exits_per_replication": {
            c: float((exits["event"] == c).sum() / n_rep) for c in EXIT_CAUSES
        },
    }


def summary_text(facts: dict[str, Any], scenario: str) -> str:
    """One paragraph in plain language, built only from ``facts``."""
    f = facts
    parts = [
        f"In scenario {scenario}, active foundation-model developers peak at about "
        f"{f['peak_median']:.0f} (median across replications; median peak month "
        f"{f['peak_date']}).",
        f"In {f['replications_within']} of {f['replications']} replications, "
        f"{f['active_low']}-{f['active_high']} developers remain in {f['month']}; megatechs are "
        f"{f['megatech_share_of_survivors']:.0%} of the survivors and the three largest hold "
        f"{f['cr3_users_median']:.0%} of users (median).",
    ]
    if f["market_bn_rmb_median"] is not None:
        parts.append(
            f"The market (iiMedia's AIGC core market definition) reaches "
            f"{f['market_bn_rmb_median']:.0f} bn RMB in calendar year {f['market_year']} "
            "(median)."
        )
    ex = f["exits_per_replication"]
    parts.append(
        f"On average a replication sees {ex['bankrupt']:.0f} bankruptcies, "
        f"{ex['acquired']:.0f} acquisitions and {ex['pivoted']:.0f} pivots."
    )
    return " ".join(parts)


# --------------------------------------------------------------------------------------------------
# Figures of a run (one registry for the report and `genai-sim plot`)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSpec:
    """A figure: how to draw it from a run's tables, and its caption."""

    draw: Callable[[RunResult, Path], Path]
    caption: str


def _consolidation(res: RunResult, path: Path) -> Path:
    t = targets_table()
    counts = t[t["target"] == "active_models"]
    return plots.consolidation(
        res.metrics,
        path,
        marks=[
            (str(r.period), float(r.value), f"source report: {r.value:g} models")
            for r in counts.itertuples()
        ],
    )


def _market(res: RunResult, path: Path) -> Path:
    t = targets_table()
    points = t[t["target"] == "market_size"]
    return plots.market_vs_forecast(
        annual_market_bn_rmb(res.metrics), points, path, res.metrics["scenario"].iloc[0]
    )


def _shares(res: RunResult, path: Path) -> Path:
    return plots.leader_shares(res.firms, path)


def _concentration(res: RunResult, path: Path) -> Path:
    return plots.concentration(res.metrics, path)


def _survival(res: RunResult, path: Path) -> Path:
    life = firm_lifetimes(res.firms)
    curves = {
        k: kaplan_meier(g["months"].to_numpy(), g["exited"].to_numpy())
        for k, g in life.groupby("kind")
    }
    return plots.survival_curves(
        curves,
        life.groupby("kind").size().to_dict(),
        path,
        res.metrics["scenario"].iloc[0],
        int(res.metrics["replication"].nunique()),
    )


def _exits(res: RunResult, path: Path) -> Path:
    return plots.exits_by_year(
        res.events, int(res.metrics["replication"].nunique()), path, res.metrics["scenario"].iloc[0]
    )


def _policy(res: RunResult, path: Path) -> Path:
    return plots.policy_context(res.metrics, path)


RUN_FIGURES: dict[str, FigureSpec] = {
    "consolidation": FigureSpec(
        _consolidation,
        "Active foundation-model developers by kind; the source report's mid-2023 count is marked.",
    ),
    "market_size": FigureSpec(
        _market,
        "Market size per calendar year against iiMedia's published forecast points (log scale).",
    ),
    "leader_shares": FigureSpec(
        _shares, "Shares of users and revenue of the leading firms (mean over replications)."
    ),
    "concentration": FigureSpec(
        _concentration,
        "HHI and top-three shares of users and revenue, with the US merger-guideline thresholds.",
    ),
    "survival": FigureSpec(_survival, "Kaplan-Meier survival of developers by kind, from entry."),
    "exits": FigureSpec(_exits, "Exits by cause per year (mean per replication)."),
    "policy": FigureSpec(
        _policy,
        "Policy context: imported-chip supply under export controls, "
        "subsidy spending, compute price.",
    ),
}


# --------------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------------


def folder_kind(folder: Path) -> str:
    """'run', 'comparison', 'sweep', 'calibration' or 'study', from what the folder holds.

    A sweep folder whose runs have not all finished (``runs/`` but no ``outcomes.parquet``) and a
    calibration folder are named as such, with what to do, rather than as "not a results folder".
    """
    folder = Path(folder)
    if any((folder / q / "summary.txt").is_file() for q in ("discovery", "optimise")):
        return "study"
    if (folder / "sweep.resolved.yaml").is_file() and (folder / "outcomes.parquet").is_file():
        return "sweep"
    if (folder / "runs").is_dir() and not (folder / "metrics.parquet").is_file():
        raise InputError(
            str(folder),
            None,
            "a sweep or study folder whose runs have not finished (runs/ but no outcomes.parquet "
            "or discovery/optimise summary); rerun the same genai-sim command to complete it",
        )
    if (folder / "report" / "report.md").is_file() or (folder / "study.db").is_file():
        return "calibration"
    if (folder / "metrics.parquet").is_file() and (folder / "headline.csv").is_file():
        return "comparison"
    if (folder / "metrics.parquet").is_file() and (folder / "scenario.resolved.yaml").is_file():
        return "run"
    raise InputError(
        str(folder),
        None,
        "not a results folder of run, compare or sweep "
        "(expected metrics.parquet with scenario.resolved.yaml or headline.csv, or "
        "outcomes.parquet with sweep.resolved.yaml)",
    )


def plot_figure(folder: Path, name: str, out: Path) -> Path:
    """Redraw one figure of a run folder (PNG or SVG by the suffix of ``out``)."""
    kind = folder_kind(folder)
    if kind != "run":
        where = {
            "sweep": "its figures are in figures/ (heatmaps, sensitivity, selected curves)",
            "comparison": "its figures are in figures/",
            "calibration": "its figures are in report/figures/ (fit, profiles, posterior)",
            "study": "its figures are in discovery/ and optimise/",
        }[kind]
        raise InputError(
            str(folder),
            None,
            f"this is a {kind} folder; plot redraws the figures of a run folder only; {where}, "
            "and genai-sim report puts them in one HTML file",
        )
    if name not in RUN_FIGURES:
        raise InputError(
            None, "--figure", f"unknown figure {name!r}; allowed: {', '.join(RUN_FIGURES)}"
        )
    if out.suffix not in (".png", ".svg"):
        raise InputError(None, "--out", "the file must end in .png or .svg")
    return RUN_FIGURES[name].draw(load_tables(folder), out)


def _figure(path: Path, caption: str, fig_id: str) -> dict[str, str]:
    """A figure for the template: the PNG embedded as a data URI (the page fetches nothing)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return {"id": fig_id, "alt": path.stem, "data": data, "caption": caption}


def _pre(title: str, text: str) -> dict[str, str]:
    return {"title": title, "text": text}


def _file_figures(paths: list[Path]) -> list[dict[str, str]]:
    """Figures saved by a command, captioned by their file names."""
    return [_figure(p, p.stem.replace("_", " "), f"fig-{p.stem}") for p in paths]


def _plain_headers(frame: pd.DataFrame) -> dict[str, str]:
    """Every column of ``frame``, headed by its name in words."""
    return {c: c.replace("_", " ") for c in frame.columns}


def _table(
    frame: pd.DataFrame, title: str, caption: str, labels: dict[str, str], css: str
) -> dict[str, Any]:
    """A results table for the template: the columns of ``labels`` (column -> header), numbers
    shown to four significant digits and kept in full in each cell's ``data-value``."""
    rows = []
    for rec in frame[list(labels)].itertuples(index=False):
        cells = []
        for value in rec:
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            ):
                v = float(value)
                cells.append({"text": f"{v:.4g}" if np.isfinite(v) else "", "value": repr(v)})
            else:
                cells.append({"text": "" if pd.isna(value) else str(value), "value": None})
        rows.append(cells)
    columns = [{"name": c, "label": h} for c, h in labels.items()]
    return {"title": title, "caption": caption, "columns": columns, "rows": rows, "css": css}


def _run_section(folder: Path, tmp: Path) -> dict[str, Any]:
    res = load_tables(folder)
    scenario = str(res.metrics["scenario"].iloc[0])
    last = str(res.metrics["date"].max())
    month = "2028-12" if (res.metrics["date"] == "2028-12").any() else last
    facts = run_facts(res.metrics, res.firms, res.events, month)
    figures = []
    for name, spec in RUN_FIGURES.items():
        path = spec.draw(res, tmp / f"{folder.name}-{name}.png")
        figures.append(_figure(path, spec.caption, f"fig-{name}"))
    return {
        "kind": "run",
        "heading": f"Run: {scenario}",
        "summary": summary_text(facts, scenario),
        "summary_id": "summary",
        "figures": figures,
        "tables": _history_tables(res.metrics),
        "details": [
            _pre("Resolved scenario", (folder / "scenario.resolved.yaml").read_text()),
            _pre("Manifest", (folder / "manifest.json").read_text()),
        ],
    }


HISTORY_LABELS = {
    "target": "target",
    "period": "period",
    "value": "value",
    "unit": "unit",
    "fitted": "fitted",
    "simulated_median": "run, median",
    "simulated_p10": "run, 10 %",
    "simulated_p90": "run, 90 %",
    "error_tolerance_units": "error, tolerance units",
    "within_tolerance": "within tolerance",
}
"""Headers of a run's history checks (columns of ``sim.calibrate.history_checks``)."""


def _history_tables(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """The run against every target in ``calibration/targets.csv`` it reaches (none without the
    file): the targets the installed calibration fits (with the weights of
    ``calibration/calibrate.yaml``) and the history checks it only reports."""
    if not TARGETS.is_file():
        return []
    from sim.calibrate import history_checks, load_calibration, read_targets

    cal_file = ROOT / "calibration" / "calibrate.yaml"
    targets = load_calibration(cal_file).targets if cal_file.is_file() else read_targets(TARGETS)
    table = history_checks(targets, metrics)
    if table.empty:
        return []
    table["fitted"] = table["fitted"].map({True: "yes", False: "reported"})
    table["within_tolerance"] = table["within_tolerance"].map({True: "yes", False: "no"})
    caption = (
        "Targets with their sources are in calibration/targets.csv. Fitted: used by the installed "
        "calibration; reported: a history check no calibration fits. Error of the run's median in "
        "tolerance units (+-1 is the tolerance; relative tolerances on a log scale)."
    )
    return [_table(table, "History checks", caption, HISTORY_LABELS, "history")]


HEADLINE_LABELS = {
    "outcome": "outcome",
    "unit": "unit",
    "scenario": "scenario",
    "n": "replications",
    "level_median": "level, median",
    "level_p10": "level, 10 %",
    "level_p90": "level, 90 %",
    "diff_median": "paired difference, median",
    "diff_p10": "paired difference, 10 %",
    "diff_p90": "paired difference, 90 %",
}
"""Headers of the comparison's headline table (columns of headline.csv)."""


def _comparison_section(folder: Path, tmp: Path) -> dict[str, Any]:
    from sim.compare import comparison_figures

    res = load_tables(folder)
    table = pd.read_csv(folder / "headline.csv")
    manifest = json.loads((folder / "manifest.json").read_text())
    # The reference: named by the manifest (older folders: the scenario with zero differences).
    zero = table["diff_p10"].eq(0) & table["diff_p90"].eq(0)
    reference = manifest.get("reference") or (
        str(table.loc[zero, "scenario"].mode().iloc[0]) if zero.any() else "the reference"
    )
    figs = comparison_figures(res.metrics, tmp, manifest.get("reference"))
    return {
        "kind": "comparison",
        "heading": "Comparison",
        "summary": (folder / "summary.txt").read_text(),
        "summary_id": None,
        "figures": _file_figures(figs),
        "tables": [
            _table(
                table,
                "Headline outcomes",
                f"Every outcome of headline.csv: level across replications and the difference to "
                f"{reference}, paired replication by replication (common random numbers), each "
                "as median, 10th and 90th percentile.",
                HEADLINE_LABELS,
                "headline",
            )
        ],
        "details": [_pre("Manifest", (folder / "manifest.json").read_text())],
    }


def _sweep_section(folder: Path) -> dict[str, Any]:
    text = (folder / "summary.txt").read_text() if (folder / "summary.txt").is_file() else ""
    figs = sorted((folder / "figures").glob("*.png")) if (folder / "figures").is_dir() else []
    tables = []
    if (folder / "sensitivity.csv").is_file():
        sens = pd.read_csv(folder / "sensitivity.csv")
        tables.append(
            _table(
                sens,
                "Sensitivity indices",
                "From sensitivity.csv: indices of each outcome's mean over replications.",
                _plain_headers(sens),
                "sensitivity",
            )
        )
    return {
        "kind": "sweep",
        "heading": f"Sweep: {folder.name}",
        "summary": text,
        "summary_id": None,
        "figures": _file_figures(figs),
        "tables": tables,
        "details": [_pre("Sweep file (resolved)", (folder / "sweep.resolved.yaml").read_text())],
    }


def _calibration_section(folder: Path) -> dict[str, Any]:
    """A calibration folder: its own Markdown report (as text) and its figures."""
    report = folder / "report"
    text = (report / "report.md").read_text() if (report / "report.md").is_file() else ""
    figs = sorted((report / "figures").glob("*.png")) if (report / "figures").is_dir() else []
    return {
        "kind": "calibration",
        "heading": f"Calibration: {folder.name}",
        "summary": text,
        "summary_id": None,
        "figures": _file_figures(figs),
        "tables": [],
        "details": [],
    }


def _study_section(folder: Path) -> dict[str, Any]:
    """A study folder: discovery (summary, box, trajectory and box figures) and policy search
    (summary, Pareto front, robustness, figure), whichever were run."""
    parts: list[str] = []
    figures: list[dict[str, str]] = []
    tables: list[dict[str, Any]] = []
    disc, opt = folder / "discovery", folder / "optimise"
    if (disc / "summary.txt").is_file():
        parts.append((disc / "summary.txt").read_text())
        for name, caption in (
            ("tradeoff", "PRIM's peeling trajectory: coverage against density; the box reported"),
            ("box", "The box within each dimension's drawn range"),
        ):
            if (disc / f"{name}.png").is_file():
                figures.append(_figure(disc / f"{name}.png", caption, f"fig-study-{name}"))
        box = pd.read_csv(disc / "box.csv")
        tables.append(
            _table(
                box,
                "Scenario discovery: the box",
                "From discovery/box.csv: each dimension's limits in the box, the range it was "
                "drawn over, PRIM's quasi-p-value, and whether a restriction was dropped.",
                {
                    "dimension": "dimension",
                    "kind": "kind",
                    "restricted": "restricted",
                    "low": "box low",
                    "high": "box high",
                    "range_low": "drawn from",
                    "range_high": "drawn to",
                    "qp_value": "quasi-p",
                    "dropped": "dropped",
                },
                "box",
            )
        )
    if (opt / "summary.txt").is_file():
        parts.append((opt / "summary.txt").read_text())
        if (opt / "pareto.png").is_file():
            figures.append(
                _figure(
                    opt / "pareto.png",
                    "Policy search: objectives of every candidate, Pareto front highlighted",
                    "fig-study-pareto",
                )
            )
        robust = pd.read_csv(opt / "robustness.csv")
        if len(robust):
            tables.append(
                _table(
                    robust,
                    "Policy search: robustness of the Pareto front",
                    "From optimise/robustness.csv: each front candidate's outcome across the "
                    "uncertainty draws (worst and 10th percentile in the objective's direction).",
                    _plain_headers(robust),
                    "robustness",
                )
            )
    return {
        "kind": "study",
        "heading": f"Study: {folder.name}",
        "summary": "\n".join(parts),
        "summary_id": None,
        "figures": figures,
        "tables": tables,
        "details": [],
    }


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.summary{background:#f4f6f8;border-left:4px solid #1f77b4;padding:.8em 1em;font-size:1.05em;
white-space:pre-wrap}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em;margin-top:.3em}
table{border-collapse:collapse;font-size:.85em}
td,th{padding:.25em .6em;border-bottom:1px solid #eee}
th{text-align:left;background:#fafafa}pre{font-size:.8em;overflow-x:auto}
"""


def render(title: str, sections: list[dict[str, Any]]) -> str:
    """The report page from the Jinja2 template ``sim/templates/report.html.j2`` (autoescaped)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sim", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(title=title, style=STYLE, sections=sections)


def build_report(folders: list[Path], out: Path) -> Path:
    """Write one self-contained HTML report for the folders; returns its path."""
    import tempfile

    sections = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for folder in folders:
            kind = folder_kind(folder)
            if kind == "run":
                sections.append(_run_section(folder, tmp))
            elif kind == "comparison":
                sections.append(_comparison_section(folder, tmp))
            elif kind == "calibration":
                sections.append(_calibration_section(folder))
            elif kind == "study":
                sections.append(_study_section(folder))
            else:
                sections.append(_sweep_section(folder))
        doc = render("genai-market-sim report: " + ", ".join(f.name for f in folders), sections)
    out = Path(out)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(doc, encoding="utf-8")
    tmp_out.replace(out)
    return out
