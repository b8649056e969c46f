"""The report's sentences, generated from a results dict: headline, verdict, "what you can / cannot say".

Wording follows the Justice Data Lab's style (see docs/reference: the "for 100 typical people" framing, CIs
as "lower by between A and B", inconclusive results asking for more people rather than saying the service
fails), in the project's own words. Presentation rounding lives here and nowhere else: rates as whole
percentage points, frequencies per 100 people, days whole.
"""

from __future__ import annotations

from typing import Any, Literal

Verdict = Literal["reduction", "increase", "inconclusive"]
#: The measure that carries the headline and the verdict.
HEADLINE_MEASURE = "reoffended_1y"
#: A minimum detectable difference above this (10 percentage points) triggers the small-sample caveat.
SMALL_SAMPLE_MDD = 0.10

# measure -> (what is counted for 100 people, unit word, word for below zero, word for above zero)
_FRAMING: dict[str, tuple[str, str, str, str]] = {
    "reoffended_1y": (
        "the number of people who commit a proven reoffence within one year",
        "people",
        "lower",
        "higher",
    ),
    "reoffences_1y": (
        "the number of proven reoffences they commit within one year",
        "offences",
        "lower",
        "higher",
    ),
    "days_to_first_reoffence": (
        "the average time before a reoffender commits their first proven reoffence",
        "days",
        "shorter",
        "longer",
    ),
    "first_reoffence_custody": (
        "the number of reoffenders who receive a custodial sentence for their first proven reoffence",
        "people",
        "lower",
        "higher",
    ),
}


def scaled(value: float, unit: str) -> float:
    """A library value in report units: proportions and per-person counts per 100 people, days as days."""
    return value if unit == "days" else value * 100


def whole(value: float) -> str:
    """Round half away from zero to a whole number, with thousands separators (what readers expect)."""
    rounded = int(abs(value) + 0.5) * (1 if value >= 0 else -1)
    return f"{rounded:,}"


def pct(value: float | None) -> str:
    """A proportion as a whole percentage, e.g. 0.284 -> '28%'; '-' when withheld."""
    return "-" if value is None else f"{whole(value * 100)}%"


def measure(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The outcomes row for one measure; a KeyError names the missing measure."""
    for row in results["outcomes"]:
        if row["measure"] == name:
            return row
    raise KeyError(f"results hold no outcome '{name}'")


def verdict(results: dict[str, Any]) -> Verdict:
    """Significant reduction, significant increase, or inconclusive, from the headline rate measure."""
    row = measure(results, HEADLINE_MEASURE)
    if not (row["reported"] and row["significant"]):
        return "inconclusive"
    return "reduction" if row["difference"] < 0 else "increase"


def _intervention(results: dict[str, Any]) -> str:
    return results["request"]["intervention"]["name"]


def headline(results: dict[str, Any]) -> str:
    """The summary sentence: N people, treated rate X%, matched control rate Y%."""
    row = measure(results, HEADLINE_MEASURE)
    return (
        f"The one-year proven reoffending rate for the {row['n_treated']:,} people who received "
        f"{_intervention(results)} was {pct(row['treated_value'])}, compared with "
        f"{pct(row['control_value'])} for a matched control group of similar offenders."
    )


def _bound(value: float) -> str:
    text = whole(abs(value))
    return "less than 1" if text == "0" else text


def interval_sentence(row: dict[str, Any]) -> str:
    """The 95% interval of one measure's difference in plain words, for 100 people (days: as days).

    A both-sides-of-zero interval says how far the effect could go each way and that more people would be
    needed; it never says the service has no effect.
    """
    what, unit_word, lower, higher = _FRAMING[row["measure"]]
    low, high = scaled(row["ci_low"], row["unit"]), scaled(row["ci_high"], row["unit"])
    if high < 0:
        return (
            f"{what.capitalize()} could be {lower} by between {_bound(high)} and "
            f"{_bound(low)} {unit_word}. This is a statistically significant result."
        )
    if low > 0:
        return (
            f"{what.capitalize()} could be {higher} by between {_bound(low)} and "
            f"{_bound(high)} {unit_word}. This is a statistically significant result."
        )
    return (
        f"{what.capitalize()} could be {lower} by as many as {_bound(low)} {unit_word}, or "
        f"{higher} by as many as {_bound(high)} {unit_word}. More people would need to be "
        "analysed to tell the direction of this difference."
    )


def linkage_error_sentence(results: dict[str, Any]) -> str:
    """Whether the choice of which links to trust could change the conclusion, in plain words ("" if the
    results hold no linkage-error check)."""
    section = results.get("linkage_error")
    if not section:
        return ""
    leads = {
        "linkage_high_confidence": "with only the people linked with a match probability of "
        f"{section['high_confidence_threshold']:.2f} or more",
        "linkage_review_band": "with the people in the linkage review band added",
    }
    parts = []
    for check in section["checks"]:
        lead = leads[check["check"]]
        if check["estimate"] is None:
            parts.append(f"{lead.capitalize()}: {check['note']}.")
            continue
        effect = "would change" if check["changes_conclusion"] else "does not change"
        parts.append(
            f"{lead.capitalize()}, the difference in the one-year reoffending rate is "
            f"{check['estimate'] * 100:+.1f} percentage points (95% interval {check['ci_low'] * 100:+.1f} to "
            f"{check['ci_high'] * 100:+.1f}); this {effect} the conclusion."
        )
    return "Linkage check. " + " ".join(parts)


def significance_sentence(results: dict[str, Any]) -> str:
    """Whether the headline difference is statistically significant, and its 95% interval, in plain words."""
    row = measure(results, HEADLINE_MEASURE)
    low, high = whole(abs(row["ci_low"] * 100)), whole(abs(row["ci_high"] * 100))
    kind = verdict(results)
    if kind == "reduction":
        return (
            "This difference is statistically significant: we can be confident that the rate for people who "
            f"received the service is really lower. Our best estimate is that it lowered the rate by between "
            f"{high} and {low} percentage points (95% confidence interval)."
        )
    if kind == "increase":
        return (
            "This difference is statistically significant: we can be confident that the rate for people who "
            f"received the service is really higher, by between {low} and {high} percentage points "
            "(95% confidence interval)."
        )
    return (
        "This difference is not statistically significant, so it could have arisen by chance. The true "
        f"difference could be anything from {low} percentage points lower to {high} percentage points higher "
        "(95% confidence interval). This does not mean the service has no effect: more people would need to "
        "be analysed to tell."
    )


def hundred_people(results: dict[str, Any]) -> list[str]:
    """The "for 100 typical people who receive support" sentences, one per reported measure."""
    return [interval_sentence(row) for row in results["outcomes"] if row["reported"]]


def unbalanced(results: dict[str, Any]) -> list[str]:
    """Covariates still out of balance after matching (|SMD| above the threshold)."""
    threshold = results["balance"]["threshold"]
    return [c["covariate"] for c in results["balance"]["covariates"] if abs(c["smd_after"]) > threshold]


def caveats(results: dict[str, Any]) -> list[str]:
    """Cautions the reader must see: poor balance, a small group, measures withheld for low numbers."""
    notes = []
    if results["balance"]["verdict"] == "poor":
        names = ", ".join(c.replace("_", " ") for c in unbalanced(results)) or "several characteristics"
        notes.append(
            "The matched control group is not similar enough to the people who received the service on: "
            f"{names}. The results should be treated with caution, because these differences could explain "
            "part of any difference in reoffending."
        )
    power = results["power"]
    if power["mdd"] > SMALL_SAMPLE_MDD:
        notes.append(
            f"With {power['n_treated']:,} people, only a difference of about {whole(power['mdd'] * 100)} "
            "percentage points or more in the reoffending rate could reliably be detected; smaller real "
            "effects would probably show as inconclusive."
        )
    for row in results["outcomes"]:
        if not row["reported"]:
            notes.append(f"{row['label']} is not reported: {row['reason']}.")
    return notes


def _significant_others(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        row
        for row in results["outcomes"]
        if row["measure"] != HEADLINE_MEASURE and row["reported"] and row["significant"]
    ]


def can_say(results: dict[str, Any]) -> list[str]:
    """What the organisation can say, by verdict; other significant measures are added in the same voice."""
    row = measure(results, HEADLINE_MEASURE)
    name, n = _intervention(results), row["n_treated"]
    low, high = whole(abs(row["ci_low"] * 100)), whole(abs(row["ci_high"] * 100))
    kind = verdict(results)
    if kind == "reduction":
        said = [
            f"This analysis shows that {name} led to a reduction in one-year proven reoffending of between "
            f"{high} and {low} percentage points for the {n:,} people analysed."
        ]
    elif kind == "increase":
        said = [
            f"This analysis shows that the {n:,} people analysed who received {name} had a higher one-year "
            f"proven reoffending rate, by between {low} and {high} percentage points, than similar "
            "people who did not."
        ]
    else:
        said = [
            f"This analysis of {n:,} people could not show whether {name} increases or reduces one-year "
            "proven reoffending. More people would need to be analysed to tell; this is not evidence that "
            "the service has no effect."
        ]
    for other in _significant_others(results):
        sentence = interval_sentence(other)
        said.append(f"For {other['label'].lower()}: {sentence[0].lower()}{sentence[1:]}")
    return said


def cannot_say(results: dict[str, Any]) -> list[str]:
    """What the organisation cannot say, by verdict, sample size and balance."""
    kind = verdict(results)
    attrition = results["attrition"]
    not_analysed = attrition["submitted"] - attrition["analysed"]
    said = []
    if kind == "inconclusive":
        needed = results["power"]["people_needed"]
        more = (
            f" (about {needed:,} people would be needed to detect a difference this size)" if needed else ""
        )
        said.append(
            "You cannot say that the service fails to reduce reoffending, or that it makes no difference: "
            f"the group analysed is too small to tell{more}."
        )
    else:
        said.append(
            "You cannot say that the difference is exactly the one measured; the true effect is likely to "
            "lie within the range given, and may be smaller or larger than the single best estimate."
        )
    if kind == "increase":
        said.append(
            "You cannot say that the service causes reoffending: people referred to it may differ from the "
            "control group in ways national records do not show, such as the reasons they were referred."
        )
    said.append(
        f"You cannot say the same effect applies to the {not_analysed:,} people submitted but not analysed, "
        "or to other people, places or years; the service may affect them differently."
    )
    said.append(
        "You cannot say that the control group received no support of its own: national records do not show "
        "which other services they used."
    )
    if results["balance"]["verdict"] == "poor":
        said.append(
            "You cannot say the groups are fully comparable: some characteristics stay out of balance after "
            "matching (see 'How good the match is')."
        )
    reoffender_only = ("days_to_first_reoffence", "first_reoffence_custody")
    if any(r["reported"] for r in results["outcomes"] if r["measure"] in reoffender_only):
        said.append(
            "You cannot read the time to first reoffence or custody for the first reoffence as effects of "
            "the service in the same way: they compare only the people who reoffended, and if the service "
            "changes who reoffends, those two groups are no longer alike."
        )
    return said
