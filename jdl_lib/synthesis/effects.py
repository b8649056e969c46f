"""One row per published report: the one-year reoffending effect on two scales, ready to pool.

The effect is the headline measure of every JDL report, the one-year proven reoffending rate (treated minus
matched control). Two scales are pooled:

* **risk difference** (percentage points, as the reports state it), with the report's own standard error
  recovered from its 95% confidence interval as ``(high - low) / (2 × 1.96)`` (the reports' intervals use a
  t or normal critical value; with at least 60 people the two differ by under 2%, and the normal value makes
  the recovered SE very slightly conservative);
* **log risk ratio**, whose variance is built by the delta method,
  ``var(log RR) = var(p1) / p1² + var(p0) / p0²``, with ``var(p1) = p1 (1 - p1) / n1`` for the treated
  group and ``var(p0)`` the part of the report's risk-difference variance the treated group does not explain,
  never less than the binomial variance ``p0 (1 - p0) / n0`` of the distinct control records (so the matched
  design's extra variance from reused, weighted controls is carried over). Undefined when a rate is 0 or 1.

A report whose headline measure was not reported (too few reoffenders, say) has no effect to pool and is
left out, with the reason kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
from scipy import stats

from jdl_lib.synthesis.published import PublishedReport

MEASURE = "reoffended_1y"
#: The two scales pooled: key -> label.
SCALES = {"rd": "risk difference", "log_rr": "log risk ratio"}
_Z = float(stats.norm.ppf(0.975))

COLUMNS = (
    "request_id",
    "organisation",
    "intervention",
    "service_type",
    "setting",
    "people",
    "treated_rate",
    "control_rate",
    "rd",
    "rd_ci_low",
    "rd_ci_high",
    "rd_var",
    "log_rr",
    "log_rr_var",
    "significant",
)


def report_effect(report: PublishedReport) -> dict[str, object] | None:
    """The headline effect of one report on both scales, or ``None`` if the report did not state it."""
    r = report.results
    row = next((o for o in r["outcomes"] if o["measure"] == MEASURE), None)
    if row is None or not row["reported"]:
        return None
    p1, p0 = row["treated_value"], row["control_value"]
    se = (row["ci_high"] - row["ci_low"]) / (2 * _Z)
    rd_var = se**2
    log_rr = log_rr_var = math.nan
    if 0 < p1 < 1 and 0 < p0 < 1 and se > 0:
        var1 = p1 * (1 - p1) / row["n_treated"]
        var0 = max(rd_var - var1, p0 * (1 - p0) / max(row["n_control"], 1))
        log_rr = math.log(p1 / p0)
        log_rr_var = var1 / p1**2 + var0 / p0**2
    iv = r["request"]["intervention"]
    return {
        "request_id": report.request_id,
        "organisation": r["request"]["organisation"],
        "intervention": iv["name"],
        "service_type": iv.get("service_type", "other"),
        "setting": r["request"]["setting"],
        "people": r["attrition"]["analysed"],
        "treated_rate": p1,
        "control_rate": p0,
        "rd": row["difference"],
        "rd_ci_low": row["ci_low"],
        "rd_ci_high": row["ci_high"],
        "rd_var": rd_var,
        "log_rr": log_rr,
        "log_rr_var": log_rr_var,
        "significant": row["significant"],
    }


def effects_table(reports: Iterable[PublishedReport]) -> pd.DataFrame:
    """The pooled measure of every report that stated it, one row per report (columns :data:`COLUMNS`).

    Why: the synthesis works from the reports' own published figures, as an independent reviewer of the
    published JDL reports would, so a pooled result can be checked against the reports it came from.
    """
    rows = [e for e in map(report_effect, reports) if e is not None]
    return pd.DataFrame(rows, columns=list(COLUMNS))
