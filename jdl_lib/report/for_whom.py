"""Report section "Who benefits, and over time": pre-specified subgroups and the offence trajectory.

Drawn from results.json only (aggregates). Subgroup findings are worded on their Holm-adjusted p-values
(see :mod:`jdl_lib.subgroups`), the sessions view is labelled descriptive, and withheld groups are listed
with their reason. The trajectory shows proven offences per 100 people in each year from five years before
to two years after the index date, for the treated group and its weighted matched controls.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from jdl_lib.report.figures import CONTROL, STYLE, TREATED, WIDTH

ALPHA = 0.05


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _p_text(p: float | None) -> str:
    if p is None:
        return "not tested"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _points(low: float, high: float) -> str:
    return f"{100 * low:+.0f} to {100 * high:+.0f} points"


def forest_figure(results: dict[str, Any]) -> Figure:
    """Each shown subgroup's difference in the reoffending rate with its 95% CI, the overall line beside."""
    rate = next(o for o in results["outcomes"] if o["measure"] == "reoffended_1y")
    rows: list[tuple[str, float, float, float, bool]] = []
    for v in results["subgroups"]["variables"]:
        for lv in v["levels"]:
            if lv["reported"]:
                label = f"{v['label']}: {lv['level']} ({lv['n_treated']})"
                rows.append((label, lv["difference"], lv["ci_low"], lv["ci_high"], v["descriptive"]))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.32 * len(rows) + 1.0))
        ax = fig.subplots()
        y = np.arange(len(rows))[::-1]
        for yi, (_, est, low, high, descriptive) in zip(y, rows, strict=True):
            colour = "#6b7785" if descriptive else TREATED
            ax.errorbar(
                100 * est,
                yi,
                xerr=[[100 * (est - low)], [100 * (high - est)]],
                fmt="s",
                color=colour,
                capsize=3,
            )
        if rate.get("difference") is not None:
            ax.axvline(
                100 * rate["difference"], color=CONTROL, linestyle="--", linewidth=1, label="All analysed"
            )
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, [r[0] for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel("Difference in reoffending rate, percentage points")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
    return fig


def trajectory_figure(results: dict[str, Any]) -> Figure:
    """Proven offences per 100 people by year around the index date, treated against matched controls."""
    years = [y for y in results["trajectory"]["years"] if y["treated_per_100"] is not None]
    x = np.array([y["year"] for y in years])
    position = np.where(x < 0, x + 0.5, x - 0.5)  # year -1 ends and year +1 starts at the index date
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 2.6))
        ax = fig.subplots()
        for key, colour, label in (
            ("treated_per_100", TREATED, "Treated"),
            ("control_per_100", CONTROL, "Matched controls"),
        ):
            values = np.array([y[key] for y in years])
            before, after = x < 0, x > 0
            ax.plot(position[before], values[before], "o-", color=colour, label=label)
            ax.plot(position[after], values[after], "o-", color=colour)
        ax.set_ylim(bottom=0)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.text(0, ax.get_ylim()[1], " index date", va="top", fontsize=8)
        ax.set_xticks(position, [f"{y:+d}" for y in x])
        ax.set_xlabel("Year relative to the index date")
        ax.set_ylabel("Proven offences\nper 100 people")
        ax.legend(frameon=False, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
    return fig


def _variable_sentence(v: dict[str, Any]) -> str:
    label = escape(v["label"].lower())
    if v["descriptive"]:
        return (
            f"<p><b>{escape(v['label'])}</b> is shown as a descriptive view only: people who attended more "
            "sessions may differ from those who attended fewer in ways matching does not capture, so these "
            "figures do not show that more sessions cause less reoffending.</p>"
        )
    shown = [lv for lv in v["levels"] if lv["reported"]]
    if len(shown) < 2:
        return (
            f"<p><b>{escape(v['label'])}</b>: too few people in enough groups to compare the effect between "
            "them.</p>"
        )
    p = v["p_difference_holm"]
    if p is not None and p <= ALPHA:
        verdict = f"The effect differs by {label} ({_p_text(p)} after Holm adjustment)."
    else:
        verdict = (
            f"There is no clear evidence that the effect differs by {label} ({_p_text(p)} after Holm "
            "adjustment); differences between the groups below may be chance."
        )
    parts = []
    for lv in shown:
        sig = lv["p_holm"] is not None and lv["p_holm"] <= ALPHA
        parts.append(
            f"{escape(lv['level'])}: {_points(lv['ci_low'], lv['ci_high'])}"
            + (" (significant after adjustment)" if sig else "")
        )
    fallback = (
        f" {v['n_fallback']} people had no matched control of their own group within the caliper and kept "
        "their controls from the main analysis."
        if v["matched_within"] and v["n_fallback"]
        else ""
    )
    return f"<p><b>{escape(v['label'])}</b>. {verdict} 95% intervals: {'; '.join(parts)}.{fallback}</p>"


def _withheld(results: dict[str, Any]) -> str:
    threshold = results.get("settings", {}).get("disclosure", {}).get("cell_threshold", 5)
    items = []
    for v in results["subgroups"]["variables"]:
        for lv in v["levels"]:
            if not lv["reported"]:
                size = f"{lv['n_treated']} people" if lv["n_treated"] is not None else f"<{threshold} people"
                items.append(
                    f"<li>{escape(v['label'])}: {escape(lv['level'])} ({size}): {escape(lv['reason'])}</li>"
                )
    return f"<p>Not shown:</p><ul>{''.join(items)}</ul>" if items else ""


def _trajectory_text(results: dict[str, Any]) -> str:
    years = {y["year"]: y for y in results["trajectory"]["years"]}
    before = [y for k, y in years.items() if k < 0 and y["difference_per_100"] is not None]
    significant = [y for y in before if y["p_value"] is not None and y["p_value"] <= ALPHA]
    largest = max((abs(y["difference_per_100"]) for y in before), default=0.0)
    pre = (
        f"In the five years before the index date the two groups offended at similar levels (largest gap "
        f"{largest:.0f} offences per 100 people"
        + (
            ", none statistically significant)."
            if not significant
            else f"; {len(significant)} of {len(before)} years differ significantly, so read the years after "
            "with care)."
        )
    )
    post = []
    for k, name in ((1, "first"), (2, "second")):
        y = years.get(k)
        if y and y["difference_per_100"] is not None:
            post.append(
                f"In the {name} year after, the treated group committed {y['treated_per_100']:.0f} proven "
                f"offences per 100 people against {y['control_per_100']:.0f} for matched controls "
                "(difference "
                f"{y['ci_low_per_100']:+.0f} to {y['ci_high_per_100']:+.0f} per 100, 95% interval)."
            )
    return f"<p>{pre} {' '.join(post)}</p>"


def _trajectory_table(results: dict[str, Any]) -> str:
    head = "<tr><th>Year</th><th>Treated</th><th>Matched controls</th><th>Difference (95% CI)</th></tr>"
    body = []
    for y in results["trajectory"]["years"]:
        if y["treated_per_100"] is None:
            continue
        body.append(
            f"<tr><td>{y['year']:+d}</td><td>{y['treated_per_100']:.0f}</td><td>{y['control_per_100']:.0f}</td>"
            f"<td>{y['difference_per_100']:+.0f} "
            f"({y['ci_low_per_100']:+.0f} to {y['ci_high_per_100']:+.0f})</td></tr>"
        )
    return (
        "<table class='trajectory'><caption>Proven offences per 100 people, by year around the index date"
        f"</caption>{head}{''.join(body)}</table>"
    )


def for_whom_section(results: dict[str, Any]) -> str:
    """The "Who benefits, and over time" section: subgroup forest plot and text, then the trajectory.

    Why: a charity improves its service by learning for whom it works and whether a fall lasts; the
    subgroups were named before any result was seen, and every claim carries its multiplicity adjustment.
    """
    if not results.get("subgroups") and not results.get("trajectory"):
        return ""
    parts = ["<section class='for-whom'><h2>Who benefits, and over time</h2>"]
    if results.get("subgroups"):
        sub = results["subgroups"]
        parts.append(
            "<p>These groups were named in the request before any result was seen. Each group is compared "
            "with matched people of the same group. Results for small groups are less certain than the "
            f"overall result. {escape(sub['multiplicity'])}</p>"
        )
        parts.extend(_variable_sentence(v) for v in sub["variables"])
        if any(lv["reported"] for v in sub["variables"] for lv in v["levels"]):
            parts.append(f"<figure class='forest'>{_svg(forest_figure(results))}</figure>")
        parts.append(_withheld(results))
    if results.get("trajectory"):
        parts.append("<h3>Offending over time</h3>")
        parts.append(_trajectory_text(results))
        parts.append(f"<figure class='trajectory'>{_svg(trajectory_figure(results))}</figure>")
        parts.append(_trajectory_table(results))
        parts.append(
            "<p class='note'>A year is counted as the one-year measure is: offences committed in that year "
            "and proven within it or a further six months. Years the national data do not cover are left "
            "out. The first year after equals the frequency measure above.</p>"
        )
    parts.append("</section>")
    return "".join(parts)
