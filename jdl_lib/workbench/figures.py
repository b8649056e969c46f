"""The workbench's charts, drawn from aggregates, and their conversion to PNG for a widget.

The love plot and the attrition chevron are the report's own (:mod:`jdl_lib.report.figures`), so the
analyst sees the charts the report will carry. A figure is handed to a widget as PNG bytes rather than as
a matplotlib object: a pyplot-free ``Figure`` has no notebook display hook and would otherwise show as
``<Figure size 650x1475>``.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jdl_lib.balance.stats import REASONABLE
from jdl_lib.report.figures import CONTROL, GREY, STYLE, TREATED, WIDTH, attrition_chart, love_plot
from jdl_lib.workbench.views import DesignView


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (for ``ipywidgets.Image`` or a file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def design_love_plot(view: DesignView, most: int = 25) -> Figure:
    """The report's love plot of a design, in the SD convention the view was built with."""
    covariates = [
        {"covariate": r.variable, "smd_before": r.smd_before, "smd_after": r.smd_after}
        for r in view.balance.itertuples()
    ]
    with matplotlib.rc_context(STYLE):
        return love_plot.__wrapped__({"balance": {"threshold": REASONABLE, "covariates": covariates}}, most)


def attrition_chevron(view: DesignView) -> Figure:
    """The report's attrition chart of a design: submitted, linked, index event, setting, matched."""
    return attrition_chart({"attrition": view.sections["attrition"]})


def mirror_histogram(overlap: dict[str, Any]) -> Figure:
    """Propensity overlap as a mirror histogram: treated above the axis, controls below (as shares).

    Drawn from the results contract's ``overlap`` section (bins holding a handful of treated people are
    already emptied), on the log-odds scale the matcher uses. Below the axis, all eligible controls are an
    outline and the weighted matched controls are filled, so the caliper's effect on common support shows.
    """
    edges = np.asarray(overlap["bin_edges"])
    widths = np.diff(edges)

    def shares(key: str) -> np.ndarray:
        counts = np.asarray(overlap[key], dtype=float)
        return counts / counts.sum() if counts.sum() else counts

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 3.0))
        ax = fig.subplots()
        ax.bar(edges[:-1], shares("treated"), widths, align="edge", color=TREATED, label="Treated")
        ax.bar(
            edges[:-1],
            -shares("control_after"),
            widths,
            align="edge",
            color=CONTROL,
            alpha=0.8,
            label="Matched controls (weighted)",
        )
        ax.stairs(-shares("control_before"), edges, color=GREY, linewidth=1.5, label="All eligible controls")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_yticks(ax.get_yticks(), [f"{abs(t):.2f}" for t in ax.get_yticks()])
        ax.set_xlabel("Propensity score, log-odds")
        ax.set_ylabel("Share of group")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        fig.tight_layout()
    return fig


def specification_curve_plot(designs: pd.DataFrame, null_band: pd.DataFrame) -> Figure:
    """Estimates of every design, sorted, with 95% CIs, the permutation null band and the choices below.

    Poorly balanced designs (worst |SMD| above 0.1) are grey; the locked design is a red diamond.
    The lower panel marks each design's choices, so a run of similar estimates can be traced to them.
    """
    d = designs[designs["estimate"].notna()].reset_index(drop=True)
    choices = {
        "caliper": d["caliper"].map(lambda c: "none" if pd.isna(c) else f"{c:g}"),
        "controls": d["ratio"].map(lambda r: "-" if pd.isna(r) else f"1:{int(r)}"),
        "replacement": d["replace"].map(lambda r: "-" if r is None or pd.isna(r) else ("yes" if r else "no")),
        "covariates": d["covariate_set"],
        "method": d["method"],
    }
    rows = [(k, v) for k, values in choices.items() for v in sorted(values.unique())]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 3.2 + 0.17 * len(rows)))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3.2, 0.17 * len(rows) + 0.2])
        x = np.arange(len(d))
        if len(null_band):
            top.fill_between(
                null_band["rank"],
                null_band["low"] * 100,
                null_band["high"] * 100,
                color=GREY,
                alpha=0.3,
                label="Permutation null (95%)",
            )
        colour = np.where(d["poorly_balanced"], "#c0c0c0", TREATED)
        top.vlines(x, d["ci_low"] * 100, d["ci_high"] * 100, colors=colour, linewidth=1)
        top.scatter(x, d["estimate"] * 100, c=colour, s=14, zorder=3)
        locked = d.index[d["locked"]]
        top.scatter(
            locked,
            d.loc[locked, "estimate"] * 100,
            marker="D",
            color="#b23b3b",
            s=40,
            zorder=4,
            label="Locked design",
        )
        top.axhline(0, color="black", linewidth=0.8)
        top.set_ylabel("Difference in reoffending\n(percentage points)")
        top.legend(fontsize=8, frameon=False)
        for i, (key, value) in enumerate(rows):
            on = np.flatnonzero(choices[key] == value)
            bottom.scatter(on, np.full(len(on), i), s=6, color="black")
        bottom.set_yticks(range(len(rows)), [f"{k}: {v}" for k, v in rows], fontsize=7)
        bottom.invert_yaxis()
        bottom.set_xlabel("Designs, sorted by estimate (grey: poorly balanced)")
        fig.tight_layout()
    return fig
