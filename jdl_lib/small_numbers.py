"""The Justice Data Lab's small-number rules for publishing a result, in one place.

The RAP code that produces the JDL's reports applies three rules (``shared/reference/jdl_methodology.md``
section 6, from ``Scripts/variables.R`` and ``Scripts/tables.R``):

1. a result line is printed only if its ``np`` in the treatment group is **greater than 10** ("Doesn't
   print if np isn't greater than 10");
2. time to first reoffence is a headline result only if the treatment group holds **at least 30
   reoffenders**; otherwise the report carries :data:`TIME_NOT_HEADLINE`;
3. a measure enters the bulleted list of significant findings only if **p <= 0.05 and** the treatment group
   holds **at least 30 reoffenders** (``difference_p <= 0.05 & treat_time_numb >= 30``).

``np`` is the expected count behind a measure in the treatment group: for a yes/no measure it is the number
of treated people with the outcome (n times the proportion); for reoffences per person it is the number of
treated reoffenders (the people who carry every counted offence); for days to first reoffence, a measure of
reoffenders only, it is the number of treated reoffenders. The RAP names ``np_treat`` without defining it for
count and time measures; these two readings are ours, chosen so that each rule counts the people a figure
rests on.
"""

from __future__ import annotations

#: A result is printed only when its np in the treatment group is greater than this.
MIN_NP = 10
#: Treated reoffenders needed for time to first reoffence as a headline, and for any significant finding.
MIN_REOFFENDERS = 30
#: The JDL's standard sentence when time to first reoffence is not a headline.
TIME_NOT_HEADLINE = (
    "Time to first reoffence has not been included as a headline result due to low numbers of "
    "reoffenders, which could give misleading results."
)
#: Why a measure is not printed under rule 1 (the reader's words; the count itself is not shown).
NP_REASON = "too few people in the treatment group for this figure to be published (the np > 10 rule)"


def printable(np_treated: float) -> bool:
    """Rule 1: a result is printed only if its np in the treatment group is greater than 10."""
    return np_treated > MIN_NP


def time_is_headline(treated_reoffenders: int) -> bool:
    """Rule 2: time to first reoffence is a headline only with at least 30 treated reoffenders."""
    return treated_reoffenders >= MIN_REOFFENDERS


def listable(p_value: float | None, treated_reoffenders: int, alpha: float = 0.05) -> bool:
    """Rule 3: a significant finding is listed only if p <= alpha and there are at least 30 treated
    reoffenders."""
    return p_value is not None and p_value <= alpha and treated_reoffenders >= MIN_REOFFENDERS


def reporting(measure: str, np_treated: float, treated_reoffenders: int) -> tuple[bool, str]:
    """Whether one measure is published, and if not, why (rules 1 and 2).

    Parameters
    ----------
    measure : str
        ``"rate"``, ``"frequency"``, ``"time_to_reoffence"`` or ``"custody_on_reoffence"`` (the outcome
        estimator's names).
    np_treated : float
        The measure's np in the treatment group (see the module docstring).
    treated_reoffenders : int
        People in the treatment group with a proven reoffence within one year.
    """
    if measure == "time_to_reoffence" and not time_is_headline(treated_reoffenders):
        return False, (
            f"fewer than {MIN_REOFFENDERS} reoffenders in the treatment group; it is not a headline result, "
            "because low numbers of reoffenders could give misleading results"
        )
    if not printable(np_treated):
        return False, NP_REASON
    return True, ""
