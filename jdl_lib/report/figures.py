"""The report's charts, drawn from aggregates only and sized for an A4 page (6.7 inches of text width).

``jdl_lib/balance/plots.py`` did not exist when these were written, so the love and overlap plots are drawn
here from the results dict's SMDs and binned propensity counts (never person-level scores).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from jdl_lib.report.text import pct, scaled

#: Characteristics named in the main report's love plot (plus any above the threshold); the annex has all.
LOVE_PLOT_ROWS = 8
WIDTH = 6.7
TREATED, CONTROL, GREY = "#1b6ca8", "#e07b39", "#9aa5b1"
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False}


def _styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw with the report style, on a pyplot-free Figure: no global state, nothing shown twice."""

    @functools.wraps(draw)
    def wrapper(results: dict[str, Any], **options: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return draw(results, **options)

    return wrapper


@_styled
def attrition_chart(results: dict[str, Any]) -> Figure:
    """People remaining at each stage, as bars labelled 'N (x% of submitted)', lost counts beside."""
    a = results["attrition"]
    stages = a["stages"]
    fig = Figure(figsize=(WIDTH, 0.26 * len(stages) + 0.55))
    ax = fig.subplots()
    y = np.arange(len(stages))[::-1]
    counts = np.array([s["count"] for s in stages])
    ax.barh(y, counts, color=[GREY] * (len(stages) - 1) + [TREATED], height=0.62)
    for yi, s in zip(y, stages, strict=True):
        share = pct(s["count"] / a["submitted"]) if a["submitted"] else ""
        ax.text(s["count"], yi, f"  {s['count']:,} ({share})", va="center", fontsize=8.5)
        if s["lost"]:
            ax.text(a["submitted"] * 1.42, yi, f"-{s['lost']:,}", va="center", ha="right", color="#b23b3b")
    ax.set_yticks(y, [s["label"] for s in stages])
    ax.set_xlim(0, a["submitted"] * 1.45)
    ax.set_xlabel("People")
    ax.set_title(f"{a['analysed']:,} analysed of {a['submitted']:,} submitted", loc="left")
    fig.tight_layout()
    return fig


def _love_rows(
    results: dict[str, Any], most: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The characteristics the chart names, in drawing order (largest at the top), and the rest.

    Every characteristic above the threshold after matching is named; the others are named in order of
    their largest difference before or after matching until ``most`` are shown (None: all).
    """
    threshold = results["balance"]["threshold"]

    def size(c: dict[str, Any]) -> float:
        return max(abs(c["smd_before"]), abs(c["smd_after"]))

    ranked = sorted(
        results["balance"]["covariates"], key=lambda c: (abs(c["smd_after"]) <= threshold, -size(c))
    )
    if most is None:
        shown, rest = ranked, []
    else:
        keep = max(most, sum(abs(c["smd_after"]) > threshold for c in ranked))
        shown, rest = ranked[:keep], ranked[keep:]
    return sorted(shown, key=size), rest


@_styled
def love_plot(results: dict[str, Any], most: int | None = LOVE_PLOT_ROWS) -> Figure:
    """Absolute standardised mean differences before and after matching, with the balance threshold.

    The main report's chart names the few characteristics that matter (any still above the threshold,
    then those that differed most) and sums up the rest in one line at the foot, drawn at the largest
    difference among them; ``most=None`` draws every characteristic (the annex).
    """
    b = results["balance"]
    rows, rest = _love_rows(results, most)
    n = len(rows) + (1 if rest else 0)
    fig = Figure(figsize=(WIDTH, (0.16 if most is None else 0.2) * n + 0.9))
    ax = fig.subplots()
    y = np.arange(len(rows)) + (1 if rest else 0)
    ax.scatter([abs(c["smd_before"]) for c in rows], y, color=GREY, label="Before matching", zorder=3)
    ax.scatter([abs(c["smd_after"]) for c in rows], y, color=TREATED, label="After matching", zorder=3)
    labels = [c["covariate"].replace("_", " ") for c in rows]
    if rest:
        before = max(abs(c["smd_before"]) for c in rest)
        after = max(abs(c["smd_after"]) for c in rest)
        ax.hlines(0, 0, before, color=GREY, linewidth=4, alpha=0.35, zorder=2)
        ax.scatter([before], [0], facecolors="white", edgecolors=GREY, zorder=3)
        ax.scatter([after], [0], facecolors="white", edgecolors=TREATED, zorder=3)
        labels = [f"{len(rest)} other characteristics (largest)"] + labels
        ax.axhline(0.5, color="#d0d7de", linewidth=0.8)
    ax.axvline(
        b["threshold"], color="#b23b3b", linestyle="--", linewidth=1, label=f"Threshold {b['threshold']}"
    )
    ax.set_yticks(np.arange(n), labels, fontsize=7 if most is None else 8)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel("Absolute standardised mean difference")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@_styled
def overlap_plot(results: dict[str, Any]) -> Figure:
    """Binned propensity scores: treated, all eligible controls, matched controls (each as shares)."""
    o = results["overlap"]
    edges = np.asarray(o["bin_edges"])
    fig = Figure(figsize=(WIDTH, 1.9))
    ax = fig.subplots()
    for key, label, color, style in (
        ("control_before", "All eligible controls", GREY, "-"),
        ("control_after", "Matched controls (weighted)", CONTROL, "--"),
        ("treated", "Treated", TREATED, "-"),
    ):
        counts = np.asarray(o[key], dtype=float)
        shares = counts / counts.sum() if counts.sum() else counts
        ax.stairs(shares, edges, label=label, color=color, linestyle=style, linewidth=1.8)
    ax.set_xlabel("Propensity score, log-odds (estimated chance of receiving the service)")
    ax.set_ylabel("Share of group")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@_styled
def outcome_chart(results: dict[str, Any]) -> Figure:
    """Treated and matched-control values per measure (per 100 people; days as days), CI of the difference."""
    rows = [r for r in results["outcomes"] if r["reported"]]
    fig = Figure(figsize=(WIDTH, 2.1))
    axes = fig.subplots(1, len(rows), squeeze=False)
    titles = {
        "reoffended_1y": "Reoffending rate\n(per 100 people)",
        "reoffences_1y": "Proven reoffences\n(per 100 people)",
        "days_to_first_reoffence": "Days to first\nreoffence",
        "first_reoffence_custody": "Custody for first reoffence\n(per 100 reoffenders)",
    }
    for ax, r in zip(axes[0], rows, strict=True):
        t, c = scaled(r["treated_value"], r["unit"]), scaled(r["control_value"], r["unit"])
        ax.bar([0, 1], [t, c], color=[TREATED, CONTROL], width=0.6)
        # The interval of the difference, drawn on the treated bar around the control value shifted by it.
        low, high = c + scaled(r["ci_low"], r["unit"]), c + scaled(r["ci_high"], r["unit"])
        ax.errorbar([0], [t], yerr=[[t - low], [high - t]], color="black", capsize=4, linewidth=1.2)
        for x, v in ((0, t), (1, c)):
            ax.text(x, v / 2, f"{v:.0f}", ha="center", color="white", fontsize=9, fontweight="bold")
        ax.set_xticks([0, 1], ["Treated", "Control"])
        ax.set_title(titles[r["measure"]], fontsize=8.5)
        ax.set_ylim(0, max(t, c, high) * 1.15)
    fig.tight_layout()
    return fig


def _short(method: str) -> str:
    """A robustness check's name for a chart axis: its words before the first ':', '(' or ';' (the checks
    table gives the full description)."""
    name = re.split(r"[:(;,]", method, maxsplit=1)[0].strip()
    return name[:1].upper() + name[1:]


@_styled
def difference_chart(results: dict[str, Any]) -> Figure:
    """Rate difference with 95% CIs (percentage points): main estimate and the robustness checks."""
    rate = next(r for r in results["outcomes"] if r["measure"] == "reoffended_1y")
    rows = [("Main estimate", rate["difference"], rate["ci_low"], rate["ci_high"])]
    rows += [(_short(r["method"]), r["estimate"], r["ci_low"], r["ci_high"]) for r in results["robustness"]]
    fig = Figure(figsize=(WIDTH, 0.3 * len(rows) + 0.75))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yi, (_, est, lo, hi) in zip(y, rows, strict=True):
        ax.errorbar(
            est * 100,
            yi,
            xerr=[[est * 100 - lo * 100], [hi * 100 - est * 100]],
            fmt="o",
            color=TREATED,
            capsize=4,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("Difference in reoffending rate, percentage points (treated minus control)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
