"""Sector context for one report: the pooled effect of its service type and where this service sits.

Where at least :data:`MIN_CONTEXT_REPORTS` other published reports of the same service type state the
one-year reoffending effect, the report shows their random-effects pooled risk difference (REML,
Hartung–Knapp interval, prediction interval) and this report's own estimate beside it. This report is not
in the pool, so the comparison is with the rest of the sector, not partly with itself. Everything here
comes from published results.json files: aggregates other organisations have already released.
"""

from __future__ import annotations

import os
from typing import Any

from jdl_lib.synthesis.effects import MEASURE, effects_table
from jdl_lib.synthesis.meta import meta_analyse
from jdl_lib.synthesis.published import published_reports

#: Fewest other published reports of the same service type for the report to show sector context.
MIN_CONTEXT_REPORTS = 5


def sector_context(
    results: dict[str, Any], outputs: str | os.PathLike[str] = "outputs"
) -> dict[str, Any] | None:
    """The ``sector_context`` section of results.json for a request, or ``None`` if there is too little.

    Why: a single report is usually inconclusive; set beside the pooled effect of services of the same kind
    it tells the organisation whether its result is typical of the sector, and how much services differ.

    Parameters
    ----------
    results : dict
        The request's results (at least ``request`` and ``outcomes``).
    outputs : path
        The folder of released reports (``outputs/``); reports of other requests there are the sector.

    Returns
    -------
    dict or None
        ``service_type``, ``measure``, ``n_reports``, ``method``, ``pooled`` {``estimate``, ``ci_low``,
        ``ci_high``, ``pi_low``, ``pi_high``}, ``tau2``, ``i2`` (τ²-based), ``this_report`` {``estimate``,
        ``ci_low``, ``ci_high``, ``larger_fall_than``} and ``reports`` (the pooled reports' estimates), all
        risk differences on the 0-1 scale; ``None`` with fewer than :data:`MIN_CONTEXT_REPORTS` reports.
    """
    request = results["request"]
    service_type = request["intervention"].get("service_type", "other")
    others = [p for p in published_reports(outputs) if p.request_id != request["request_id"]]
    table = effects_table(others)
    table = table[table["service_type"] == service_type].reset_index(drop=True)
    if len(table) < MIN_CONTEXT_REPORTS:
        return None
    pooled = meta_analyse(table["rd"], table["rd_var"], "REML", hartung_knapp=True)
    own = next((o for o in results["outcomes"] if o["measure"] == MEASURE and o["reported"]), None)
    this_report = {"estimate": None, "ci_low": None, "ci_high": None, "larger_fall_than": None}
    if own is not None:
        this_report = {
            "estimate": own["difference"],
            "ci_low": own["ci_low"],
            "ci_high": own["ci_high"],
            "larger_fall_than": int((table["rd"] > own["difference"]).sum()),
        }
    return {
        "service_type": service_type,
        "measure": MEASURE,
        "n_reports": len(table),
        "method": pooled.method,
        "pooled": {
            "estimate": pooled.estimate,
            "ci_low": pooled.ci_low,
            "ci_high": pooled.ci_high,
            "pi_low": pooled.pi_low,
            "pi_high": pooled.pi_high,
        },
        "tau2": pooled.tau2,
        "i2": pooled.i2,
        "this_report": this_report,
        "reports": [
            {
                "request_id": r.request_id,
                "organisation": r.organisation,
                "intervention": r.intervention,
                "people": int(r.people),
                "estimate": r.rd,
                "ci_low": r.rd_ci_low,
                "ci_high": r.rd_ci_high,
            }
            for r in table.itertuples()
        ],
    }
