"""Report wording: every branch, with hand-made results, and the rounding rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jdl_lib.report import text
from jdl_lib.report.example import example_results


def with_rate(
    results: dict[str, Any], t: float, c: float, low: float, high: float, p: float
) -> dict[str, Any]:
    """A copy whose headline rate row has the given values (hand-made, so expected text is known)."""
    results = copy.deepcopy(results)
    row = text.measure(results, "reoffended_1y")
    row.update(treated_value=t, control_value=c, difference=t - c, ci_low=low, ci_high=high, p_value=p)
    row["significant"] = p <= 0.05
    return results


@pytest.fixture
def base() -> dict[str, Any]:
    return example_results("reduction")


def test_rounding_rules() -> None:
    assert text.whole(2.5) == "3" and text.whole(-2.5) == "-3" and text.whole(1234.4) == "1,234"
    assert text.pct(0.284) == "28%" and text.pct(None) == "-"
    assert text.scaled(0.5, "proportion") == 50 and text.scaled(1.2, "per_person") == 120
    assert text.scaled(120.0, "days") == 120.0


def test_significant_reduction(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.30, 0.42, -0.171, -0.069, 0.001)
    assert text.verdict(r) == "reduction"
    n = text.measure(r, "reoffended_1y")["n_treated"]
    assert text.headline(r) == (
        f"The one-year proven reoffending rate for the {n} people who received the Bridgeway "
        "Through-the-Gate mentoring programme was 30%, compared with 42% for a matched control group of "
        "similar offenders."
    )
    assert "lowered the rate by between 7 and 17 percentage points" in text.significance_sentence(r)
    assert "led to a reduction in one-year proven reoffending of between 7 and 17" in text.can_say(r)[0]
    assert text.hundred_people(r)[0] == (
        "The number of people who commit a proven reoffence within one year could be lower by between 7 and "
        "17 people. This is a statistically significant result."
    )
    assert not any("fails" in s for s in text.cannot_say(r))


def test_significant_increase(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.48, 0.40, 0.021, 0.139, 0.01)
    assert text.verdict(r) == "increase"
    assert "really higher, by between 2 and 14 percentage points" in text.significance_sentence(r)
    assert "higher one-year proven reoffending rate, by between 2 and 14" in text.can_say(r)[0]
    assert any("cannot say that the service causes reoffending" in s for s in text.cannot_say(r))


def test_inconclusive_asks_for_more_people_not_failure(base: dict[str, Any]) -> None:
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
    assert f"{r['power']['people_needed']:,} people would be needed" in cannot


def test_significant_but_unreported_rate_is_inconclusive(base: dict[str, Any]) -> None:
    r = with_rate(base, 0.30, 0.42, -0.171, -0.069, 0.001)
    text.measure(r, "reoffended_1y")["reported"] = False
    assert text.verdict(r) == "inconclusive"


def test_interval_sentence_units_and_small_bounds() -> None:
    days = {"measure": "days_to_first_reoffence", "unit": "days", "ci_low": 3.4, "ci_high": 40.6}
    assert text.interval_sentence(days) == (
        "The average time before a reoffender commits their first proven reoffence could be longer by "
        "between 3 and 41 days. This is a statistically significant result."
    )
    freq = {"measure": "reoffences_1y", "unit": "per_person", "ci_low": -0.613, "ci_high": -0.004}
    assert "lower by between less than 1 and 61 offences" in text.interval_sentence(freq)


def test_poor_balance_and_small_sample_caveats() -> None:
    good = example_results("reduction")
    assert text.caveats(good) == []
    poor = example_results("inconclusive", balance="poor")
    notes = text.caveats(poor)
    assert any("age at first contact, previous offences, copas rate" in n for n in notes)
    assert any(n.startswith("With 72 people, only a difference of about 18 percentage points") for n in notes)
    assert any("fewer than 30 reoffenders" in n for n in notes)
    assert any("fully comparable" in s for s in text.cannot_say(poor))


@pytest.mark.parametrize(("kind", "expected"), [("reduction", "reduction"), ("inconclusive", "inconclusive")])
def test_planted_effect_verdict(kind: str, expected: str) -> None:
    """A large planted effect in a big group reads as significant; a small group reads as inconclusive."""
    assert text.verdict(example_results(kind)) == expected
