"""Balance figures for the report and the workbench: a love plot and a propensity-overlap plot.

Plain matplotlib (seaborn's histplot rejects explicit bins together with weights).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot global state), so they are safe to
make in a notebook, a worker or a test.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from jdl_lib.balance.stats import GOOD, REASONABLE, BalanceResult
from jdl_lib.matching.result import MatchResult


def love_plot(balance: BalanceResult) -> Figure:
    """Absolute SMD of every covariate before and after matching, with the 5% and 10% lines."""
    t = balance.table.assign(abs_before=lambda d: d.smd_before.abs(), abs_after=lambda d: d.smd_after.abs())
    t = t.sort_values("abs_before")
    fig = Figure(figsize=(6.5, 0.25 * len(t) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(t))
    ax.scatter(t["abs_before"], y, marker="o", facecolors="none", edgecolors="grey", label="before matching")
    ax.scatter(t["abs_after"], y, marker="o", color="black", label="after matching")
    for x, style in ((GOOD, ":"), (REASONABLE, "--")):
        ax.axvline(x, color="grey", linestyle=style, linewidth=1)
    ax.set_yticks(y, t["variable"])
    ax.set_xlabel(f"absolute standardised mean difference ({balance.sd_convention} SD)")
    ax.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def overlap_plot(result: MatchResult) -> Figure:
    """Distribution of the matched distance (e.g. logit score) by group, before and after matching."""
    fig = Figure(figsize=(8, 3))
    ax_before, ax_after = fig.subplots(1, 2, sharex=True)
    s = result.scores
    m = result.matched
    bins = np.histogram_bin_edges(s["distance"], bins=30)
    for ax, frame, weights, title in (
        (ax_before, s, None, "all candidates"),
        (ax_after, m, "weights", "matched sample"),
    ):
        for value, label, color in ((1, "treated", "black"), (0, "control", "grey")):
            rows = frame["treat"] == value
            w = None if weights is None else frame.loc[rows, weights]
            ax.hist(
                frame.loc[rows, "distance"],
                bins=bins,
                weights=w,
                density=True,
                histtype="step",
                color=color,
                label=label,
            )
        ax.legend(frameon=False)
        ax.set_title(title)
        ax.set_xlabel(f"{result.settings.get('distance', 'distance')} propensity score")
    fig.tight_layout()
    return fig
