"""The results.json contract between the pipeline and the report: aggregates only, with a schema version.

The pipeline writes one results dict per request; the report notebook reads only that file, so the executed
notebook, the HTML and the PDF can hold no person-level data. Numbers are the exact library values (rates as
proportions 0-1, differences treated minus control); rounding happens only in presentation. The contract is
a JSON Schema (validated with ``jsonschema``, a well-kept library, rather than hand-written checks) and every
object forbids extra keys, so a person-level field cannot slip in unnoticed. Documented in
``docs/results_schema.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from jdl_lib.errors import JdlError
from jdl_lib.spec import SERVICE_TYPES

SCHEMA_VERSION = "1.1"
#: Measure key -> (label, unit). Units: "proportion" (shown as %), "per_person" (shown per 100), "days".
MEASURES: dict[str, tuple[str, str]] = {
    "reoffended_1y": ("One-year proven reoffending rate", "proportion"),
    "reoffences_1y": ("Proven reoffences per person", "per_person"),
    "days_to_first_reoffence": ("Days to first proven reoffence (reoffenders)", "days"),
    "first_reoffence_custody": ("Custody for first proven reoffence (reoffenders)", "proportion"),
}
BALANCE_VERDICTS = ("good", "reasonable", "poor")


class ResultsError(JdlError):
    """A results dict breaks the results.json contract (a pipeline bug, not a user error)."""


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


_STR = {"type": "string"}
_NUM = {"type": "number"}
_NNUM = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_NINT = {"type": ["integer", "null"], "minimum": 0}
_BOOL = {"type": "boolean"}
_PROP = {"type": "number", "minimum": 0, "maximum": 1}
_NPROP = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
#: How a hidden count was hidden: "primary" (a count from 1 to threshold - 1, printed "<threshold") or
#: "secondary" (withheld so that a small count cannot be worked out from totals, printed "[c]").
_SUPPRESSION = {"enum": [None, "primary", "secondary"]}
_HIDDEN = {"suppression": {"enum": ["primary", "secondary"]}}


#: The fields of one estimated difference (treated and control values, the difference and its 95% CI),
#: shared by the outcome rows and the subgroup levels; null when the figure is withheld.
_EFFECT = {k: _NNUM for k in ("treated_value", "control_value", "difference", "ci_low", "ci_high")}


def _array(items: dict[str, Any], min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items}


SCHEMA: dict[str, Any] = _obj(
    {
        "schema_version": {"const": SCHEMA_VERSION},
        "request": _obj(
            {
                "request_id": _STR,
                "organisation": _STR,
                "setting": {"enum": ["custody", "community"]},
                "intervention": _obj(
                    {"name": _STR, "description": _STR, "who": _STR, "where": _STR, "when": _STR},
                    {"service_type": {"enum": list(SERVICE_TYPES)}, "summary": _STR},
                ),
            }
        ),
        "run": _obj(
            {
                "run_id": _STR,
                "code_version": _STR,
                "software": {"type": "object", "additionalProperties": _STR},
                "seed": _INT,
            }
        ),
        "store": _obj(
            {"source": _STR, "imported_at": _STR, "content_hash": _STR, "coverage_end": _STR},
            {"version": _STR},
        ),
        "settings": _obj(
            {
                "matching": _obj(
                    {
                        "method": _STR,
                        "ratio": _INT,
                        "caliper": _NUM,
                        "std_caliper": _BOOL,
                        "replace": _BOOL,
                        "exact": _array(_STR),
                        "covariates": _array(_STR, 1),
                        "propensity_model": _STR,
                        "estimand": _STR,
                    },
                    {
                        "caliper_sd": {"enum": ["pooled", "all"]},
                        "covariates_not_used": _array(_obj({"covariate": _STR, "reason": _STR})),
                    },
                ),
                "outcomes": _array({"enum": list(MEASURES)}, 1),
                "comparison": {"enum": ["cluster_robust", "moj_ttest"]},
                "alpha": _PROP,
                "disclosure": _obj({"min_group": _INT, "cell_threshold": _INT}),
            },
            {"standard_errors": _obj({"requested": _STR, "used": _STR, "description": _STR})},
        ),
        "attrition": _obj(
            {
                "submitted": _INT,
                "analysed": _INT,
                "control_records": _INT,
                "repeated": _NINT,
                "stages": _array(
                    _obj(
                        {
                            "stage": _STR,
                            "label": _STR,
                            "count": _INT,
                            "lost": _INT,
                            "reasons": _array(_obj({"reason": _STR, "count": _NINT}, _HIDDEN)),
                        },
                        {"breakdown": _array(_obj({"label": _STR, "count": _NINT}, _HIDDEN))},
                    ),
                    1,
                ),
            }
        ),
        "profile": _array(
            _obj(
                {
                    "variable": _STR,
                    "level": _STR,
                    "treated_n": _NINT,
                    "treated_pct": _NNUM,
                    "control_pct": _NNUM,
                    "suppression": _SUPPRESSION,
                }
            )
        ),
        "balance": _obj(
            {
                "sd_convention": _STR,
                "threshold": _NUM,
                "verdict": {"enum": list(BALANCE_VERDICTS)},
                "covariates": _array(
                    _obj(
                        {
                            "covariate": _STR,
                            "smd_before": _NUM,
                            "smd_after": _NUM,
                            "variance_ratio": _NNUM,
                            "verdict": {"enum": list(BALANCE_VERDICTS)},
                        },
                        {
                            "kind": {"enum": ["binary", "continuous"]},
                            "variance_ratio_before": _NNUM,
                            "ecdf_mean": _PROP,
                            "ecdf_max": _PROP,
                            "ecdf_max_before": _PROP,
                        },
                    ),
                    1,
                ),
            },
            {
                "effective_sample_size": _obj(
                    {
                        "treated_before": _NUM,
                        "control_before": _NUM,
                        "treated_after": _NUM,
                        "control_after": _NUM,
                    }
                ),
                "propensity_score": _obj(
                    {
                        "label": _STR,
                        "smd_before": _NUM,
                        "smd_after": _NUM,
                        "variance_ratio": _NNUM,
                        "ecdf_max": _PROP,
                    }
                ),
            },
        ),
        "overlap": _obj(
            {
                "bin_edges": _array(_NUM, 2),
                "treated": _array(_INT),
                "control_before": _array(_INT),
                "control_after": _array(_NUM),
                "suppressed_below": _INT,
            }
        ),
        "outcomes": _array(
            _obj(
                {
                    "measure": {"enum": list(MEASURES)},
                    "label": _STR,
                    "unit": {"enum": ["proportion", "per_person", "days"]},
                    "role": {"enum": ["primary", "secondary"]},
                    "n_treated": _NINT,
                    "n_control": _NINT,
                    **_EFFECT,
                    "p_value": _NPROP,
                    "p_value_adjusted": _NPROP,
                    "significant": _BOOL,
                    "reported": _BOOL,
                    "reason": _STR,
                    "method": _STR,
                }
            ),
            1,
        ),
        "reporting": _obj(
            {
                "primary": {"enum": list(MEASURES)},
                "secondary_adjustment": {"enum": ["holm"]},
                "secondary_family": _array({"enum": list(MEASURES)}),
                "alpha": _PROP,
                "min_np": _INT,
                "min_reoffenders": _INT,
                "enough_reoffenders": _BOOL,
            }
        ),
        "robustness": _array(
            _obj({"measure": _STR, "method": _STR, "estimate": _NUM, "ci_low": _NUM, "ci_high": _NUM})
        ),
        "sensitivity": _obj(
            {"measure": _STR, "e_value": _NNUM, "e_value_ci": _NNUM},
            {"rosenbaum_gamma": _NNUM},
        ),
        "power": _obj(
            {
                "measure": _STR,
                "alpha": _PROP,
                "power": _PROP,
                "n_treated": _INT,
                "mdd": _NUM,
                "people_needed": _NINT,
            }
        ),
        "disclosure": _obj(
            {"suppressed": _array(_obj({"table": _STR, "item": _STR})), "notes": _array(_STR)}
        ),
    },
    {
        "index_years": _obj({"first": _INT, "last": _INT}),
        "linkage_error": _obj(
            {
                "high_confidence_threshold": _PROP,
                "checks": _array(
                    _obj(
                        {
                            "check": {"enum": ["linkage_high_confidence", "linkage_review_band"]},
                            "people_changed": _NINT,
                            "estimate": _NNUM,
                            "ci_low": _NNUM,
                            "ci_high": _NNUM,
                            "changes_conclusion": {"type": ["boolean", "null"]},
                            "note": _STR,
                        }
                    )
                ),
            }
        ),
        "subgroups": _obj(
            {
                "measure": _STR,
                "multiplicity": _STR,
                "variables": _array(
                    _obj(
                        {
                            "variable": _STR,
                            "label": _STR,
                            "descriptive": _BOOL,
                            "matched_within": _BOOL,
                            "n_fallback": _INT,
                            "q_statistic": _NNUM,
                            "q_df": _INT,
                            "p_difference": _NPROP,
                            "p_difference_holm": _NPROP,
                            "levels": _array(
                                _obj(
                                    {
                                        "level": _STR,
                                        "reported": _BOOL,
                                        "reason": _STR,
                                        "n_treated": _NINT,
                                        "n_control": _NINT,
                                        **_EFFECT,
                                        "p_value": _NPROP,
                                        "p_holm": _NPROP,
                                    }
                                )
                            ),
                        }
                    )
                ),
            }
        ),
        "trajectory": _obj(
            {
                "unit": _STR,
                "years": _array(
                    _obj(
                        {
                            "year": {"type": "integer"},
                            "n_treated": _INT,
                            "n_control": _INT,
                            "treated_per_100": _NNUM,
                            "control_per_100": _NNUM,
                            "difference_per_100": _NNUM,
                            "ci_low_per_100": _NNUM,
                            "ci_high_per_100": _NNUM,
                            "p_value": _NPROP,
                        }
                    ),
                    1,
                ),
            }
        ),
        "sector_context": _obj(
            {
                "service_type": {"enum": list(SERVICE_TYPES)},
                "measure": _STR,
                "n_reports": _INT,
                "method": _STR,
                "pooled": _obj({k: _NUM for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}),
                "tau2": _NUM,
                "i2": _PROP,
                "this_report": _obj(
                    {"estimate": _NNUM, "ci_low": _NNUM, "ci_high": _NNUM, "larger_fall_than": _NINT}
                ),
                "reports": _array(
                    _obj(
                        {
                            "request_id": _STR,
                            "organisation": _STR,
                            "intervention": _STR,
                            "people": _INT,
                            "estimate": _NUM,
                            "ci_low": _NUM,
                            "ci_high": _NUM,
                        }
                    ),
                    1,
                ),
            }
        ),
    },
)


def validate_results(results: dict[str, Any]) -> dict[str, Any]:
    """Check a results dict against :data:`SCHEMA` and the contract's cross-field rules.

    Returns the dict unchanged so calls chain; raises :class:`ResultsError` naming the key path of the first
    breach, because a malformed results file must never reach a published report.
    """
    validator = jsonschema.Draft202012Validator(SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(results))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultsError(f"results.json breaks schema {SCHEMA_VERSION} at {where}: {error.message[:200]}")
    stages = results["attrition"]["stages"]
    if (
        stages[0]["count"] != results["attrition"]["submitted"]
        or stages[-1]["count"] != results["attrition"]["analysed"]
    ):
        raise ResultsError("attrition: first stage must equal 'submitted' and last stage 'analysed'")
    for before, after in zip(stages, stages[1:], strict=False):
        if before["count"] - after["count"] != after["lost"]:
            raise ResultsError(f"attrition: stage '{after['stage']}' lost count does not match the counts")
    for row in results["outcomes"]:
        if row["reported"] and None in (row["ci_low"], row["ci_high"], row["difference"], row["n_treated"]):
            raise ResultsError(
                f"outcomes/{row['measure']}: a reported measure needs sizes, difference and CI"
            )
        withheld = ("treated_value", "control_value", "difference", "ci_low", "ci_high", "p_value")
        if not row["reported"] and any(row[k] is not None for k in withheld):
            raise ResultsError(f"outcomes/{row['measure']}: a withheld measure must carry no values")
    for row in results["profile"]:
        if (row["suppression"] is None) != (row["treated_n"] is not None):
            raise ResultsError(
                f"profile/{row['variable']}: a count must be shown exactly when not suppressed"
            )
    return results


def write_results(results: dict[str, Any], path: str | Path) -> Path:
    """Validate and write results.json (UTF-8, sorted keys, exact floats) so runs diff cleanly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(validate_results(results), indent=2, sort_keys=True), encoding="utf-8")
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """Read and validate results.json; the report notebook's only input."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(
            f"{path}: cannot read results ({type(exc).__name__}); re-run the request"
        ) from None
    return validate_results(results)
