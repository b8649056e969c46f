"""Report section "Services of the same kind": the sector context stored in results.json, as one HTML block.

Shown only when the pipeline found at least five other published reports of the request's service type
(:mod:`jdl_lib.synthesis.context`); otherwise the section is empty and the report is unchanged.
"""

from __future__ import annotations

import io
from html import escape
from types import SimpleNamespace
from typing import Any

import pandas as pd

from jdl_lib.synthesis.forest import forest_plot

THIS_REPORT = "this report"


def _points(value: float) -> str:
    """A risk difference (0-1) in words: 'a fall of 4.2 points' / 'a rise of 1.0 points'."""
    size = f"{abs(value) * 100:.1f}"
    return (
        f"no change ({size} points)"
        if size == "0.0"
        else (f"a fall of {size} points" if value < 0 else f"a rise of {size} points")
    )


def _span(low: float, high: float) -> str:
    return f"{low * 100:+.1f} to {high * 100:+.1f} points".replace("-", "−")


def _figure(results: dict[str, Any]) -> str:
    ctx = results["sector_context"]
    rows = [
        {
            "request_id": r["request_id"],
            "organisation": r["organisation"],
            "intervention": r["intervention"],
            "rd": r["estimate"],
            "rd_ci_low": r["ci_low"],
            "rd_ci_high": r["ci_high"],
        }
        for r in ctx["reports"]
    ]
    own = ctx["this_report"]
    if own["estimate"] is not None:
        rows.append(
            {
                "request_id": THIS_REPORT,
                "organisation": "This report",
                "intervention": results["request"]["intervention"]["name"],
                "rd": own["estimate"],
                "rd_ci_low": own["ci_low"],
                "rd_ci_high": own["ci_high"],
            }
        )
    frame = pd.DataFrame(rows)
    frame["rd_var"] = ((frame["rd_ci_high"] - frame["rd_ci_low"]) / (2 * 1.959964)) ** 2
    pooled = SimpleNamespace(k=ctx["n_reports"], **ctx["pooled"])
    fig = forest_plot(frame, pooled, "rd", highlight=THIS_REPORT)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    # Inline SVG, like the report's other figures: its text stays text for the output scan and the PDF.
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def sector_section(results: dict[str, Any]) -> str:
    """The sector-context section: pooled effect of this service type and where this service sits.

    Why: a single report is usually inconclusive; the pooled result of services of the same kind, and this
    service's place among them, tells the organisation and its funders whether the result is typical.
    Returns an empty string when results.json holds no ``sector_context``.
    """
    ctx = results.get("sector_context")
    if not ctx:
        return ""
    p, own = ctx["pooled"], ctx["this_report"]
    kind = escape(ctx["service_type"])
    sentences = [
        f"{ctx['n_reports']} other published Justice Data Lab reports of {kind} services state the one-year "
        f"proven reoffending rate. Pooled, they show {_points(p['estimate'])} in the rate "
        f"(95% confidence interval {_span(p['ci_low'], p['ci_high'])}).",
        f"Services of this kind differ: a new {kind} service would be expected to show a change of "
        f"{_span(p['pi_low'], p['pi_high'])} (95% prediction interval; I² = {ctx['i2'] * 100:.0f}% of the "
        "variation between reports is beyond chance).",
    ]
    if own["estimate"] is not None:
        sentences.append(
            f"This service showed {_points(own['estimate'])}: a larger fall than {own['larger_fall_than']} "
            f"of the {ctx['n_reports']} other reports."
        )
    else:
        sentences.append(
            "This report's own rate difference could not be stated, so it is not placed among them."
        )
    body = "".join(f"<p>{s}</p>" for s in sentences)
    note = (
        f"<p class='note'>Method: {escape(ctx['method'])}; this report is not in the pool. The reports "
        "pooled are other organisations' published results and differ in who they served and when.</p>"
    )
    return (
        "<section class='sector'><h2>Services of the same kind</h2>"
        + body
        + f"<figure class='forest'>{_figure(results)}</figure>"
        + note
        + "</section>"
    )
