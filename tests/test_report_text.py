"""Report wording: every branch, on planted results whose right wording is known, and the rounding rules."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from jdl_lib import small_numbers
from jdl_lib.report import sections, tables, text
from jdl_lib.report.assemble import apply_reporting_policy
from jdl_lib.report.example import example_results
from jdl_lib.report.results import validate_results


def planted(results: dict[str, Any], measure: str, **fields: Any) -> dict[str, Any]:
    """A copy with one outcome row set by hand and the reporting policy re-applied (Holm, withholding)."""
    results = copy.deepcopy(results)
    row = text.measure(results, measure)
    row.update(fields)
    if {"ci_low", "ci_high"} <= fields.keys() and "difference" not in fields:
        row["difference"] = (fields["ci_low"] + fields["ci_high"]) / 2
    for r in results["outcomes"]:
        r.setdefault("p_value", None)
    results["outcomes"] = apply_reporting_policy(results["outcomes"], 0.05)
    return validate_results(results)


def with_rate(
    results: dict[str, Any], t: float, c: float, low: float, high: float, p: float
) -> dict[str, Any]:
    """A copy whose headline rate row has the given values (hand-made, so expected text is known)."""
    return planted(
        results,
        "reoffended_1y",
        treated_value=t,
        control_value=c,
        difference=t - c,
        ci_low=low,
        ci_high=high,
        p_value=p,
    )


@pytest.fixture
def base() -> dict[str, Any]:
    return example_results("reduction")


def all_text(results: dict[str, Any]) -> str:
    return " ".join(
        [text.headline(results), text.significance_sentence(results)]
        + text.can_say(results)
        + text.cannot_say(results)
        + text.hundred_people(results)
        + text.caveats(results)
    )


def test_rounding_rules() -> None:
    assert text.whole(2.5) == "3" and text.whole(-2.5) == "-3" and text.whole(1234.4) == "1,234"
    assert text.pct(0.284) == "28%" and text.pct(None) == "-"
    assert text.scaled(0.5, "proportion") == 50 and text.scaled(1.2, "per_person") == 120
    assert text.scaled(120.0, "days") == 120.0
    assert text.plural(1, "characteristic") == "1 characteristic" and text.plural(2, "person", "people") == (
        "2 people"
    )


def test_p_values_never_print_as_zero(base: dict[str, Any]) -> None:
    """Issue 11 item 14: "p 0.000" is written "< 0.001"."""
    assert text.p_value(0.0004) == "< 0.001" and text.p_value(0.0312) == "0.031" and text.p_value(None) == "-"
    r = with_rate(base, 0.30, 0.42, -0.171, -0.069, 3e-9)
    shown = tables.outcomes_table(r)
    assert shown.loc[0, "p-value"] == "< 0.001"
    assert "0.000" not in shown.to_string()


def test_significant_reduction(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.30, 0.42, -0.171, -0.069, 0.001)
    assert text.verdict(r) == "reduction"
    n = text.measure(r, "reoffended_1y")["n_treated"]
    assert text.headline(r) == (
        f"The one-year proven reoffending rate for the {n} people who received the Bridgeway "
        "Through-the-Gate mentoring programme was 30%, compared with 42% for a matched control group of "
        "similar offenders."
    )
    assert "lower by between 7 and 17 percentage points" in text.significance_sentence(r)
    assert "led to a reduction in one-year proven reoffending of between 7 and 17" in text.can_say(r)[0]
    assert text.hundred_people(r)[0] == (
        "The number of people who commit a proven reoffence within one year could be lower by between 7 and "
        "17 people. This is a statistically significant result."
    )
    assert not any("fails" in s for s in text.cannot_say(r))


def test_interval_touching_zero_says_less_than_one(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.61, 0.65, -0.075, -0.0036, 0.03)
    assert "between less than 1 and 8 percentage points" in text.can_say(r)[0]
    assert "between 0 and" not in all_text(r)


def test_significant_increase(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.48, 0.40, 0.021, 0.139, 0.01)
    assert text.verdict(r) == "increase"
    assert "really higher, by between 2 and 14 percentage points" in text.significance_sentence(r)
    assert (
        "higher one-year proven reoffending rate than similar people who did not, by between 2 and 14"
        in (text.can_say(r)[0])
    )
    assert any("cannot say that the service causes reoffending" in s for s in text.cannot_say(r))


def test_inconclusive_asks_for_more_people_and_people_needed_is_a_planning_figure(
    base: dict[str, Any],
) -> None:
    r = with_rate(base, 0.36, 0.40, -0.152, 0.072, 0.47)
    assert text.verdict(r) == "inconclusive"
    s = text.significance_sentence(r)
    assert "not statistically significant" in s and "15 percentage points lower to 7" in s
    assert "does not mean the service has no effect" in s
    assert (
        "could be lower by as many as 15 people, or higher by as many as 7 people"
        in text.hundred_people(r)[0]
    )
    assert "not evidence that the service has no effect" in text.can_say(r)[0]
    cannot = text.cannot_say(r)[0]
    assert "cannot say that the service fails" in cannot
    needed = r["power"]["people_needed"]
    assert (
        f"If the real difference were as large as the 4 percentage points measured, about {needed:,}"
        in cannot
    )
    assert "planning figure" in cannot and "not evidence that the difference is real" in cannot


def test_issue_11_frequency_is_never_overstated_100_fold(base: dict[str, Any]) -> None:
    """Issue 11 item 12: "lower by between 12 and 49 offences" beside a table saying -0.49 to -0.12 per
    person. Every sentence now names its base: per 100 people, with the per-person figures of the table."""
    r = planted(base, "reoffences_1y", ci_low=-0.49, ci_high=-0.12, difference=-0.305, p_value=1e-4)
    freq = [s for s in text.can_say(r) if "reoffences" in s]
    assert freq == [
        "For every 100 people who receive the service, compared with 100 similar people who do not, the "
        "number of proven reoffences they commit within one year could be lower by between 12 and 49 "
        "offences (0.12 to 0.49 offences per person). This is a statistically significant result, after "
        "allowing for the number of secondary measures tested."
    ]
    table = tables.outcomes_table(r).set_index("Measure").loc["Proven reoffences per person"]
    assert "(-0.49 to -0.12)" in table["Difference (95% CI)"]
    for sentence in text.can_say(r) + text.cannot_say(r):  # no bare "N offences" without its base
        if re.search(r"\d+ offences", sentence):
            assert "100 people" in sentence and "per person" in sentence


def test_issue_11_reoffender_only_measures_are_never_effects(base: dict[str, Any]) -> None:
    """Issue 11 item 13: a significant custody-on-reoffence difference is not under "What you can say",
    is framed per 100 reoffenders, and is never among the "100 typical people" sentences."""
    r = planted(base, "first_reoffence_custody", ci_low=-0.20, ci_high=-0.08, difference=-0.14, p_value=1e-5)
    r = planted(r, "days_to_first_reoffence", ci_low=12.0, ci_high=40.0, difference=26.0, p_value=1e-5)
    assert all("custodial" not in s and "first proven reoffence" not in s for s in text.can_say(r))
    assert all("custodial" not in s and "days" not in s for s in text.hundred_people(r))
    among = text.reoffenders_only(r)
    assert any(
        s.startswith("For every 100 reoffenders in the treatment group") and "custodial" in s for s in among
    )
    assert any("first proven reoffence could be longer by between 12 and 40 days" in s for s in among)
    assert any("not effects of the service" in s or "as effects of" in s for s in text.cannot_say(r))
    html = sections.can_cannot(r)
    assert "Among the people who reoffended (not effects of the service)" in html


def test_issue_11_poor_balance_never_says_led_to(base: dict[str, Any]) -> None:
    """Issue 11 item 13: with poor balance a significant reduction is described, not credited to the
    service."""
    poor = example_results("reduction", balance="poor")
    r = with_rate(poor, 0.30, 0.42, -0.171, -0.069, 0.001)
    r = planted(r, "reoffences_1y", ci_low=-0.49, ci_high=-0.12, difference=-0.305, p_value=1e-4)
    said = " ".join(text.can_say(r))
    assert text.verdict(r) == "reduction"
    assert "led to" not in said
    assert (
        "lower one-year proven reoffending rate than similar people who did not, by between 7 and 17" in said
    )
    assert "cannot be put down to the service alone" in said
    assert "may not be due to the service alone" in said
    assert any("or that the service caused the difference" in s for s in text.cannot_say(r))


def test_secondary_measures_are_judged_on_holm_adjusted_p(base: dict[str, Any]) -> None:
    """A secondary p of 0.03 beside two others of 0.5 and 0.9: Holm makes it 0.09, not significant."""
    r = planted(base, "reoffences_1y", ci_low=-0.4, ci_high=-0.02, difference=-0.21, p_value=0.03)
    r = planted(r, "days_to_first_reoffence", p_value=0.5)
    r = planted(r, "first_reoffence_custody", p_value=0.9)
    row = text.measure(r, "reoffences_1y")
    assert row["p_value_adjusted"] == pytest.approx(0.09) and not row["significant"]
    assert all("reoffences" not in s for s in text.can_say(r))
    assert "not a statistically significant result" in text.hundred_people(r)[1]
    shown = tables.outcomes_table(r).set_index("Measure")
    assert shown.loc["Proven reoffences per person", "Holm-adjusted p"] == "0.090"
    assert shown.loc["One-year proven reoffending rate (primary)", "Holm-adjusted p"] == "primary"
    assert "(Holm&#x27;s method)" in sections.outcomes(r) and "primary measure" in sections.method(r)


def test_significant_with_fewer_than_30_reoffenders_is_not_listed(base: dict[str, Any]) -> None:
    """JDL rule: the significant-findings list needs p <= 0.05 and at least 30 treated reoffenders."""
    r = with_rate(base, 0.30, 0.42, -0.171, -0.069, 0.001)
    r["reporting"]["enough_reoffenders"] = False
    assert text.findings(r) == [] and text.verdict(r) == "inconclusive"
    assert "fewer than 30 of the people analysed reoffended" in text.significance_sentence(r)
    assert "led to a reduction" not in " ".join(text.can_say(r))


def test_issue_15_withheld_rate_prints_no_rates_and_no_interval(base: dict[str, Any]) -> None:
    """Issue 15 item 3: when the rate is withheld for small numbers, the summary prints neither rate nor a
    significance sentence, and results.json carries no value to print."""
    r = planted(base, "reoffended_1y", reported=False, reason=small_numbers.NP_REASON, p_value=2.7e-14)
    row = text.measure(r, "reoffended_1y")
    assert row["treated_value"] is None and row["ci_low"] is None and row["p_value"] is None
    assert text.significance_sentence(r) == ""
    assert "cannot be published" in text.headline(r) and "%" not in text.headline(r)
    summary = sections.summary(r)
    assert "statistically significant" not in summary and "percentage points" not in summary
    assert "percentage points" not in " ".join(text.can_say(r))


def test_time_to_first_reoffence_with_few_reoffenders_gets_the_standard_sentence() -> None:
    r = example_results("inconclusive")  # 72 people, fewer than 30 reoffenders
    assert not text.measure(r, "days_to_first_reoffence")["reported"]
    assert small_numbers.TIME_NOT_HEADLINE in text.reoffenders_only(r)
    assert small_numbers.TIME_NOT_HEADLINE in sections.can_cannot(r)
    assert not any("Time to first" in n for n in text.caveats(r))  # said once, under its heading
    assert small_numbers.TIME_NOT_HEADLINE == (
        "Time to first reoffence has not been included as a headline result due to low numbers of "
        "reoffenders, which could give misleading results."
    )


def test_repeated_records_are_not_people_lost(base: dict[str, Any]) -> None:
    """Issue 11 item 14: a record repeating a person is not a person not analysed."""
    a = base["attrition"]
    missing = a["submitted"] - a["repeated"] - a["analysed"]
    assert text.not_analysed(base) == missing
    assert any(f"the {missing:,} people submitted but not analysed" in s for s in text.cannot_say(base))
    assert f"{a['repeated']} records repeated a person already submitted, and {missing:,} people" in (
        sections.intervention(base)
    )
    hidden = copy.deepcopy(base)
    hidden["attrition"]["repeated"] = None
    assert any("the people submitted but not analysed" in s for s in text.cannot_say(hidden))


def test_poor_balance_and_small_sample_caveats() -> None:
    good = example_results("reduction")
    assert text.caveats(good) == []
    poor = example_results("inconclusive", balance="poor")
    notes = text.caveats(poor)
    assert any("age at first contact, previous offences, copas rate" in n for n in notes)
    assert any(n.startswith("With 72 people, only a difference of about 18 percentage points") for n in notes)
    assert any("fully comparable" in s for s in text.cannot_say(poor))
    assert "3 characteristics stay above" in sections.balance(poor)


@pytest.mark.parametrize(("kind", "expected"), [("reduction", "reduction"), ("inconclusive", "inconclusive")])
def test_planted_effect_verdict(kind: str, expected: str) -> None:
    """A large planted effect in a big group reads as significant; a small group reads as inconclusive."""
    assert text.verdict(example_results(kind)) == expected


def test_a_withheld_rate_takes_its_linkage_error_variants_with_it(base: dict[str, Any]) -> None:
    """The linkage-error variants re-estimate the rate: shown beside a withheld rate they would reveal it."""
    from jdl_lib.report import assemble

    r = planted(base, "reoffended_1y", reported=False, reason=small_numbers.NP_REASON, p_value=0.01)
    check = {"check": "linkage_high_confidence", "people_changed": 30, "estimate": -0.08, "ci_low": -0.12}
    r["linkage_error"] = {
        "high_confidence_threshold": 0.99,
        "checks": [check | {"ci_high": -0.04, "changes_conclusion": False, "note": "250 people"}],
    }
    shown = assemble.withhold(r)["linkage_error"]["checks"][0]
    assert shown["estimate"] is None and shown["ci_low"] is None and shown["ci_high"] is None
    assert "points" not in text.linkage_error_sentence(r) and "-8" not in text.linkage_error_sentence(r)
