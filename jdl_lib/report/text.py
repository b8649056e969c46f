"""The report's sentences, generated from a results dict: headline, verdict, "what you can / cannot say".

Wording follows the Justice Data Lab's style (see docs/reference: the "for 100 typical people" framing, CIs
as "lower by between A and B", inconclusive results asking for more people rather than saying the service
fails), in the project's own words. Presentation rounding lives here and nowhere else: rates as whole
percentage points, frequencies per 100 people (with the per-person figure the tables show), days whole.

Three policies shape what may be said (each stated in the report itself):

* the one-year proven reoffending rate is the pre-specified **primary** measure and carries the verdict;
  other measures are secondary and are significant only on their Holm-adjusted p-value
  (:mod:`jdl_lib.multiplicity`);
* the JDL's **small-number rules** (:mod:`jdl_lib.small_numbers`): a withheld measure is never described,
  and a significant finding is listed only with at least 30 reoffenders in the treatment group;
* **reoffender-only measures** (days to first reoffence, custody for the first reoffence) compare the
  people who reoffended in each group, who stop being alike if the service changes who reoffends, so they
  are described per 100 reoffenders, apart from the effects, and never listed under "What you can say".

Every sentence carries its own unit ("for every 100 people", "per person", "per 100 reoffenders"), so it
stays true wherever it is printed.
"""

from __future__ import annotations

from typing import Any, Literal

from jdl_lib import small_numbers

Verdict = Literal["reduction", "increase", "inconclusive"]
#: The measure that carries the headline and the verdict (the pre-specified primary measure).
HEADLINE_MEASURE = "reoffended_1y"
#: Measures computed among reoffenders only: described apart, never listed as effects.
REOFFENDER_ONLY = ("days_to_first_reoffence", "first_reoffence_custody")
#: A minimum detectable difference above this (10 percentage points) triggers the small-sample caveat.
SMALL_SAMPLE_MDD = 0.10

# measure -> (what is counted, unit word, word for below zero, word for above zero, base of 100)
_FRAMING: dict[str, tuple[str, str, str, str, str]] = {
    "reoffended_1y": (
        "the number of people who commit a proven reoffence within one year",
        "people",
        "lower",
        "higher",
        "For every 100 people who receive the service, compared with 100 similar people who do not",
    ),
    "reoffences_1y": (
        "the number of proven reoffences they commit within one year",
        "offences",
        "lower",
        "higher",
        "For every 100 people who receive the service, compared with 100 similar people who do not",
    ),
    "days_to_first_reoffence": (
        "the average time before a reoffender commits their first proven reoffence",
        "days",
        "shorter",
        "longer",
        "",
    ),
    "first_reoffence_custody": (
        "the number who receive a custodial sentence for their first proven reoffence",
        "people",
        "lower",
        "higher",
        "For every 100 reoffenders in the treatment group, compared with 100 reoffenders among the controls",
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


def p_value(value: float | None) -> str:
    """A p-value for print: three decimals, '< 0.001' below that (never 'p 0.000'), '-' when withheld."""
    if value is None:
        return "-"
    return "< 0.001" if value < 0.0005 else f"{value:.3f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 characteristic', '2 characteristics' (with thousands separators)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def measure(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The outcomes row for one measure; a KeyError names the missing measure."""
    for row in results["outcomes"]:
        if row["measure"] == name:
            return row
    raise KeyError(f"results hold no outcome '{name}'")


def _enough_reoffenders(results: dict[str, Any]) -> bool:
    return bool(results["reporting"]["enough_reoffenders"])


def findings(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The significant findings the report may list (the JDL's bulleted list).

    A measure qualifies when it is published, significant under the multiplicity policy (the primary on its
    own p-value, a secondary on its Holm-adjusted one), measured on everyone analysed (not reoffenders only)
    and the treatment group holds at least 30 reoffenders (``difference_p <= 0.05 & treat_time_numb >=
    30`` in the JDL's code; methodology section 6).
    """
    if not _enough_reoffenders(results):
        return []
    return [
        row
        for row in results["outcomes"]
        if row["reported"] and row["significant"] and row["measure"] not in REOFFENDER_ONLY
    ]


def verdict(results: dict[str, Any]) -> Verdict:
    """Reduction, increase or inconclusive: from the headline rate, when it is a listed finding."""
    row = measure(results, HEADLINE_MEASURE)
    if row not in findings(results):
        return "inconclusive"
    return "reduction" if row["difference"] < 0 else "increase"


def _intervention(results: dict[str, Any]) -> str:
    return results["request"]["intervention"]["name"]


def headline(results: dict[str, Any]) -> str:
    """The summary sentence: N people, treated rate X%, matched control rate Y% (or why it is withheld)."""
    row = measure(results, HEADLINE_MEASURE)
    if not row["reported"]:
        return (
            f"The one-year proven reoffending rate of the {row['n_treated']:,} people who received "
            f"{_intervention(results)} cannot be published under the lab's small-number rules: too few "
            "people are behind it."
        )
    return (
        f"The one-year proven reoffending rate for the {row['n_treated']:,} people who received "
        f"{_intervention(results)} was {pct(row['treated_value'])}, compared with "
        f"{pct(row['control_value'])} for a matched control group of similar offenders."
    )


def _bound(value: float) -> str:
    text = whole(abs(value))
    return "less than 1" if text == "0" else text


def _points(row: dict[str, Any]) -> tuple[str, str]:
    """The rate interval's bounds as whole percentage points, nearer zero first ('less than 1' for 0)."""
    near, far = sorted((abs(row["ci_low"]), abs(row["ci_high"])))
    return _bound(near * 100), _bound(far * 100)


def _per_person(row: dict[str, Any]) -> str:
    """The frequency interval as the tables show it: offences per person, two decimals."""
    low, high = sorted((abs(row["ci_low"]), abs(row["ci_high"])))
    if row["ci_low"] <= 0 <= row["ci_high"]:
        return f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f} offences per person"
    return f"{low:.2f} to {high:.2f} offences per person"


def _significance_note(row: dict[str, Any]) -> str:
    """How significance is judged for this row under the multiplicity policy, in one sentence."""
    if row.get("role", "primary") == "primary":
        return "This is a statistically significant result." if row["significant"] else ""
    if row["significant"]:
        return (
            "This is a statistically significant result, after allowing for the number of secondary "
            "measures tested."
        )
    return (
        "Once the number of secondary measures tested is allowed for, this is not a statistically "
        "significant result."
    )


def interval_sentence(row: dict[str, Any], *, with_base: bool = True) -> str:
    """The 95% interval of one measure's difference in plain words, with its unit.

    Rates and frequencies are put per 100 people, custody per 100 reoffenders, days as days; with
    ``with_base`` the sentence opens with that base ("For every 100 people who receive the service, ..."),
    so it stays true outside its heading, and frequency adds the per-person interval the tables show. A
    both-sides-of-zero interval says how far the effect could go each way and that more people would be
    needed; it never says the service has no effect. Whether the result is significant follows the
    row's ``significant`` flag (Holm-adjusted for secondary measures), not the interval alone.
    """
    what, unit_word, lower, higher, base = _FRAMING[row["measure"]]
    low, high = scaled(row["ci_low"], row["unit"]), scaled(row["ci_high"], row["unit"])
    lead = f"{base}, {what}" if with_base and base else what[0].upper() + what[1:]
    per_person = f" ({_per_person(row)})" if row["unit"] == "per_person" else ""
    if high < 0 or low > 0:
        word, near, far = (lower, high, low) if high < 0 else (higher, low, high)
        note = _significance_note(row)
        return (
            f"{lead} could be {word} by between {_bound(near)} and {_bound(far)} {unit_word}{per_person}."
            + (f" {note}" if note else "")
        )
    return (
        f"{lead} could be {lower} by as many as {_bound(low)} {unit_word}, or {higher} by as many as "
        f"{_bound(high)} {unit_word}{per_person}. More people would need to be analysed to tell the "
        "direction of this difference."
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
    """Whether the headline difference is statistically significant, and its 95% interval, in plain words.

    Empty when the rate is withheld: no interval or significance is stated for a figure not published.
    """
    row = measure(results, HEADLINE_MEASURE)
    if not row["reported"]:
        return ""
    near, far = _points(row)
    if row["significant"] and not _enough_reoffenders(results):
        return (
            "This difference is statistically significant, but fewer than "
            f"{results['reporting']['min_reoffenders']} of the people analysed reoffended: too few for the "
            "lab to list it as a finding, because results resting on so few people can mislead."
        )
    kind = verdict(results)
    if kind == "reduction":
        return (
            "This difference is statistically significant: we can be confident that the rate for people who "
            "received the service is really lower. Our best estimate is that it was lower by between "
            f"{near} and {far} percentage points (95% confidence interval)."
        )
    if kind == "increase":
        return (
            "This difference is statistically significant: we can be confident that the rate for people who "
            f"received the service is really higher, by between {near} and {far} percentage points "
            "(95% confidence interval)."
        )
    low, high = _bound(row["ci_low"] * 100), _bound(row["ci_high"] * 100)
    return (
        "This difference is not statistically significant, so it could have arisen by chance. The true "
        f"difference could be anything from {low} percentage points lower to {high} percentage points higher "
        "(95% confidence interval). This does not mean the service has no effect: more people would need to "
        "be analysed to tell."
    )


def hundred_people(results: dict[str, Any]) -> list[str]:
    """The "for 100 typical people who receive support" sentences: the rate and the frequency."""
    return [
        interval_sentence(row, with_base=False)
        for row in results["outcomes"]
        if row["reported"] and row["measure"] not in REOFFENDER_ONLY
    ]


def reoffenders_only(results: dict[str, Any]) -> list[str]:
    """Sentences for the measures among reoffenders, each with its base, or why one is not shown.

    Time to first reoffence with fewer than 30 treated reoffenders gets the JDL's standard sentence.
    """
    said = []
    for row in results["outcomes"]:
        if row["measure"] not in REOFFENDER_ONLY:
            continue
        if row["reported"]:
            said.append(interval_sentence(row))
        elif row["measure"] == "days_to_first_reoffence" and not _enough_reoffenders(results):
            said.append(small_numbers.TIME_NOT_HEADLINE)
    return said


def unbalanced(results: dict[str, Any]) -> list[str]:
    """Covariates still out of balance after matching (|SMD| above the threshold)."""
    threshold = results["balance"]["threshold"]
    return [c["covariate"] for c in results["balance"]["covariates"] if abs(c["smd_after"]) > threshold]


def _poor_balance(results: dict[str, Any]) -> bool:
    return results["balance"]["verdict"] == "poor"


def caveats(results: dict[str, Any]) -> list[str]:
    """Cautions the reader must see: poor balance, a small group, measures withheld for low numbers.

    Time to first reoffence withheld for fewer than 30 reoffenders is not repeated here: the JDL's standard
    sentence stands under "Among the people who reoffended" (:func:`reoffenders_only`).
    """
    notes = []
    if _poor_balance(results):
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
        time_rule = row["measure"] == "days_to_first_reoffence" and not _enough_reoffenders(results)
        if not row["reported"] and not time_rule:  # the time rule's sentence is under its own heading
            notes.append(f"{row['label']} is not reported: {row['reason']}.")
    return notes


def _rate_can_say(results: dict[str, Any]) -> str:
    row = measure(results, HEADLINE_MEASURE)
    name, n = _intervention(results), row["n_treated"]
    kind = verdict(results)
    if kind == "inconclusive":
        if not row["reported"]:
            return (
                f"This analysis of {n:,} people cannot publish a reoffending rate, so it cannot show whether "
                f"{name} increases or reduces one-year proven reoffending; this is not evidence that the "
                "service has no effect."
            )
        return (
            f"This analysis of {n:,} people could not show whether {name} increases or reduces one-year "
            "proven reoffending. More people would need to be analysed to tell; this is not evidence that "
            "the service has no effect."
        )
    near, far = _points(row)
    if kind == "reduction" and not _poor_balance(results):
        return (
            f"This analysis shows that {name} led to a reduction in one-year proven reoffending of between "
            f"{near} and {far} percentage points for the {n:,} people analysed."
        )
    direction = "lower" if kind == "reduction" else "higher"
    said = (
        f"The {n:,} people analysed who received {name} had a {direction} one-year proven reoffending rate "
        f"than similar people who did not, by between {near} and {far} percentage points."
    )
    if _poor_balance(results):
        said += (
            " Because some characteristics stay out of balance after matching, this difference cannot be "
            "put down to the service alone."
        )
    return said


def can_say(results: dict[str, Any]) -> list[str]:
    """What the organisation can say: the rate by verdict, then the other listed findings with their units.

    Reoffender-only measures are never here (see :func:`cannot_say`), nor any finding with fewer than 30
    treated reoffenders; with poor balance nothing is said to be caused by the service.
    """
    said = [_rate_can_say(results)]
    for row in findings(results):
        if row["measure"] == HEADLINE_MEASURE:
            continue
        sentence = interval_sentence(row)
        if _poor_balance(results):
            sentence += (
                " Some characteristics stay out of balance, so this may not be due to the service alone."
            )
        said.append(sentence)
    return said


def not_analysed(results: dict[str, Any]) -> int | None:
    """People submitted but not analysed: records submitted, less repeats of a person, less those analysed.

    None when the number of repeated records is suppressed (the reader then sees only the record counts).
    """
    a = results["attrition"]
    repeated = a.get("repeated", 0)
    return None if repeated is None else a["submitted"] - repeated - a["analysed"]


def _people_needed(results: dict[str, Any]) -> str:
    needed, row = results["power"]["people_needed"], measure(results, HEADLINE_MEASURE)
    if not needed or not row["reported"]:
        return ""
    return (
        f" If the real difference were as large as the {_bound(row['difference'] * 100)} percentage points "
        f"measured, about {needed:,} people would be needed for an {whole(results['power']['power'] * 100)}% "
        "chance of showing it; that is a planning figure for a future analysis, not evidence that the "
        "difference is real."
    )


def cannot_say(results: dict[str, Any]) -> list[str]:
    """What the organisation cannot say, by verdict, sample size and balance."""
    kind = verdict(results)
    said = []
    if kind == "inconclusive":
        said.append(
            "You cannot say that the service fails to reduce reoffending, or that it makes no difference: "
            "the group analysed is too small to tell." + _people_needed(results)
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
    missing = not_analysed(results)
    who = f"the {plural(missing, 'person', 'people')}" if missing is not None else "the people"
    said.append(
        f"You cannot say the same effect applies to {who} submitted but not analysed, or to other people, "
        "places or years; the service may affect them differently."
    )
    said.append(
        "You cannot say that the control group received no support of its own: national records do not show "
        "which other services they used."
    )
    if _poor_balance(results):
        said.append(
            "You cannot say the groups are fully comparable, or that the service caused the difference: some "
            "characteristics stay out of balance after matching (see 'How good the match is')."
        )
    if any(r["reported"] for r in results["outcomes"] if r["measure"] in REOFFENDER_ONLY):
        said.append(
            "You cannot read the time to first reoffence or custody for the first reoffence as effects of "
            "the service: they compare only the people who reoffended, and if the service changes who "
            "reoffends, those two groups are no longer alike."
        )
    return said


def multiplicity_policy(results: dict[str, Any]) -> str:
    """The multiplicity policy as the report states it."""
    rep = results["reporting"]
    secondary = [measure(results, k)["label"].lower() for k in rep["secondary_family"]]
    family = f" ({', '.join(secondary)})" if secondary else ""
    return (
        "The one-year proven reoffending rate was chosen before the analysis as the primary measure; it "
        f"carries the verdict, at the {whole(rep['alpha'] * 100)}% significance level. The other measures"
        f"{family} are secondary: their p-values are adjusted for the number of secondary measures tested "
        "(Holm's method), and only an adjusted p-value of "
        f"{rep['alpha']:g} or less counts as significant."
    )


def small_number_rules(results: dict[str, Any]) -> str:
    """The JDL small-number rules as the report states them."""
    rep = results["reporting"]
    return (
        f"A result is published only when more than {rep['min_np']} people in the treatment group are "
        "behind it. Time to first reoffence is a headline result, and a significant result is listed as a "
        f"finding, only when at least {rep['min_reoffenders']} people in the treatment group reoffended."
    )
