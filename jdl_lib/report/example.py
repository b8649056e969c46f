"""A realistic, internally consistent results dict made by code, to build and test the report without a run.

Outcomes are simulated for a treated group and a weighted matched control group with a seeded generator, and
summarised with the same formulas a real run reports (normal-approximation CIs, two-sided p-values, E-values,
minimum detectable difference). Only the aggregates leave this module.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from jdl_lib import small_numbers
from jdl_lib.multiplicity import secondary_family
from jdl_lib.privacy import suppression_note
from jdl_lib.report.assemble import ESTIMATOR_MEASURES, apply_reporting_policy, suppression_kinds, withhold
from jdl_lib.report.results import MEASURES, SCHEMA_VERSION, validate_results

Kind = Literal["reduction", "increase", "inconclusive"]
#: kind -> (people analysed, treated rate, control rate)
_SCENARIOS: dict[str, tuple[int, float, float]] = {
    "reduction": (460, 0.30, 0.41),
    "increase": (460, 0.49, 0.39),
    "inconclusive": (72, 0.36, 0.40),
}
_COVARIATES = (
    "age_at_index",
    "age_at_first_contact",
    "ethnicity: White",
    "ethnicity: Black",
    "region: North West",
    "uk_national",
    "sentence_length_days",
    "index_offence_group: theft",
    "index_offence_group: violence_against_the_person",
    "previous_offences",
    "previous_custody",
    "previous_breaches",
    "copas_rate",
    "employed_year_before",
    "on_benefit_year_before",
    "drug_need",
    "accommodation_need",
)
_PROFILE: dict[str, dict[str, float]] = {
    "Age band": {"18-24": 0.22, "25-34": 0.38, "35-44": 0.25, "45-54": 0.12, "55+": 0.03},
    "Gender": {"Male": 1.0},
    "Ethnicity": {"White": 0.78, "Black": 0.09, "Asian": 0.07, "Mixed": 0.05, "Other": 0.01},
    "Index offence group": {
        "Theft": 0.34,
        "Violence against the person": 0.22,
        "Drug": 0.16,
        "Burglary": 0.12,
        "Robbery": 0.06,
        "Other": 0.10,
    },
    "Previous offences": {"0": 0.04, "1-2": 0.09, "3-6": 0.17, "7-10": 0.15, "11-20": 0.25, "21+": 0.30},
    "Index disposal": {"Custody, under 12 months": 0.63, "Custody, 12 months or more": 0.37},
    "Employed in the year before": {"Yes": 0.14, "No": 0.86},
}


def _compare(t: np.ndarray, c: np.ndarray, z: float) -> dict[str, float]:
    diff = float(t.mean() - c.mean())
    se = float(np.sqrt(t.var(ddof=1) / t.size + c.var(ddof=1) / c.size))
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else 1.0
    return {
        "treated_value": float(t.mean()),
        "control_value": float(c.mean()),
        "difference": diff,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "p_value": p,
    }


def _e_value(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def example_results(
    kind: Kind = "reduction", balance: Literal["good", "poor"] = "good", seed: int = 7
) -> dict[str, Any]:
    """Build a valid results dict for one of three verdicts, for report development and tests.

    Parameters
    ----------
    kind
        "reduction" and "increase" use 460 people and a large planted effect; "inconclusive" uses 72 people
        and a small one.
    balance
        "poor" leaves three covariates unbalanced after matching, to exercise the caveat wording.
    seed
        Seed of the simulation; the same seed always gives the same dict.
    """
    rng = np.random.default_rng(seed)
    n, p_t, p_c = _SCENARIOS[kind]
    n_c = 5 * n
    z = float(stats.norm.ppf(0.975))
    re_t, re_c = rng.random(n) < p_t, rng.random(n_c) < p_c
    freq_t = re_t * (1 + rng.poisson(1.6, n))
    freq_c = re_c * (1 + rng.poisson(1.9, n_c))
    days_t = np.minimum(rng.exponential(140, re_t.sum()) + 5, 365)
    days_c = np.minimum(rng.exponential(125, re_c.sum()) + 5, 365)
    cust_t = rng.random(re_t.sum()) < 0.55
    cust_c = rng.random(re_c.sum()) < 0.58
    arrays = {
        "reoffended_1y": (re_t.astype(float), re_c.astype(float)),
        "reoffences_1y": (freq_t.astype(float), freq_c.astype(float)),
        "days_to_first_reoffence": (days_t, days_c),
        "first_reoffence_custody": (cust_t.astype(float), cust_c.astype(float)),
    }
    outcomes = []
    for measure, (t, c) in arrays.items():
        label, unit = MEASURES[measure]
        row = _compare(t, c, z)
        estimator = ESTIMATOR_MEASURES[measure]
        np_treated = t.sum() if unit == "proportion" else re_t.sum()
        reported, reason = small_numbers.reporting(estimator, float(np_treated), int(re_t.sum()))
        outcomes.append(
            {
                "measure": measure,
                "label": label,
                "unit": unit,
                "n_treated": int(t.size),
                "n_control": int(c.size),
                **row,
                "significant": bool(row["p_value"] <= 0.05),
                "reported": reported,
                "reason": reason,
                "method": "two-sample comparison with normal-approximation 95% CI",
            }
        )
    raw_rate = dict(outcomes[0])
    family = secondary_family({r["measure"]: r["p_value"] for r in outcomes})
    outcomes = apply_reporting_policy(outcomes, 0.05)
    rate = raw_rate
    rr = rate["treated_value"] / rate["control_value"]
    crosses = rate["ci_low"] <= 0 <= rate["ci_high"]
    near = rate["ci_high"] if rate["difference"] < 0 else rate["ci_low"]
    pooled = (rate["treated_value"] + rate["control_value"]) / 2
    mdd = (z + stats.norm.ppf(0.8)) * np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_c))
    needed = int(
        np.ceil((z + stats.norm.ppf(0.8)) ** 2 * 2 * pooled * (1 - pooled) / rate["difference"] ** 2)
    )

    smd_before = rng.normal(0.0, 0.18, len(_COVARIATES))
    smd_after = rng.normal(0.0, 0.025, len(_COVARIATES))
    if balance == "poor":
        smd_after[[1, 9, 12]] = [0.16, -0.21, 0.13]
    covariates = [
        {
            "covariate": name,
            "smd_before": float(b),
            "smd_after": float(a),
            "variance_ratio": float(np.exp(rng.normal(0, 0.08))),
            "verdict": "good" if abs(a) < 0.05 else "reasonable" if abs(a) < 0.1 else "poor",
            "kind": "continuous",
            "variance_ratio_before": float(np.exp(rng.normal(0, 0.2))),
            "ecdf_mean": float(abs(a) / 3),
            "ecdf_max": float(abs(a) / 1.5),
            "ecdf_max_before": float(min(abs(b) / 1.5, 1.0)),
        }
        for name, b, a in zip(_COVARIATES, smd_before, smd_after, strict=True)
    ]
    edges = np.linspace(-6.0, 0.0, 21)  # log-odds of the propensity score, as the pipeline bins it
    treated_hist = np.histogram(rng.normal(-3.0, 0.9, n), edges)[0]
    control_before = np.histogram(np.clip(rng.normal(-4.5, 1.2, 200_000), -6.0, 0.0), edges)[0]

    profile, suppressed = [], []
    for variable, shares in _PROFILE.items():
        counts = rng.multinomial(n, list(shares.values()))
        kinds = suppression_kinds(pd.Series(counts), 5)
        for (level, share), count, kind in zip(shares.items(), counts, kinds, strict=True):
            if kind:
                suppressed.append({"table": "profile", "item": f"{variable}: {level}"})
            profile.append(
                {
                    "variable": variable,
                    "level": level,
                    "treated_n": None if kind else int(count),
                    "treated_pct": None if kind else float(count / n),
                    "control_pct": None if kind else float(np.clip(share + rng.normal(0, 0.01), 0, 1)),
                    "suppression": kind,
                }
            )

    submitted = int(round(n / 0.58))
    counts = [submitted, submitted - 6, int(submitted * 0.81), int(submitted * 0.66), n + 3, n]
    labels = [
        ("submitted", "Records submitted", "", None),
        ("valid", "Valid records", "repeated person", None),
        ("linked", "Found in national records", "no confident match in national records", None),
        (
            "index_event",
            "Had an eligible index event",
            "no release from custody in the analysis window",
            None,
        ),
        ("follow_up", "Full one-year follow-up", "follow-up not complete by the data's end", None),
        ("matched", "Matched to similar people", "no similar person within the caliper", None),
    ]
    stages = [
        {
            "stage": stage,
            "label": label,
            "count": count,
            "lost": 0 if i == 0 else counts[i - 1] - count,
            "reasons": [] if i == 0 else [{"reason": reason, "count": counts[i - 1] - count}],
        }
        for i, ((stage, label, reason, _), count) in enumerate(zip(labels, counts, strict=True))
    ]
    results = {
        "schema_version": SCHEMA_VERSION,
        "request": {
            "request_id": f"example-{kind}",
            "organisation": "Bridgeway Mentoring Trust",
            "setting": "custody",
            "intervention": {
                "name": "the Bridgeway Through-the-Gate mentoring programme",
                "description": "Volunteer mentors meet adult men in the last three months of a prison "
                "sentence and keep meeting them for up to a year after release, helping with housing, "
                "benefits, work and keeping appointments.",
                "who": "Adult men serving custodial sentences, referred by prison resettlement staff.",
                "where": "Four prisons in the North West and the communities they release to.",
                "when": "People released between 2004 and 2010.",
            },
        },
        "run": {
            "run_id": f"example-{kind}-{seed}",
            "code_version": "0.1.0",
            "software": {"python": "3.11", "numpy": np.__version__},
            "seed": seed,
        },
        "store": {
            "source": "synthetic national database (jdl synth, seed 2013)",
            "imported_at": "2025-01-01T08:00:00+00:00",
            "content_hash": "sha256:" + "0" * 16,
            "coverage_end": "2012-12-31",
        },
        "settings": {
            "matching": {
                "method": "nearest",
                "ratio": 1,
                "caliper": 0.2,
                "std_caliper": True,
                "replace": True,
                "exact": ["gender", "index_year_band"],
                "covariates": sorted({c.split(":")[0] for c in _COVARIATES}),
                "propensity_model": "logistic regression",
                "estimand": "ATT",
            },
            "outcomes": list(MEASURES),
            "comparison": "cluster_robust",
            "alpha": 0.05,
            "disclosure": {"min_group": 60, "cell_threshold": 5},
        },
        "attrition": {
            "submitted": submitted,
            "analysed": n,
            "control_records": n_c,
            "repeated": 6,
            "stages": stages,
        },
        "profile": profile,
        "balance": {
            "sd_convention": "pooled SD of treated and all eligible controls, before matching",
            "threshold": 0.1,
            "verdict": "poor" if balance == "poor" else "good",
            "covariates": covariates,
            "effective_sample_size": {
                "treated_before": float(n),
                "control_before": 200_000.0,
                "treated_after": float(n),
                "control_after": float(n_c * 0.62),
            },
            "propensity_score": {
                "label": "logit propensity score",
                "smd_before": 1.12,
                "smd_after": 0.004,
                "variance_ratio": 1.01,
                "ecdf_max": 0.02,
            },
        },
        "overlap": {
            "bin_edges": edges.tolist(),
            "treated": treated_hist.tolist(),
            "control_before": control_before.tolist(),
            "control_after": (treated_hist * rng.uniform(0.95, 1.05, edges.size - 1)).tolist(),
            "suppressed_below": 0,
        },
        "outcomes": outcomes,
        "reporting": {
            "primary": "reoffended_1y",
            "secondary_adjustment": "holm",
            "secondary_family": family,
            "alpha": 0.05,
            "min_np": small_numbers.MIN_NP,
            "min_reoffenders": small_numbers.MIN_REOFFENDERS,
            "enough_reoffenders": small_numbers.time_is_headline(int(re_t.sum())),
        },
        "robustness": [
            {
                "measure": "reoffended_1y",
                "method": "doubly robust (AIPW)",
                "estimate": rate["difference"] + 0.004,
                "ci_low": rate["ci_low"] + 0.001,
                "ci_high": rate["ci_high"] + 0.007,
            }
        ],
        "sensitivity": {
            "measure": "reoffended_1y",
            "e_value": _e_value(rr),
            "e_value_ci": 1.0
            if crosses
            else _e_value((rate["control_value"] + near) / rate["control_value"]),
            "rosenbaum_gamma": None if crosses else float(1 + abs(rate["difference"]) * 4),
        },
        "power": {
            "measure": "reoffended_1y",
            "alpha": 0.05,
            "power": 0.8,
            "n_treated": n,
            "mdd": float(mdd),
            "people_needed": needed,
        },
        "disclosure": {
            "suppressed": suppressed,
            "notes": [suppression_note(5)],
        },
    }
    return validate_results(withhold(results))
