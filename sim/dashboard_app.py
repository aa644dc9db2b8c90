"""The dashboard page (Solara): scenario picker, schema-built levers, run controls, charts, feed.

Served by ``genai-sim dashboard`` (``solara run sim.dashboard_app``). The scenario first shown is
read from the environment variable ``GENAI_SIM_DASHBOARD_SCENARIO`` (the CLI sets it). Logic lives
in ``sim.dashboard``; this module only lays it out. Mesa's ``SolaraViz`` is not used as the page
because its Reset rebuilds a model as ``type(model)(scenario=<Mesa Scenario>, **params)``, which
collides with ``GenAIMarket``'s own ``scenario`` argument, and shows construction errors as
tracebacks; the controls here follow its Step / Play / Pause / Reset design.
"""

from __future__ import annotations

import asyncio
import html
import os
import threading
from pathlib import Path
from typing import Any

import matplotlib
import solara
import solara.lab

from sim import dashboard as dash
from sim.errors import InputError

matplotlib.use("Agg")

ENV_SCENARIO = "GENAI_SIM_DASHBOARD_SCENARIO"
PLAY_PAUSE_S = 0.05
"""Pause between months while playing (the charts' drawing sets the real pace)."""


def _initial_scenario() -> Path:
    return Path(os.environ.get(ENV_SCENARIO) or dash.SCENARIOS / "baseline.yaml")


def _new_run(path: Path, values: dict[str, Any]) -> tuple[dash.DashboardRun | None, str | None]:
    """A run, or the schema's message for a bad lever value (never a traceback)."""
    try:
        return dash.DashboardRun(path, values), None
    except InputError as exc:
        return None, str(exc)


def _initial_values(path: Path) -> tuple[dict[str, Any], str | None]:
    try:
        return dash.lever_values(dash.load_scenario(path)), None
    except InputError as exc:
        return {}, str(exc)


@solara.component
def LeverInput(lv: dash.Lever, value: Any, on_value: Any) -> None:
    """One lever: a number field labelled with the schema's name, unit and bounds."""
    bounds = f"{lv.low:,} to {lv.high:,}" if lv.low is not None and lv.high is not None else ""
    unit = f", {lv.unit}" if lv.unit else ""
    label = f"{lv.label} ({bounds}{unit})" if bounds else f"{lv.label}{unit}"
    if lv.integer:
        solara.InputInt(label, value=value, on_value=on_value, continuous_update=False)
    else:
        solara.InputFloat(label, value=value, on_value=on_value, continuous_update=False)
    solara.Text(f"{lv.path}: {lv.description}", style={"font-size": "11px", "color": "#555"})


def _charts(run: dash.DashboardRun) -> tuple[dict[str, Any], str | None]:
    try:
        return dash.charts(run), None
    except Exception as exc:  # a message in the page, never a traceback
        return {}, f"Charts could not be drawn: {type(exc).__name__}: {exc}"


@solara.component
def Charts(run: dash.DashboardRun, version: int) -> None:
    """The charts of the lever run with the reference dashed, redrawn when ``version`` moves."""
    figures, failure = solara.use_memo(lambda: _charts(run), dependencies=[id(run), version])
    if failure:
        solara.Error(failure)
        return
    with solara.ColumnsResponsive(12, large=6):
        for name, fig in figures.items():
            with solara.Div(classes=[f"chart-{name}"]):
                solara.FigureMatplotlib(fig, dependencies=[id(run), version, name], format="png")


@solara.component
def EventFeed(run: dash.DashboardRun, version: int) -> None:
    """The latest entries and exits, newest first, with firm names."""
    events = solara.use_memo(
        lambda: run.events(dash.FEED_EVENTS).head(40), dependencies=[id(run), version]
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (r.date, r.event, r.firm, r.kind, f"{r.amount_m_rmb:,.1f}", r.detail)
        )
        + "</tr>"
        for r in events.itertuples()
    )
    head = "".join(f"<th>{h}</th>" for h in ("month", "event", "firm", "kind", "M RMB", "detail"))
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            '<table class="event-feed" style="font-size:12px;width:100%">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else "<i>No entries or exits yet.</i>"
        ),
        style={"max-height": "320px", "overflow-y": "auto"},
    )


@solara.component
def Page() -> None:
    """The dashboard."""
    start = solara.use_memo(_initial_scenario, dependencies=[])
    choices = solara.use_memo(lambda: dash.scenario_choices(start), dependencies=[])
    first_values, first_error = solara.use_memo(lambda: _initial_values(start), dependencies=[])
    first_run, first_run_error = solara.use_memo(
        lambda: _new_run(start, first_values) if first_values else (None, None), dependencies=[]
    )
    scenario = solara.use_reactive(next(k for k, p in choices.items() if p == start))
    values = solara.use_reactive(first_values)
    run = solara.use_reactive(first_run)
    error = solara.use_reactive(first_error or first_run_error)
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)

    def guarded(action: Any) -> None:
        """Run a model action; any failure becomes a message on the page."""
        try:
            action()
        except Exception as exc:  # shown in the page, never a traceback
            play_flag.clear()
            playing.set(False)
            error.set(f"{type(exc).__name__}: {exc}")
        version.set(version.value + 1)

    def reset() -> None:
        play_flag.clear()
        playing.set(False)
        new, message = _new_run(choices[scenario.value], values.value)
        error.set(message)
        if new is not None:
            run.set(new)
        version.set(version.value + 1)

    def pick(name: str) -> None:
        scenario.set(name)
        new_values, message = _initial_values(choices[name])
        if message:
            error.set(message)
            return
        values.set(new_values)
        reset()

    def set_lever(path: str, value: Any) -> None:
        values.set({**values.value, path: value})

    # Playing is a flag the stepping thread reads (the button sets and clears it) and a reactive
    # value the page shows.
    play_flag = solara.use_memo(threading.Event, dependencies=[])

    def set_playing(on: bool) -> None:
        if on:
            play_flag.set()
        else:
            play_flag.clear()
        playing.set(on)

    async def play_loop() -> None:
        """Step month by month while playing; the pauses let clicks (Pause) through."""
        current = run.value
        while play_flag.is_set() and current is not None and current.running:
            await asyncio.sleep(PLAY_PAUSE_S)  # first, so the click's own render completes
            if play_flag.is_set():
                guarded(lambda: current.step(1))
        if play_flag.is_set():  # reached the end (or failed) by itself
            set_playing(False)

    solara.lab.use_task(play_loop, dependencies=[playing.value, id(run.value)])

    current = run.value
    with solara.AppBar():
        solara.AppBarTitle("genai-market-sim: China's generative-AI market")
    with solara.Sidebar():
        with solara.Card("Scenario and levers"):
            solara.Select("Scenario", values=list(choices), value=scenario.value, on_value=pick)
            for lv in dash.LEVERS:
                LeverInput(
                    lv,
                    values.value.get(lv.path),
                    lambda v, path=lv.path: set_lever(path, v),
                )
            solara.Button("Apply levers and reset", color="primary", on_click=reset)
        with solara.Card("Run"):
            running = current is not None and current.running
            with solara.Row():
                solara.Button("Reset", on_click=reset)
                solara.Button(
                    "Pause" if playing.value else "Play",
                    on_click=lambda: set_playing(not playing.value),
                    disabled=not running,
                )
            with solara.Row():
                solara.Button(
                    "Step",
                    on_click=lambda: guarded(lambda: current.step(1)),
                    disabled=playing.value or not running,
                )
                solara.Button(
                    "Step 12",
                    on_click=lambda: guarded(lambda: current.step(12)),
                    disabled=playing.value or not running,
                )
                solara.Button(
                    "Run to end",
                    on_click=lambda: guarded(current.run_to_end),
                    disabled=playing.value or not running,
                )
        if current is not None:
            with solara.Card("Download this run (CSV)"):
                for name in ("metrics.csv", "reference_metrics.csv", "events.csv", "firms.csv"):
                    solara.FileDownload(
                        lambda name=name: current.csv_tables()[name],
                        filename=name,
                        label=name,
                        mime_type="text/csv",
                    )

    if error.value:
        solara.Error(error.value, classes=["lever-error"])
    if current is None:
        solara.Text("No run: fix the levers above and press Reset.")
        return
    solara.Text(current.month_text(), classes=["month-shown"], style={"font-size": "18px"})
    solara.Text(
        "Solid: this run; dashed: the scenario file as written with the same seed."
        if not current.is_reference
        else "Levers as in the scenario file (change one to overlay its effect against this run).",
        style={"font-size": "12px"},
    )
    Charts(current, version.value)
    with solara.Card("Entries and exits"):
        EventFeed(current, version.value)
