"""Turn the stage results of one request into the aggregates of results.json.

This is the only place where person-level frames (the matched sample) become report figures, so every
disclosure rule that applies to a figure is applied here: small profile cells and small attrition reasons
are suppressed (with secondary suppression) by :func:`jdl_lib.privacy.suppress_table`, propensity-score
histograms keep only bins with enough treated people, and nothing but counts, shares, means and model
statistics leaves. Numbers are kept exact; rounding is the report's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib import small_numbers
from jdl_lib.attrition import Attrition
from jdl_lib.balance.stats import BalanceResult
from jdl_lib.errors import DisclosureError, MatchingError
from jdl_lib.matching.result import MatchResult
from jdl_lib.multiplicity import PRIMARY_MEASURE, SECONDARY_METHOD, adjusted_p_values, secondary_family
from jdl_lib.outcomes import EffectsResult, Estimate
from jdl_lib.power import minimum_detectable_difference, people_needed
from jdl_lib.privacy import suppress_table
from jdl_lib.report.results import MEASURES
from jdl_lib.sensitivity import e_value, rosenbaum_gamma
from jdl_lib.standard_errors import SE_METHODS

#: results.json measure key -> the outcome estimator's measure name.
ESTIMATOR_MEASURES: dict[str, str] = {
    "reoffended_1y": "rate",
    "reoffences_1y": "frequency",
    "days_to_first_reoffence": "time_to_reoffence",
    "first_reoffence_custody": "custody_on_reoffence",
}
#: Attrition reasons that are a record repeating a person already submitted (intake and linkage say it in
#: their own words); such records are not people lost from the analysis.
REPEATED_PERSON_REASONS = frozenset({"repeated person", "the same person as another submitted row"})
#: Measures computed among reoffenders only.
REOFFENDERS_ONLY = frozenset({"days_to_first_reoffence", "first_reoffence_custody"})
#: Balance is judged "good" below 5% and "poor" above 10% (|SMD|): the report's threshold line.
BALANCE_THRESHOLD = 0.10
OVERLAP_BINS = 20

_AGE_BANDS = (
    [0, 18, 21, 25, 30, 40, 50, 200],
    ["Under 18", "18-20", "21-24", "25-29", "30-39", "40-49", "50+"],
)
_PREVIOUS_BANDS = ([-1, 0, 2, 6, 10, 20, 10**9], ["0", "1-2", "3-6", "7-10", "11-20", "21+"])
_DISPOSAL_LABELS = {
    "community_order": "Community order",
    "suspended_sentence": "Suspended sentence order",
    "fine": "Fine",
    "discharge": "Discharge",
    "caution": "Caution",
}


def _profile_levels(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The report's profile variables as labelled categories, one Series per variable."""
    custody_label = np.where(
        frame["sentence_length_days"] < 365, "Custody, under 12 months", "Custody, 12 months or more"
    )
    disposal = (
        frame["disposal_type"].map(_DISPOSAL_LABELS).where(frame["disposal_type"] != "custody", custody_label)
    )
    yes_no = {True: "Yes", False: "No"}
    return {
        "Age band": pd.cut(frame["age_at_index"], _AGE_BANDS[0], labels=_AGE_BANDS[1], right=False).astype(
            str
        ),
        "Gender": frame["gender"].map({"M": "Male", "F": "Female"}),
        "Ethnicity": frame["ethnicity"].astype(str),
        "Index offence group": frame["index_offence_group"].str.replace("_", " ").str.capitalize(),
        "Previous offences": pd.cut(
            frame["previous_offences"], _PREVIOUS_BANDS[0], labels=_PREVIOUS_BANDS[1]
        ).astype(str),
        "Index disposal": disposal.astype(str),
        "Employed in the year before": frame["employed_year_before"].map(yes_no),
        "On benefit in the year before": frame["on_benefit_year_before"].map(yes_no),
    }


def profile_section(match: MatchResult, threshold: int) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Profile of the matched treatment group beside the weighted matched controls, small cells suppressed.

    Returns the profile rows and the list of suppressed cells. Counts of 1 to ``threshold - 1`` treated
    people are hidden together with enough other levels of the same variable that they cannot be recovered
    from the group total; the shares of a hidden cell are hidden with it.
    """
    m = match.matched
    treated, controls = m[m["treat"] == 1], m[m["treat"] == 0]
    w = controls["weights"].to_numpy(dtype=float)
    levels_t, levels_c = _profile_levels(treated), _profile_levels(controls)
    rows = []
    for variable, values in levels_t.items():
        if values.isna().all():  # not supplied in this extract: never shown as measured
            continue
        counts = values.value_counts()
        control_share = pd.Series(w, index=levels_c[variable].to_numpy()).groupby(level=0).sum() / w.sum()
        order = sorted(set(counts.index) | set(control_share.index), key=_level_order(variable))
        for level in order:
            rows.append(
                {
                    "variable": variable,
                    "level": str(level),
                    "treated_n": int(counts.get(level, 0)),
                    "control_share": float(control_share.get(level, 0.0)),
                }
            )
    table = pd.DataFrame(rows)
    kinds: dict[Any, str | None] = {}
    for _, group in table.groupby("variable", sort=False):
        kinds.update(zip(group.index, suppression_kinds(group["treated_n"], threshold), strict=True))
    n_t = len(treated)
    out, suppressed = [], []
    for i, row in table.iterrows():
        kind = kinds[i]
        if kind:
            suppressed.append({"table": "profile", "item": f"{row['variable']}: {row['level']}"})
        out.append(
            {
                "variable": row["variable"],
                "level": row["level"],
                "treated_n": None if kind else int(row["treated_n"]),
                "treated_pct": None if kind else float(row["treated_n"] / n_t),
                "control_pct": None if kind else float(row["control_share"]),
                "suppression": kind or None,
            }
        )
    return out, suppressed


def suppression_kinds(counts: pd.Series, threshold: int) -> list[str | None]:
    """How each count of one breakdown (summing to a published total) is published: None (shown),
    ``"primary"`` (a small count, printed "<5") or ``"secondary"`` (withheld to protect one, "[c]").

    A breakdown with a single category needs nothing hidden (its count is the published total). When
    no pattern of suppression can protect the small cells, the whole breakdown is withheld, every cell
    marked ``"secondary"`` so the markers do not say which cells are small.
    """
    if len(counts) < 2:
        return [None] * len(counts)
    table = pd.DataFrame({"n": counts.to_numpy()})
    try:
        return suppress_table(table, ["n"], threshold=threshold, totals="columns").kinds("n")
    except DisclosureError:
        return ["secondary"] * len(counts)


def _level_order(variable: str):
    """Sort key keeping banded levels in their natural order and other levels alphabetical."""
    bands = {"Age band": _AGE_BANDS[1], "Previous offences": _PREVIOUS_BANDS[1]}.get(variable)
    if bands is None:
        return lambda level: (0, str(level))
    return lambda level: (bands.index(level) if level in bands else len(bands), str(level))


def balance_section(balance: BalanceResult) -> dict[str, Any]:
    """Balance as cobalt's ``bal.tab`` reports it: SMDs before and after (SD convention named), variance
    ratios, eCDF statistics, the verdict, the effective sample sizes and the propensity score's own balance.
    """
    table = balance.table
    covariates = [
        {
            "covariate": str(r.variable),
            "smd_before": float(r.smd_before),
            "smd_after": float(r.smd_after),
            "variance_ratio": _finite(r.var_ratio_after),
            "verdict": str(r.verdict_after),
            "kind": str(r.kind),
            "variance_ratio_before": _finite(r.var_ratio_before),
            "ecdf_mean": float(r.ecdf_mean_after),
            "ecdf_max": float(r.ecdf_max_after),
            "ecdf_max_before": float(r.ecdf_max_before),
        }
        for r in table.itertuples()
    ]
    section = {
        "sd_convention": balance.sd_description,
        "threshold": BALANCE_THRESHOLD,
        "verdict": balance.overall_after,
        "covariates": covariates,
        "effective_sample_size": dict(balance.effective_sample_size),
    }
    if balance.propensity is not None:
        p = balance.propensity.iloc[0]
        section["propensity_score"] = {
            "label": str(p["variable"]),
            "smd_before": float(p["smd_before"]),
            "smd_after": float(p["smd_after"]),
            "variance_ratio": _finite(p["var_ratio_after"]),
            "ecdf_max": float(p["ecdf_max_after"]),
        }
    return section


def overlap_section(match: MatchResult, threshold: int) -> dict[str, Any]:
    """Histogram of propensity scores on the log-odds scale: treated, all candidate controls, and weighted
    matched controls.

    The log-odds scale is the one matching works on, and it spreads out the small scores a cohort drawn
    from a national pool has. Bins span the treated range (one unit either side); controls beyond it fall
    in the end bins. Bins holding 1 to ``threshold - 1`` treated people are emptied in every series (and
    the threshold is recorded), so the chart never shows a handful of people at the extremes of the score.
    """

    def logit(p: pd.Series) -> np.ndarray:
        q = np.clip(p.to_numpy(dtype=float), 1e-9, 1 - 1e-9)
        return np.log(q / (1 - q))

    scores = match.scores
    t_scores = logit(scores.loc[scores["treat"] == 1, "propensity"])
    lo, hi = float(t_scores.min()) - 1.0, float(t_scores.max()) + 1.0
    edges = np.linspace(lo, hi, OVERLAP_BINS + 1)
    treated = np.histogram(t_scores, edges)[0]
    before = np.histogram(np.clip(logit(scores.loc[scores["treat"] == 0, "propensity"]), lo, hi), edges)[0]
    m = match.matched
    ctrl = m[m["treat"] == 0]
    after = np.histogram(np.clip(logit(ctrl["propensity"]), lo, hi), edges, weights=ctrl["weights"])[0]
    small = (treated > 0) & (treated < threshold)
    treated, after = np.where(small, 0, treated), np.where(small, 0.0, after)
    return {
        "bin_edges": edges.tolist(),
        "treated": [int(v) for v in treated],
        "control_before": [int(v) for v in before],
        "control_after": [float(v) for v in after],
        "suppressed_below": int(threshold),
    }


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def outcome_rows(effects: EffectsResult, outcomes: Sequence[str]) -> list[dict[str, Any]]:
    """One row per requested measure with both group values, the difference, its 95% CI and p-value."""
    method_names = {
        "cluster_robust": "weighted regression on the matched sample, {se}",
        "moj_ttest": "weighted two-sample t-test (the MoJ Justice Data Lab convention), controls counted by "
        "their effective number",
    }
    rows = []
    for key in outcomes:
        est: Estimate = effects[ESTIMATOR_MEASURES[key]]
        label, unit = MEASURES[key]
        reported = bool(est.reported and math.isfinite(est.difference))
        rows.append(
            {
                "measure": key,
                "label": label,
                "unit": unit,
                "n_treated": int(est.n_treated),
                "n_control": int(est.n_control),
                "treated_value": _finite(est.treated_value),
                "control_value": _finite(est.control_value),
                "difference": _finite(est.difference),
                "ci_low": _finite(est.ci_low),
                "ci_high": _finite(est.ci_high),
                "p_value": _finite(est.p_value),
                "significant": bool(reported and est.significant),
                "reported": reported,
                "reason": est.note if not reported else "",
                "method": method_names[effects.method].format(se=SE_METHODS.get(est.standard_errors, "")),
            }
        )
    return apply_reporting_policy(rows, effects.alpha)


def apply_reporting_policy(rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Mark the primary and secondary measures, adjust the secondary p-values, and withhold what the
    small-number rules hide.

    The multiplicity policy (:mod:`jdl_lib.multiplicity`): the one-year proven reoffending rate is the
    pre-specified primary measure, judged on its own p-value; the other measures are secondary, Holm-adjusted
    together, and significant only when the adjusted p-value is at most ``alpha``. A measure the small-number
    rules (:mod:`jdl_lib.small_numbers`) do not publish keeps only its label, sizes and reason: its values,
    interval and p-values are removed here, so they cannot reach results.json, the notebook or the report.
    A reoffender-only measure withheld also loses its group sizes, which would count reoffenders.
    """
    adjusted = adjusted_p_values({r["measure"]: r["p_value"] for r in rows})
    out = []
    for row in rows:
        row = dict(row)
        primary = row["measure"] == PRIMARY_MEASURE
        row["role"] = "primary" if primary else "secondary"
        row["p_value_adjusted"] = adjusted[row["measure"]]
        p = row["p_value_adjusted"]
        row["significant"] = bool(row["reported"] and p is not None and p <= alpha)
        if not row["reported"]:
            for key in ("treated_value", "control_value", "difference", "ci_low", "ci_high"):
                row[key] = None
            row["p_value"] = row["p_value_adjusted"] = None
            if row["measure"] in REOFFENDERS_ONLY:
                row["n_treated"] = row["n_control"] = None
        out.append(row)
    return out


def reporting_section(match: MatchResult, effects: EffectsResult, outcomes: Sequence[str]) -> dict[str, Any]:
    """The reporting policy a run applied: the primary measure, the Holm family, the small-number limits.

    Whether the treatment group holds at least 30 reoffenders is kept as a yes/no, not as a count: when
    the rate itself is withheld the count would reveal it.
    """
    m = match.matched
    treated = m[m["treat"] == 1]
    reoffenders = int(treated["reoffended_1y"].astype(bool).sum()) if "reoffended_1y" in treated else 0
    raw = {key: _finite(effects[ESTIMATOR_MEASURES[key]].p_value) for key in outcomes}
    return {
        "primary": PRIMARY_MEASURE,
        "secondary_adjustment": SECONDARY_METHOD,
        "secondary_family": secondary_family(raw),
        "alpha": float(effects.alpha),
        "min_np": small_numbers.MIN_NP,
        "min_reoffenders": small_numbers.MIN_REOFFENDERS,
        "enough_reoffenders": small_numbers.time_is_headline(reoffenders),
    }


def withhold(results: dict[str, Any]) -> dict[str, Any]:
    """Remove every figure that would reveal a withheld measure: its robustness estimates and, for the
    rate, the sensitivity figures, the people-needed figure (both are built from its difference) and the
    linkage-error variants (re-estimates of it)."""
    hidden = {r["measure"] for r in results["outcomes"] if not r["reported"]}
    results["robustness"] = [r for r in results["robustness"] if r["measure"] not in hidden]
    if results["sensitivity"]["measure"] in hidden:
        results["sensitivity"].update(e_value=None, e_value_ci=None, rosenbaum_gamma=None)
    if results["power"]["measure"] in hidden:
        results["power"]["people_needed"] = None
    if "reoffended_1y" in hidden and results.get("linkage_error"):  # its variants re-estimate the rate
        for check in results["linkage_error"]["checks"]:
            if check["estimate"] is not None:
                check.update(estimate=None, ci_low=None, ci_high=None, changes_conclusion=None)
                check["note"] = "not shown: the headline rate is withheld"
    return results


#: How each robustness check is named in the report.
ROBUSTNESS_METHODS = {
    "regression_adjusted": "doubly robust: matched sample with regression adjustment for the covariates",
    "subclass": "subclassification on the propensity score (6 subclasses, weighted to the treated group)",
    "ipw": "inverse-probability weighting to the treated group, scores above 0.9 and outside overlap trimmed",
    "linkage_high_confidence": "linkage: only people linked with match probability 0.99 or more",
    "linkage_review_band": "linkage: people in the review band added at their best candidate",
}


def robustness_rows(estimates: Sequence[Estimate]) -> list[dict[str, Any]]:
    """Robustness checks shown beside the matched estimate: doubly robust, and the other designs."""
    keys = {v: k for k, v in ESTIMATOR_MEASURES.items()}
    return [
        {
            "measure": keys[e.measure],
            "method": ROBUSTNESS_METHODS[e.method],
            "estimate": float(e.difference),
            "ci_low": float(e.ci_low),
            "ci_high": float(e.ci_high),
        }
        for e in estimates
        if math.isfinite(e.difference)
    ]


def sensitivity_section(rate: Estimate, match: MatchResult) -> dict[str, Any]:
    """E-value of the rate difference, and Rosenbaum's Gamma where the design is 1:1 pairs."""
    try:
        ev = e_value(rate)
        e_point, e_ci = _finite(ev.e_value), _finite(ev.e_value_ci)
    except MatchingError:
        e_point = e_ci = None
    try:
        gamma = _finite(rosenbaum_gamma(match))
    except MatchingError:
        gamma = None  # Rosenbaum bounds need 1:1 pairs without replacement
    return {"measure": "reoffended_1y", "e_value": e_point, "e_value_ci": e_ci, "rosenbaum_gamma": gamma}


def power_section(rate: Estimate, alpha: float, power: float = 0.8) -> dict[str, Any]:
    """Minimum detectable difference for this group size and, when inconclusive, the people needed."""
    baseline = rate.control_value
    mdd = minimum_detectable_difference(rate.n_treated, baseline, alpha=alpha, power=power)
    needed = None
    if not rate.significant and rate.difference != 0 and 0 < baseline + rate.difference < 1:
        needed = people_needed(rate.difference, baseline, alpha=alpha, power=power)
    return {
        "measure": "reoffended_1y",
        "alpha": alpha,
        "power": power,
        "n_treated": int(rate.n_treated),
        "mdd": float(mdd) if math.isfinite(mdd) else 1.0,
        "people_needed": needed,
    }


def attrition_section(
    attrition: Attrition, control_records: int, threshold: int
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Stage-by-stage attrition (submitted → … → analysed) with the reasons for each loss.

    Stage counts are always shown (each is a group the organisation itself submitted, and the JDL
    publishes them); reason counts under ``threshold`` are suppressed with enough other reasons of
    the same stage that they cannot be recovered from the stage's loss, and likewise the split of a
    stage (e.g. linked people by link method: PNC ID, prison number, exact, probabilistic).
    """
    out, suppressed = [], []
    repeated: int | None = 0
    for stage in attrition.stages:
        kinds = suppression_kinds(pd.Series([n for _, n in stage.losses], dtype="int64"), threshold)
        reasons = []
        for (text, n), kind in zip(stage.losses, kinds, strict=True):
            if kind:
                suppressed.append({"table": "attrition", "item": f"{stage.label}: {text}"})
            reasons.append(_hidden({"reason": text, "count": int(n)}, kind))
            if text in REPEATED_PERSON_REASONS and n:
                repeated = None if kind or repeated is None else repeated + int(n)
        entry = {
            "stage": stage.key,
            "label": stage.label,
            "count": stage.count,
            "lost": stage.lost,
            "reasons": reasons,
        }
        if stage.breakdown:
            split = suppression_kinds(pd.Series([n for _, n in stage.breakdown], dtype="int64"), threshold)
            entry["breakdown"] = [
                _hidden({"label": text, "count": int(n)}, kind)
                for (text, n), kind in zip(stage.breakdown, split, strict=True)
            ]
            suppressed += [
                {"table": "attrition", "item": f"{stage.label}: {text}"}
                for (text, _), kind in zip(stage.breakdown, split, strict=True)
                if kind
            ]
        out.append(entry)
    section = {
        "submitted": attrition.submitted,
        "analysed": attrition.final,
        "control_records": int(control_records),
        "repeated": repeated,
        "stages": out,
    }
    return section, suppressed


def _hidden(entry: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """An attrition count as published: unchanged, or its count removed and how it was suppressed."""
    return entry if kind is None else {**entry, "count": None, "suppression": kind}
