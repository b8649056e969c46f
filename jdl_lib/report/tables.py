"""The report's tables, built from a results dict (aggregates only) and formatted for reading.

Each function returns a DataFrame of display strings; :func:`to_html` renders it with the report's classes.
Rounding happens here (and in ``text.py``) only: results.json keeps exact values.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import pandas as pd

from jdl_lib.privacy import SECONDARY_MARKER, primary_marker
from jdl_lib.report.text import measure, p_value, pct, scaled, whole


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "proportion":
        return pct(value)
    if unit == "per_person":
        return f"{value:.2f}"
    return whole(value)


def _difference(row: dict[str, Any]) -> str:
    if not row["reported"] or row["difference"] is None:
        return "not reported"
    unit = row["unit"]
    if unit == "per_person":
        return f"{row['difference']:+.2f} ({row['ci_low']:+.2f} to {row['ci_high']:+.2f})"
    points = " pts" if unit == "proportion" else ""
    d, lo, hi = (scaled(row[k], unit) for k in ("difference", "ci_low", "ci_high"))
    sign = "+" if d > 0 and whole(d) != "0" else ""
    return f"{sign}{whole(d)}{points} ({whole(lo)} to {whole(hi)})"


def to_html(frame: pd.DataFrame, caption: str = "") -> str:
    """A table as HTML with the report's CSS class; no index column."""
    cap = f"<caption>{caption}</caption>" if caption else ""
    body = frame.to_html(index=False, classes="jdl-table", border=0, escape=True, na_rep="-")
    return re.sub(r"<table[^>]*>", lambda _: f'<table class="jdl-table">{cap}', body, count=1)


def hidden_count(entry: dict[str, Any], threshold: int) -> str:
    """A count as printed: the number, "<5" for a small count, "[c]" for one withheld to protect it."""
    if entry.get("count") is not None:
        return f"{entry['count']:,}"
    return primary_marker(threshold) if entry.get("suppression") == "primary" else SECONDARY_MARKER


def grouped_html(frame: pd.DataFrame, group: str) -> str:
    """A long grouped table printed as two halves side by side, in one table so it can break across pages.

    The ``group`` column becomes a heading row above its rows (narrower than a column); the halves split
    between whole groups, as near the middle as possible.
    """
    columns = [c for c in frame.columns if c != group]
    width = len(columns)
    lines: list[str] = []
    for _, row in frame.iterrows():
        if row[group]:
            lines.append(f"<th class='group' colspan='{width}'>{escape(str(row[group]))}</th>")
        lines.append("".join(f"<td>{escape(str(row[c]))}</td>" for c in columns))
    starts = [i for i, line in enumerate(lines) if line.startswith("<th")]
    split = min(starts, key=lambda i: abs(i - len(lines) / 2)) if len(starts) > 1 else len(lines)
    left, right = lines[:split], lines[split:]
    empty, gap = f"<td colspan='{width}'></td>", "<td class='gap'></td>"
    body = "".join(
        "<tr>"
        + (left[i] if i < len(left) else empty)
        + gap
        + (right[i] if i < len(right) else empty)
        + "</tr>"
        for i in range(max(len(left), len(right)))
    )
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    return (
        f"<table class='jdl-table grouped'><thead><tr>{head}<th class='gap'></th>{head if right else ''}</tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def attrition_table(results: dict[str, Any]) -> pd.DataFrame:
    """Stage-by-stage attrition: people left, lost at the stage, share of those submitted, and why."""
    a = results["attrition"]
    threshold = results["settings"]["disclosure"]["cell_threshold"]
    rows = []
    for stage in a["stages"]:
        reasons = "; ".join(f"{r['reason']} ({hidden_count(r, threshold)})" for r in stage["reasons"])
        split = "; ".join(f"{hidden_count(b, threshold)} {b['label']}" for b in stage.get("breakdown", []))
        rows.append(
            {
                "Stage": stage["label"] + (f" ({split})" if split else ""),
                "People": f"{stage['count']:,}",
                "Lost": f"{stage['lost']:,}" if stage["lost"] else "",
                "% of submitted": pct(stage["count"] / a["submitted"]) if a["submitted"] else "-",
                "Why lost": reasons,
            }
        )
    return pd.DataFrame(rows)


def profile_table(results: dict[str, Any]) -> pd.DataFrame:
    """The treated group beside the weighted matched controls.

    A small count shows "<5" and a count withheld to protect it "[c]" (their percentages "[c]" too), so a
    cell of dozens is never labelled "<5"; :func:`jdl_lib.privacy.suppression_note` explains both.
    """
    threshold = results["settings"]["disclosure"]["cell_threshold"]
    rows, last = [], None
    for r in results["profile"]:
        hidden = r["suppression"] is not None
        rows.append(
            {
                "Characteristic": r["variable"] if r["variable"] != last else "",
                "Group": r["level"],
                "Treated (n)": hidden_count(
                    {"count": r["treated_n"], "suppression": r["suppression"]}, threshold
                ),
                "Treated %": SECONDARY_MARKER if hidden else pct(r["treated_pct"]),
                "Controls %": SECONDARY_MARKER if hidden else pct(r["control_pct"]),
            }
        )
        last = r["variable"]
    return pd.DataFrame(rows)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def balance_table(results: dict[str, Any]) -> pd.DataFrame:
    """Balance of every characteristic as cobalt's ``bal.tab`` reports it, for the annex.

    Standardised mean differences and variance ratios (continuous characteristics only) before and after
    matching, the eCDF mean and maximum (the Kolmogorov-Smirnov statistic) before and after, and the
    verdict; the propensity score's own balance is the first row, marked as not a characteristic (it takes
    no part in the verdict). Statistics a run did not compute show "-".
    """
    b = results["balance"]
    rows = []
    ps = b.get("propensity_score")
    if ps:
        rows.append(
            {
                "Characteristic": f"{ps['label']} (not a characteristic)",
                "SMD before": f"{ps['smd_before']:+.3f}",
                "SMD after": f"{ps['smd_after']:+.3f}",
                "VR before": "-",
                "VR after": _ratio(ps.get("variance_ratio")),
                "KS before": "-",
                "KS after": _share(ps.get("ecdf_max")),
                "eCDF mean after": "-",
                "Verdict": "",
            }
        )
    for c in b["covariates"]:
        rows.append(
            {
                "Characteristic": c["covariate"].replace("_", " "),
                "SMD before": f"{c['smd_before']:+.3f}",
                "SMD after": f"{c['smd_after']:+.3f}",
                "VR before": _ratio(c.get("variance_ratio_before")),
                "VR after": _ratio(c["variance_ratio"]),
                "KS before": _share(c.get("ecdf_max_before")),
                "KS after": _share(c.get("ecdf_max")),
                "eCDF mean after": _share(c.get("ecdf_mean")),
                "Verdict": c["verdict"],
            }
        )
    return pd.DataFrame(rows)


def effective_sizes(results: dict[str, Any]) -> str:
    """The effective sample sizes in one sentence (Kish's (sum w)^2 / sum w^2), or '' if not computed."""
    ess = results["balance"].get("effective_sample_size")
    if not ess:
        return ""
    return (
        f"Effective sample sizes (Kish): treated {whole(ess['treated_before'])} before and "
        f"{whole(ess['treated_after'])} after matching; controls {whole(ess['control_before'])} before and "
        f"{whole(ess['control_after'])} after matching, once the matching weights are counted."
    )


def outcomes_table(results: dict[str, Any]) -> pd.DataFrame:
    """All measures: group sizes, group values, difference with 95% CI, p-values, significance.

    The primary measure is judged on its p-value, the secondary ones on their Holm-adjusted p-values
    (shown beside the unadjusted ones); withheld measures show "-".
    """
    return pd.DataFrame(
        {
            "Measure": r["label"] + (" (primary)" if r["role"] == "primary" else ""),
            "Treated n": "-" if r["n_treated"] is None else f"{r['n_treated']:,}",
            "Control n": "-" if r["n_control"] is None else f"{r['n_control']:,}",
            "Treated": _value(r["treated_value"], r["unit"]),
            "Control": _value(r["control_value"], r["unit"]),
            "Difference (95% CI)": _difference(r),
            "p-value": p_value(r["p_value"]),
            "Holm-adjusted p": "primary" if r["role"] == "primary" else p_value(r["p_value_adjusted"]),
            "Significant?": ("Yes" if r["significant"] else "No") if r["reported"] else "-",
        }
        for r in results["outcomes"]
    )


def checks_table(results: dict[str, Any]) -> pd.DataFrame:
    """Robustness, sensitivity and power figures for the headline measure, one row each."""
    rows = []
    for r in results["robustness"]:
        row = {**measure(results, r["measure"]), "difference": r["estimate"], "ci_low": r["ci_low"]}
        row.update(ci_high=r["ci_high"], reported=True)
        rows.append({"Check": f"{r['method']} estimate ({row['label'].lower()})", "Result": _difference(row)})
    s = results["sensitivity"]
    if s["e_value"] is not None:
        ci = f"; for the confidence limit nearest no effect: {s['e_value_ci']:.2f}" if s["e_value_ci"] else ""
        rows.append(
            {
                "Check": "E-value (strength of hidden bias that could explain it away)",
                "Result": f"{s['e_value']:.2f}{ci}",
            }
        )
    if s.get("rosenbaum_gamma") is not None:
        rows.append(
            {
                "Check": "Rosenbaum bounds: Γ at which significance is lost",
                "Result": f"{s['rosenbaum_gamma']:.2f}",
            }
        )
    p = results["power"]
    rows.append(
        {
            "Check": f"Minimum detectable difference ({whole(p['power'] * 100)}% power, "
            f"{whole(p['alpha'] * 100)}% significance)",
            "Result": f"{p['mdd'] * 100:.1f} percentage points with {p['n_treated']:,} people",
        }
    )
    if p["people_needed"] is not None:
        rows.append(
            {
                "Check": f"People needed for an {whole(p['power'] * 100)}% chance of showing a difference as "
                "large as the one measured (a planning figure, not evidence the difference is real)",
                "Result": f"{p['people_needed']:,}",
            }
        )
    return pd.DataFrame(rows)


def annex_table(results: dict[str, Any]) -> pd.DataFrame:
    """Method annex: data source and version, matching specification, software versions, run id."""
    m, s, run, store = results["settings"]["matching"], results["settings"], results["run"], results["store"]
    sd_rule = {
        "pooled": "SD pooled over treated and controls (Austin 2011)",
        "all": "SD over all units (MatchIt std.caliper)",
    }[m.get("caliper_sd", "pooled")]
    caliper = (
        f"{m['caliper']} SD of the logit of the propensity score, {sd_rule}"
        if m["std_caliper"]
        else str(m["caliper"])
    )
    items = {
        "Request": results["request"]["request_id"],
        "Run id": run["run_id"],
        "Data source": store["source"],
        "Data imported / content hash": f"{store['imported_at']} / {store['content_hash']}",
        "Data complete to": store["coverage_end"],
        "Setting": results["request"]["setting"],
        "Propensity model": f"{m['propensity_model']} (estimand {m['estimand']})",
        "Matching": f"{m['method']} neighbour, ratio 1:{m['ratio']}, "
        f"{'with' if m['replace'] else 'without'} replacement, caliper {caliper}",
        "Exact matching on": ", ".join(m["exact"]) or "none",
        "Covariates": ", ".join(c.replace("_", " ") for c in m["covariates"]),
        "Covariates not used": "; ".join(
            f"{u['covariate'].replace('_', ' ')} ({u['reason']})" for u in m.get("covariates_not_used", [])
        )
        or "none",
        "Balance statistic": f"standardised mean difference ({results['balance']['sd_convention']}); "
        f"threshold {results['balance']['threshold']}",
        "Comparison method": s["comparison"].replace("_", " "),
        "Standard errors": s.get("standard_errors", {}).get("description", "cluster-robust by matched set"),
        "Significance level": str(s["alpha"]),
        "Disclosure control": f"at least {s['disclosure']['min_group']} people; cells below "
        f"{s['disclosure']['cell_threshold']} suppressed",
        "Random seed": str(run["seed"]),
        "Software": ", ".join(f"{k} {v}" for k, v in sorted(run["software"].items()))
        + f"; jdl {run['code_version']}",
    }
    return pd.DataFrame({"Item": list(items), "Value": list(items.values())})
