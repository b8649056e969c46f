"""Forest plots: each report's effect and interval, the pooled effect as a diamond, the prediction interval.

Drawn on a pyplot-free matplotlib Figure from the effects table (aggregates only), in percentage points for
the risk difference or as a ratio on a log axis for the risk ratio.
"""

from __future__ import annotations

import math
from typing import Protocol

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon


class PooledEffect(Protocol):
    """What the diamond needs: a :class:`~jdl_lib.synthesis.meta.MetaAnalysis` or a stored summary of one."""

    k: int
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float


REPORT, POOLED, HIGHLIGHT, GREY = "#1b6ca8", "#222222", "#c0392b", "#9aa5b1"
_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False}
_LABEL_CHARS = 48


def _label(row: pd.Series) -> str:
    text = f"{row['organisation']}: {row['intervention']}"
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def forest_plot(
    reports: pd.DataFrame,
    pooled: PooledEffect | None,
    scale: str = "rd",
    title: str = "",
    highlight: str | None = None,
) -> Figure:
    """Draw a forest plot of the reports' one-year reoffending effects and their pooled estimate.

    Why: the forest plot is how a meta-analysis is read — each service's result with its uncertainty, the
    pooled effect, and (the prediction interval) the range in which a new service of the same kind is likely
    to fall.

    Parameters
    ----------
    reports : DataFrame
        Rows of :func:`~jdl_lib.synthesis.effects.effects_table`.
    pooled : MetaAnalysis or None
        The pooled effect on the same scale (``None``: reports only); any object with ``k``, ``estimate``,
        ``ci_low``, ``ci_high``, ``pi_low`` and ``pi_high``.
    scale : {"rd", "log_rr"}
        Risk difference (drawn in percentage points) or log risk ratio (drawn as a ratio on a log axis).
    title : str
        Title above the plot.
    highlight : str, optional
        Request id of a report to draw in a contrasting colour (this report, in a report's sector context).
    """
    if scale == "rd":
        est = reports["rd"].to_numpy() * 100
        low, high = reports["rd_ci_low"].to_numpy() * 100, reports["rd_ci_high"].to_numpy() * 100
        null, xlabel = 0.0, "Treated − control, one-year reoffending rate (points)"

        def tr(v: float) -> float:
            return v * 100
    else:
        se = np.sqrt(reports["log_rr_var"].to_numpy())
        est = np.exp(reports["log_rr"].to_numpy())
        low = np.exp(reports["log_rr"].to_numpy() - 1.959964 * se)
        high = np.exp(reports["log_rr"].to_numpy() + 1.959964 * se)
        null, xlabel, tr = 1.0, "Treated / control, one-year reoffending rate (ratio)", math.exp

    rows = len(reports) + (2 if pooled is not None else 0)
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.5, 0.32 * rows + 1.4))
        ax = fig.subplots()
        y = np.arange(len(reports))[::-1] + (2 if pooled is not None else 0)
        colours = [HIGHLIGHT if r == highlight else REPORT for r in reports["request_id"]]
        ax.hlines(y, low, high, color=colours, linewidth=1.4)
        sizes = 20 + 80 * (1 / reports["rd_var"]) / (1 / reports["rd_var"]).max()
        ax.scatter(est, y, s=sizes, marker="s", color=colours, zorder=3)
        labels = [_label(r) for _, r in reports.iterrows()]
        ticks, names = list(y), labels
        if pooled is not None:
            centre, lo, hi = tr(pooled.estimate), tr(pooled.ci_low), tr(pooled.ci_high)
            ax.add_patch(
                Polygon([(lo, 0.5), (centre, 0.8), (hi, 0.5), (centre, 0.2)], closed=True, color=POOLED)
            )
            ax.hlines(0.5, tr(pooled.pi_low), tr(pooled.pi_high), color=POOLED, linewidth=1, linestyle=":")
            ticks, names = [*ticks, 0.5], [*names, f"Pooled ({pooled.k} reports)"]
        ax.axvline(null, color=GREY, linewidth=0.8)
        if scale != "rd":
            ax.set_xscale("log")
        ax.set_yticks(ticks, names)
        ax.set_ylim(-0.3, max(ticks) + 0.8)
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title, loc="left")
        if pooled is not None:
            fig.text(
                0.01,
                0.005,
                "Squares: each report (size by precision), 95% CI. Diamond: pooled 95% CI. "
                "Dotted: 95% prediction interval.",
                fontsize=7,
                color="#555555",
            )
        fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig
