"""The workbench panel of ``notebooks/workbench.ipynb``: ipywidgets controls over a :class:`Request`.

The logic lives in plain functions (settings from control values, HTML tables from views) that are
tested without a browser; :class:`WorkbenchApp` only wires widgets to them. Every display is built from
aggregate views, and figures are handed to ``ipywidgets.Image`` as PNG bytes.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from jdl_lib.errors import JdlError
from jdl_lib.matching.registry import MATCHERS, matcher_parameters
from jdl_lib.spec import COVARIATES, EXACT_VARIABLES, MatchingSpec
from jdl_lib.workbench.figures import (
    attrition_chevron,
    design_love_plot,
    figure_png,
    mirror_histogram,
    specification_curve_plot,
)
from jdl_lib.workbench.request import Request, design_hash
from jdl_lib.workbench.speccurve import SpecificationCurve
from jdl_lib.workbench.views import DesignView

log = logging.getLogger(__name__)

#: Caliper units offered: standard deviations of the logit (Austin's 0.2 SD), or logit units.
CALIPER_UNITS = {"SD of the logit score": True, "logit units": False}
#: Which SD a caliper in SD units multiplies (see :func:`jdl_lib.matching.base.caliper_sd`).
CALIPER_SD_RULES = {"pooled treated and control SD (Austin)": "pooled", "SD over everyone (MatchIt)": "all"}
#: Balance-table SMD conventions offered (see :mod:`jdl_lib.balance.stats`).
SMD_CONVENTIONS = {"treated-group SD (MatchIt, cobalt)": "treated", "pooled SD (Austin)": "pooled"}
_VERDICT_COLOURS = {"good": "#1e7b34", "reasonable": "#a66a00", "poor": "#b23b3b"}


def settings_from_values(base: MatchingSpec, values: dict[str, Any]) -> MatchingSpec:
    """The matching settings the controls describe (keys of :func:`values_from_settings`); ``base`` fills
    settings the chosen method does not take, so they survive a switch of method and back."""
    return replace(
        base,
        method=values["method"],
        covariates=tuple(c for c in COVARIATES if c in values["covariates"]),
        exact=tuple(e for e in EXACT_VARIABLES if e in values["exact"]),
        caliper=round(float(values["caliper"]), 4),
        std_caliper=bool(values["std_caliper"]),
        caliper_sd=values["caliper_sd"],
        ratio=int(values["ratio"]),
        replace=bool(values["replace"]),
    )


def values_from_settings(matching: MatchingSpec) -> dict[str, Any]:
    """Control values showing ``matching``."""
    return {
        "method": matching.method,
        "covariates": tuple(matching.covariates),
        "exact": tuple(matching.exact),
        "caliper": float(matching.caliper),
        "std_caliper": bool(matching.std_caliper),
        "caliper_sd": matching.caliper_sd,
        "ratio": int(matching.ratio),
        "replace": bool(matching.replace),
    }


def enabled_controls(method: str) -> dict[str, bool]:
    """Which settings the method takes (``ratio`` and ``replace`` mean nothing to weighting designs)."""
    params = matcher_parameters(method)
    names = ("ratio", "replace", "caliper", "std_caliper", "caliper_sd", "exact")
    return {name: name in params for name in names}


def _table(frame: pd.DataFrame, na_rep: str = "hidden") -> str:
    return frame.to_html(index=False, na_rep=na_rep, float_format="{:.3f}".format, border=0, escape=True)


def summary_html(view: DesignView) -> str:
    """Headline figures of a design: verdict, worst SMD, people matched, controls and their ESS, losses."""
    if not view.ok:
        return f"<p style='color:#b23b3b'><b>Design refused.</b> {html.escape(view.refused)}</p>"
    s = view.sizes
    colour = _VERDICT_COLOURS.get(view.verdict, "black")
    losses = "".join(
        f"<li>{html.escape(str(r.reason))}: {'hidden' if pd.isna(r.people) else int(r.people)}</li>"
        for r in view.dropped.itertuples()
    )
    return (
        f"<p>Balance: <b style='color:{colour}'>{view.verdict}</b> (largest |SMD| {view.max_abs_smd:.3f}; "
        f"{html.escape(view.sd_convention)})</p>"
        f"<p>Matched {s.treated_matched:,} of {s.treated_offered:,} treated people; "
        f"{s.controls_used:,} controls used, worth {s.controls_effective:,.0f} people as weighted "
        f"(effective sample size).</p><p>Dropped at matching:</p><ul>{losses}</ul>"
    )


def balance_html(view: DesignView) -> str:
    """The balance table with each characteristic's verdict coloured."""
    if not view.ok:
        return ""
    table = view.balance.copy()
    table["verdict"] = [
        f"<span style='color:{_VERDICT_COLOURS[v]}'>{v}</span>" for v in table["verdict"].astype(str)
    ]
    body = table.to_html(index=False, na_rep="", float_format="{:.3f}".format, border=0, escape=False)
    return f"<div style='max-height:28em;overflow:auto'>{body}</div>"


def dropped_html(compare: dict[str, Any]) -> str:
    """The two 'who was lost' tables: linkage (upload fields) and matching (the design's covariates)."""
    parts = []
    for key, title in (
        ("linkage", "Linked and not linked people, from the upload's own fields"),
        ("matching", "Treated people analysed and those matching dropped, on the design's characteristics"),
    ):
        if key in compare:
            table = compare[key]
            sizes = ", ".join(f"{k}: {v}" for k, v in table.attrs.get("people", {}).items())
            parts.append(f"<h4>{title}</h4><p>People: {html.escape(sizes)}</p>{_table(table)}")
    if "refused" in compare:
        parts.append(f"<p>{html.escape(compare['refused'])}</p>")
    return "".join(parts)


def outcomes_html(results: dict[str, Any]) -> str:
    """The locked design's outcome estimates as results.json states them."""
    rows = [
        {
            "measure": r["measure"],
            "treated": r["treated_value"],
            "control": r["control_value"],
            "difference": r["difference"],
            "95% CI": f"{r['ci_low']:.3f} to {r['ci_high']:.3f}" if r["ci_low"] is not None else "",
            "p-value": r["p_value"],
            "significant": r["significant"],
        }
        for r in results["outcomes"]
        if r["reported"]
    ]
    return _table(pd.DataFrame(rows))


def curve_html(curve: SpecificationCurve) -> str:
    """A one-line reading of the specification curve, then every design's estimate, balance and ESS."""
    d = curve.designs[curve.designs["estimate"].notna()]
    share_below = float((d["ci_high"] < 0).mean()) if len(d) else float("nan")
    balanced = d[~d["poorly_balanced"]]
    return (
        f"<p>{len(d)} designs estimated ({len(balanced)} well balanced); estimates from "
        f"{d['estimate'].min() * 100:.1f} to {d['estimate'].max() * 100:.1f} points; "
        f"{share_below:.0%} with a 95% CI wholly below zero. Permutations: {curve.permutations}; "
        f"share of permuted curves with a median as far from zero: {curve.median_p_value:.2f}.</p>"
        + _table(
            curve.designs[
                ["label", "estimate", "ci_low", "ci_high", "max_abs_smd", "ess_controls", "poorly_balanced"]
                + ["locked", "refused"]
            ],
            na_rep="",
        )
    )


class WorkbenchApp:
    """The workbench panel: pick a parameter file, tune the design, lock it, see outcomes, save it.

    Parameters
    ----------
    params : path, optional
        Parameter file opened at once.
    parameters_folder : path, optional
        Folder whose ``*.yaml`` files the picker offers (default: the folder of ``params``).
    permutations : int
        Default number of permutations for the specification curve's null band.
    request : Request, optional
        A request already open (instead of ``params``).
    """

    def __init__(
        self,
        params: str | Path | None = None,
        parameters_folder: str | Path | None = None,
        permutations: int = 10,
        request: Request | None = None,
    ) -> None:
        if request is not None:
            params = request.spec.source
        folder = Path(parameters_folder or (Path(params).parent if params else "parameters"))
        files = sorted(str(p) for p in folder.glob("*.y*ml"))
        if params and str(params) not in files:
            files.insert(0, str(params))
        self.request: Request | None = None
        self.view: DesignView | None = None
        self._updating = False

        self.picker = w.Dropdown(options=files, value=str(params) if params else None, description="Request")
        self.open_button = w.Button(description="Open request", button_style="primary")
        self.status = w.HTML()
        self.method = w.Dropdown(options=sorted(MATCHERS), description="Design")
        self.covariates = w.SelectMultiple(options=list(COVARIATES), rows=10, description="Covariates")
        self.exact = w.SelectMultiple(options=list(EXACT_VARIABLES), rows=5, description="Exact on")
        self.caliper = w.FloatSlider(
            min=0.01, max=1.0, step=0.01, readout_format=".2f", continuous_update=False, description="Caliper"
        )
        self.caliper.add_class("jdl-caliper")
        self.std_caliper = w.ToggleButtons(options=list(CALIPER_UNITS.items()), description="Caliper in")
        self.caliper_sd = w.Dropdown(options=list(CALIPER_SD_RULES.items()), description="SD of")
        self.ratio = w.IntSlider(min=1, max=10, continuous_update=False, description="Controls each")
        self.replace = w.Checkbox(description="With replacement")
        self.smd = w.ToggleButtons(options=list(SMD_CONVENTIONS.items()), description="SMD uses")
        self.summary = w.HTML()
        self.love = w.Image(format="png")
        self.love.add_class("jdl-love-plot")
        self.overlap = w.Image(format="png")
        self.chevron = w.Image(format="png")
        self.balance = w.HTML()
        self.dropped = w.HTML()
        self.lock_button = w.Button(description="Lock design", button_style="warning", icon="lock")
        self.lock_status = w.HTML("<p>Outcomes are hidden until the design is locked.</p>")
        self.outcomes = w.HTML()
        self.save_path = w.Text(description="Save as", layout=w.Layout(width="60%"))
        self.save_button = w.Button(description="Save settings", icon="save")
        self.save_status = w.HTML()
        self.permutations = w.BoundedIntText(value=permutations, min=0, max=500, description="Permutations")
        self.curve_button = w.Button(description="Specification curve")
        self.curve_plot = w.Image(format="png")
        self.curve_text = w.HTML()

        for control in (self.method, self.covariates, self.exact, self.caliper, self.caliper_sd, self.ratio):
            control.layout.width = "96%"
            control.style.description_width = "90px"
        controls = w.VBox(
            [self.method, self.covariates, self.exact, self.caliper, self.std_caliper, self.caliper_sd]
            + [self.ratio]
            + [self.replace, self.smd],
            layout=w.Layout(width="38%"),
        )
        figures = w.VBox([self.summary, self.love, self.overlap, self.chevron, self.balance])
        outcome_tab = w.VBox(
            [
                w.HBox([self.lock_button, self.lock_status]),
                self.outcomes,
                w.HBox([self.save_path, self.save_button]),
                self.save_status,
                w.HBox([self.permutations, self.curve_button]),
                self.curve_text,
                self.curve_plot,
            ]
        )
        self.tabs = w.Tab([w.HBox([controls, figures]), self.dropped, outcome_tab])
        self.tabs.add_class("jdl-panel")
        for i, title in enumerate(("Design and balance", "Who was dropped", "Locked design and outcomes")):
            self.tabs.set_title(i, title)
        self.widget = w.VBox([w.HBox([self.picker, self.open_button]), self.status, self.tabs])

        self.open_button.on_click(lambda _: self.open(self.picker.value))
        for control in self._controls().values():
            control.observe(lambda _: self.refresh(), names="value")
        self.smd.observe(lambda _: self.refresh(), names="value")
        self.lock_button.on_click(lambda _: self.lock())
        self.save_button.on_click(lambda _: self.save())
        self.curve_button.on_click(lambda _: self.curve())
        if request is not None:
            self._show(request)
        elif params:
            self.open(params)

    def _controls(self) -> dict[str, w.ValueWidget]:
        return {
            "method": self.method,
            "covariates": self.covariates,
            "exact": self.exact,
            "caliper": self.caliper,
            "std_caliper": self.std_caliper,
            "caliper_sd": self.caliper_sd,
            "ratio": self.ratio,
            "replace": self.replace,
        }

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a notebook front end
        from IPython.display import display

        display(self.widget)

    def settings(self) -> MatchingSpec:
        """The design the controls show."""
        base = self.request.matching if self.request else MatchingSpec()
        return settings_from_values(base, {k: c.value for k, c in self._controls().items()})

    def _say(self, target: w.HTML, message: str, error: bool = False) -> None:
        colour = "#b23b3b" if error else "black"
        target.value = f"<p style='color:{colour}'>{html.escape(message)}</p>"

    def open(self, params: str | Path) -> None:
        """Open a request (closing the one open before) and show its parameter file's design."""
        if self.request is not None:
            self.request.close()
            self.request = None
        self._say(self.status, f"Opening {params}: reading, linking, finding index events…")
        try:
            request = Request.open(params)
        except JdlError as exc:
            self._say(self.status, f"{type(exc).__name__}: {exc}", error=True)
            return
        self._show(request)

    def _show(self, request: Request) -> None:
        self.request = request
        spec = request.spec
        self._say(self.status, f"Request {spec.request_id} ({spec.organisation}) is open.")
        self.save_path.value = str(Path(spec.source).with_name(f"{spec.request_id}-locked.yaml"))
        self._updating = True
        for name, value in values_from_settings(spec.matching).items():
            self._controls()[name].value = value
        self._updating = False
        self.refresh()

    def refresh(self) -> None:
        """Redraw every display for the design the controls show; a change of design unlocks it."""
        if self._updating or self.request is None:
            return
        settings = self.settings()
        for name, on in enabled_controls(settings.method).items():
            self._controls()[name].disabled = not on
        if self.request.locked is not None and self.request.locked != settings:
            self.request.unlock()
            self.outcomes.value = ""
            self.curve_plot.value = b""
            self.curve_text.value = ""
            self._say(self.lock_status, "The design changed, so it was unlocked; outcomes are hidden again.")
        view = self.request.view(settings, sd=self.smd.value)
        self.view = view
        self.summary.value = summary_html(view)
        self.balance.value = balance_html(view)
        self.dropped.value = dropped_html(self.request.compare_dropped(settings))
        if view.ok:
            self.love.value = figure_png(design_love_plot(view))
            self.overlap.value = figure_png(mirror_histogram(view.sections["overlap"]))
            self.chevron.value = figure_png(attrition_chevron(view))
        else:
            self.love.value = self.overlap.value = self.chevron.value = b""

    def lock(self) -> None:
        """Lock the design shown, record it in the audit log and show its outcomes."""
        if self.request is None:
            return
        try:
            self.request.lock(self.settings())
            results = self.request.outcomes()
        except JdlError as exc:
            self._say(self.lock_status, str(exc), error=True)
            return
        self._say(
            self.lock_status,
            f"Locked design {design_hash(self.request.locked)[:12]} (recorded in the audit log); "
            f"outcomes looked at {self.request.outcome_looks} time(s) this session.",
        )
        self.outcomes.value = outcomes_html(results)

    def save(self) -> None:
        """Save the locked design as a parameter file for ``jdl run``."""
        if self.request is None:
            return
        try:
            path = self.request.save_settings(self.save_path.value)
        except JdlError as exc:
            self._say(self.save_status, str(exc), error=True)
            return
        self._say(self.save_status, f"Saved {path}; run it with `jdl run {path}`.")

    def curve(self) -> None:
        """Estimate the specification curve around the locked design and draw it."""
        if self.request is None:
            return
        try:
            curve = self.request.specification_curve(permutations=self.permutations.value)
        except JdlError as exc:
            self._say(self.curve_text, str(exc), error=True)
            return
        self.curve_text.value = curve_html(curve)
        self.curve_plot.value = figure_png(specification_curve_plot(curve.designs, curve.null_band))
        self._say(
            self.lock_status,
            f"Locked design {design_hash(self.request.locked)[:12]}; outcomes looked at "
            f"{self.request.outcome_looks} time(s) this session.",
        )

    def close(self) -> None:
        """Close the open request (its workspace is deleted)."""
        if self.request is not None:
            self.request.close()
            self.request = None
