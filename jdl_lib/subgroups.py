"""For whom: pre-specified subgroup effects, a test of whether the effect differs, and their disclosure rules.

A request names its subgroups in advance (``subgroups:`` in the parameter file). Two kinds exist:

* **Characteristics the national data hold** (gender, age band, index offence group): the whole cohort is
  matched again with the subgroup variable added to the exact strata, so every treated person is compared
  only with controls of the same subgroup ("matched within itself"); each level's effect is then read from
  the level's treated people and their controls.
* **Columns only the organisation sent** (completed the programme, sessions attended, delivery method,
  site): controls have no such value, so each level keeps the matched sets of its own treated people from
  the request's main design, with control weights rebuilt for that level.

Each level is estimated as the headline is (same measure, weights and standard errors). Whether the effect
differs between the levels of one variable is Cochran's Q test for subgroup differences (the test
Cochrane reviews report: the levels' estimates against their inverse-variance mean, chi-squared with
levels - 1 degrees of freedom), which treats the levels as independent: exact for disjoint treated groups
with disjoint controls, approximate when a control serves two levels. Multiplicity: Holm's adjustment
across every reported level of every variable, and separately across the variables' difference tests;
the report states both.

Subgroups always split exactly the people of the overall result: a treated person the within-subgroup match
cannot place (no control of the same subgroup inside the caliper) keeps the main design's controls, and
is counted. Disclosure: a level is published only when it and the rest of the analysed cohort each hold at
least the minimum group, so no level can be differenced against the overall result to reveal fewer people.
Refused levels are listed with their reason, never dropped; the values of a typed variable (site, delivery
method) held by fewer than the minimum group are pooled unnamed, as a rare value could describe one person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from jdl_lib.errors import SpecError
from jdl_lib.matching.result import MatchResult, build_result
from jdl_lib.outcomes import estimate_effects

#: Age bands at the index date: (lower bound, label); the last band is open.
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "under 25"),
    (25, "25 to 34"),
    (35, "35 to 44"),
    (45, "45 and over"),
)
#: Bands of sessions attended (lower bound, label), for the descriptive dose-response view.
SESSION_BANDS: tuple[tuple[int, str], ...] = ((0, "none"), (1, "1 to 4"), (5, "5 to 9"), (10, "10 or more"))
#: Label of a level the organisation left blank.
NOT_RECORDED = "not recorded"
#: Label of the pooled small levels of a typed variable (their own values are never published).
OTHER_VALUES = "(other values)"


@dataclass(frozen=True)
class SubgroupVariable:
    """A variable a request may split its cohort by."""

    name: str
    label: str
    #: True when the national data hold it for controls too (then matched exactly within subgroups).
    national: bool
    #: True for a dose-response view (sessions): shown as descriptive, never as an effect modifier claim.
    descriptive: bool = False
    #: True when the organisation types the values (site, delivery method): a value few people share may
    #: name or describe one person, so the values of levels under the minimum group are never published.
    typed: bool = False


#: The variables a request may name, by parameter-file key.
VARIABLES: dict[str, SubgroupVariable] = {
    v.name: v
    for v in (
        SubgroupVariable("gender", "Gender", national=True),
        SubgroupVariable("age_band", "Age at the index date", national=True),
        SubgroupVariable("index_offence_group", "Index offence group", national=True),
        SubgroupVariable("completed", "Completed the programme", national=False),
        SubgroupVariable("delivery_method", "Delivery method", national=False, typed=True),
        SubgroupVariable("site", "Site", national=False, typed=True),
        SubgroupVariable("sessions_band", "Sessions attended", national=False, descriptive=True),
    )
}


def check_variables(names: Sequence[str]) -> list[str]:
    """Problems with a request's subgroup list (unknown or repeated names), for the spec's one error."""
    problems = [
        f"unknown subgroup '{n}'; choose from {sorted(VARIABLES)}" for n in names if n not in VARIABLES
    ]
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        problems.append(f"subgroups named twice: {repeated}")
    return problems


def _band(values: pd.Series, bands: tuple[tuple[int, str], ...]) -> pd.Series:
    lows = np.array([b[0] for b in bands])
    labels = np.array([b[1] for b in bands], dtype=object)
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    pos = np.searchsorted(lows, np.nan_to_num(v, nan=-1), side="right") - 1
    out = np.where(np.isnan(v) | (pos < 0), NOT_RECORDED, labels[np.clip(pos, 0, None)])
    return pd.Series(out, index=values.index, dtype=object)


def subgroup_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Each row's level of subgroup variable ``name`` (text; blanks as "not recorded")."""
    if name == "age_band":
        return _band(frame["age_at_index"], AGE_BANDS)
    if name == "sessions_band":
        if "sessions_attended" not in frame.columns:
            return pd.Series(NOT_RECORDED, index=frame.index, dtype=object)
        return _band(frame["sessions_attended"], SESSION_BANDS)
    if name == "gender":
        return frame["gender"].map({"M": "Men", "F": "Women"}).fillna(NOT_RECORDED).astype(object)
    if name == "completed":
        if name not in frame.columns:
            return pd.Series(NOT_RECORDED, index=frame.index, dtype=object)
        return frame[name].map({True: "completed", False: "did not complete"}).fillna(NOT_RECORDED)
    if name not in frame.columns:
        return pd.Series(NOT_RECORDED, index=frame.index, dtype=object)
    return frame[name].astype(object).where(frame[name].notna(), NOT_RECORDED)


@dataclass(frozen=True)
class LevelResult:
    """One subgroup level: its matched counts and the effect on the measure, or why it is not shown."""

    variable: str
    level: str
    n_treated: int
    n_control: int
    reported: bool
    reason: str = ""
    treated_value: float = float("nan")
    control_value: float = float("nan")
    difference: float = float("nan")
    std_error: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")
    p_holm: float = float("nan")


@dataclass(frozen=True)
class VariableResult:
    """All levels of one subgroup variable and the test of whether the effect differs between them."""

    variable: str
    label: str
    descriptive: bool
    matched_within: bool
    levels: tuple[LevelResult, ...]
    #: People whose subgroup had no control within the caliper, who kept their main-design controls.
    n_fallback: int = 0
    q_statistic: float = float("nan")
    q_df: int = 0
    p_difference: float = float("nan")
    p_difference_holm: float = float("nan")


@dataclass(frozen=True)
class SubgroupAnalysis:
    """Every pre-specified subgroup of a request, with the multiplicity adjustments applied."""

    measure: str
    variables: tuple[VariableResult, ...]
    holm_note: str


def sample_from_pairs(frame: pd.DataFrame, match: MatchResult, pairs: pd.DataFrame) -> MatchResult:
    """The matched sample formed by some of a design's treated–control links, control weights rebuilt.

    ``frame`` is the frame the matcher was given and ``match`` its result (their index labels are the
    ones in ``pairs``, a subset of links with ``treated`` and ``control`` labels). Weights follow the
    matcher's rule (:func:`jdl_lib.matching.result.build_result`), so a subgroup's controls weigh as they
    would had the subgroup been matched alone.
    """
    scores = match.scores
    treat = scores["treat"].to_numpy(dtype=bool)
    rows = ~treat | scores.index.isin(pairs["treated"])
    sub_scores = scores[rows]
    pos = pd.DataFrame(
        {
            "t": sub_scores.index.get_indexer(pairs["treated"]),
            "c": sub_scores.index.get_indexer(pairs["control"]),
        }
    )
    return build_result(
        method=match.method,
        frame=frame.loc[sub_scores.index],
        treat=sub_scores["treat"].to_numpy(dtype=bool),
        propensity=sub_scores["propensity"].to_numpy(dtype=float),
        distance=sub_scores["distance"].to_numpy(dtype=float),
        strata=sub_scores["stratum"].to_numpy(),
        pairs_pos=pos,
        settings=match.settings,
        caliper_width=match.caliper_width,
        n_excluded=match.n_controls_excluded_treated_person,
    )


def within_subgroup_pairs(main: MatchResult, within: MatchResult) -> tuple[pd.DataFrame, int]:
    """Links of the main design's treated people, taken from the match within subgroups where it found them.

    Treated people the within-subgroup match could not place (no control of their subgroup inside the
    caliper) keep their main-design controls, so the subgroups split exactly the people the overall result
    describes: publishing both can then never reveal the few left out. Returns the links and how many
    people kept main-design controls. Both matches must come from the same frame (same index labels).
    """
    main_t = pd.Index(main.pairs["treated"].unique())
    found = pd.Index(within.pairs["treated"].unique())
    fallback = main_t.difference(found)
    pairs = pd.concat(
        [
            within.pairs[within.pairs["treated"].isin(main_t)],
            main.pairs[main.pairs["treated"].isin(fallback)],
        ],
        ignore_index=True,
    )
    return pairs, len(fallback)


def _variable(
    var: SubgroupVariable,
    frame: pd.DataFrame,
    match: MatchResult,
    pairs: pd.DataFrame,
    n_fallback: int,
    *,
    estimate: Callable[[MatchResult], Any],
    min_group: int,
) -> VariableResult:
    """Estimate every level of one variable from the links of the main design's treated people."""
    treated_labels = pd.Index(pairs["treated"].unique())
    levels = subgroup_column(frame.loc[treated_labels], var.name)
    sizes = levels.value_counts()
    withheld = withheld_levels(sizes, min_group)
    results = []
    unnamed = [lv for lv in sizes.index if var.typed and lv != NOT_RECORDED and sizes[lv] < min_group]
    if unnamed:  # a typed value held by few people may name someone: pooled, never published
        reason = (
            f"{len(unnamed)} {'value' if len(unnamed) == 1 else 'values'}, each held by fewer than "
            f"{min_group} people; not named, as a value so rare could identify someone"
        )
        n_unnamed = int(sizes[unnamed].sum())
        results.append(LevelResult(var.name, OTHER_VALUES, n_unnamed, 0, reported=False, reason=reason))
    for level in sorted(sizes.index):
        members = treated_labels[(levels == level).to_numpy()]
        reason = withheld.get(level, "")
        if level in unnamed:
            continue
        if reason:
            results.append(LevelResult(var.name, level, len(members), 0, reported=False, reason=reason))
            continue
        sub = sample_from_pairs(frame, match, pairs[pairs["treated"].isin(members)])
        e = estimate(sub).estimates[0]
        results.append(
            LevelResult(
                var.name,
                level,
                e.n_treated,
                e.n_control,
                reported=True,
                treated_value=e.treated_value,
                control_value=e.control_value,
                difference=e.difference,
                std_error=e.std_error,
                ci_low=float(e.ci_low),
                ci_high=float(e.ci_high),
                p_value=e.p_value,
            )
        )
    return _with_q_test(
        VariableResult(
            var.name, var.label, var.descriptive, var.national, tuple(results), n_fallback=n_fallback
        )
    )


def withhold_near_duplicates(
    variables: list[VariableResult], frame: pd.DataFrame, match: MatchResult, min_difference: int
) -> list[VariableResult]:
    """Withhold a level whose people are 1 to ``min_difference - 1`` from the whole group or a shown level.

    Why: levels of different variables can hold nearly the same people (a site where everyone is seen
    online); publishing both results would reveal the few people in only one of them, as two reports
    would. Levels are taken in the request's order and the later one is withheld; the variable's test of
    whether the effect differs is then recomputed from the levels still shown.
    """
    treated = pd.Index(match.pairs["treated"].unique())
    shown: list[set] = [set(treated)]
    out = []
    for v in variables:
        levels = subgroup_column(frame.loc[treated], v.variable).to_numpy()
        kept, changed = [], False
        for lv in v.levels:
            if lv.reported:
                members = set(treated[levels == lv.level])
                if any(0 < len(members ^ other) < min_difference for other in shown):
                    reason = (
                        f"withheld: it holds nearly the same people as another group in this report (fewer "
                        f"than {min_difference} differ), so comparing the two would reveal those people"
                    )
                    lv = LevelResult(lv.variable, lv.level, lv.n_treated, 0, reported=False, reason=reason)
                    changed = True
                else:
                    shown.append(members)
            kept.append(lv)
        if changed:
            reset = {"q_statistic": float("nan"), "q_df": 0, "p_difference": float("nan")}
            v = _with_q_test(VariableResult(**{**v.__dict__, "levels": tuple(kept), **reset}))
        out.append(v)
    return out


def withheld_levels(sizes: pd.Series, min_group: int) -> dict[str, str]:
    """Which levels of a variable are withheld, and why, so that no published figure reveals a small group.

    ``sizes`` counts the analysed treated people per level. A level under the minimum group, and the
    people the organisation did not record, are withheld (primary). Because the overall result covers
    everyone, the withheld people could otherwise be recovered as the overall minus the published levels;
    so while they number fewer than the minimum group, the smallest published level is withheld too
    (secondary suppression), as statistical disclosure control does for table margins.
    """
    why: dict[str, str] = {}
    for level, n in sizes.items():
        if level == NOT_RECORDED:
            why[level] = "the organisation did not record this for these people"
        elif n < min_group:
            why[level] = f"fewer than {min_group} people in this group"
    shown = sizes.drop(list(why)).sort_values(kind="stable")
    hidden = int(sizes[list(why)].sum())
    while 0 < hidden < min_group and len(shown):
        level = shown.index[0]
        why[level] = (
            "withheld so that the groups not shown (fewer than "
            f"{min_group} people) cannot be worked out from the overall result"
        )
        hidden += int(shown.iloc[0])
        shown = shown.iloc[1:]
    return why


def _with_q_test(v: VariableResult) -> VariableResult:
    """Add Cochran's Q test of whether the reported levels' effects differ."""
    shown = [lv for lv in v.levels if lv.reported and lv.std_error > 0]
    if len(shown) < 2:
        return v
    est = np.array([lv.difference for lv in shown])
    w = 1 / np.array([lv.std_error for lv in shown]) ** 2
    mean = np.sum(w * est) / w.sum()
    q = float(np.sum(w * (est - mean) ** 2))
    df = len(shown) - 1
    return VariableResult(
        **{**v.__dict__, "q_statistic": q, "q_df": df, "p_difference": float(stats.chi2.sf(q, df))}
    )


def _holm(values: list[float]) -> list[float]:
    if not values:
        return []
    return [float(p) for p in multipletests(values, method="holm")[1]]


def analyse_subgroups(
    names: Sequence[str],
    frame: pd.DataFrame,
    match: MatchResult,
    rematch: Callable[[str], tuple[pd.DataFrame, MatchResult]],
    *,
    measure: str = "rate",
    method: str = "cluster_robust",
    alpha: float = 0.05,
    min_group: int = 60,
    min_difference: int = 10,
    standard_errors: str = "auto",
    random_state: int | None = None,
) -> SubgroupAnalysis:
    """Estimate the pre-specified subgroups of a request.

    Parameters
    ----------
    names
        Subgroup variables, keys of :data:`VARIABLES`, in the order the request lists them.
    frame, match
        The main design: the frame given to the matcher and its :class:`MatchResult`. Organisation-only
        variables read their levels from ``frame`` (the upload's extra columns carried on treated rows).
    rematch
        ``rematch(column)`` matches the cohort again with ``column`` added to the exact strata and
        returns ``(frame, match)``; the column (:func:`exact_column`) is added to treated and pool rows
        by :func:`add_subgroup_columns`.
    measure, method, alpha, standard_errors, random_state
        The headline measure and inference, as the main result uses them.
    min_group
        The request's minimum group (at least 60).
    min_difference
        The differencing guard's minimum (:func:`withhold_near_duplicates`).
    """
    unknown = check_variables(names)
    if unknown:
        raise SpecError("; ".join(unknown))
    out = []
    estimate = partial(
        estimate_effects,
        measures=[measure],
        method=method,
        alpha=alpha,
        standard_errors=standard_errors,
        random_state=random_state,
    )
    for name in names:
        var = VARIABLES[name]
        pairs, n_fallback = match.pairs, 0
        if var.national:
            f, within = rematch(exact_column(name))
            if not f.index.equals(frame.index):
                raise ValueError("rematch must match the same frame as the main design (same index labels)")
            pairs, n_fallback = within_subgroup_pairs(match, within)
        out.append(
            _variable(
                var,
                frame,
                match,
                pairs,
                n_fallback,
                estimate=estimate,
                min_group=min_group,
            )
        )
    out = withhold_near_duplicates(out, frame, match, min_difference)
    # Holm across every reported level (descriptive views excluded: they make no claim).
    flat = [
        (i, j) for i, v in enumerate(out) if not v.descriptive for j, lv in enumerate(v.levels) if lv.reported
    ]
    adjusted = _holm([out[i].levels[j].p_value for i, j in flat])
    levels = [list(v.levels) for v in out]
    for (i, j), p in zip(flat, adjusted, strict=True):
        levels[i][j] = LevelResult(**{**levels[i][j].__dict__, "p_holm": p})
    tested = [i for i, v in enumerate(out) if not v.descriptive and np.isfinite(v.p_difference)]
    adjusted_q = dict(zip(tested, _holm([out[i].p_difference for i in tested]), strict=True))
    final = tuple(
        VariableResult(
            **{**v.__dict__, "levels": tuple(levels[i]), "p_difference_holm": adjusted_q.get(i, float("nan"))}
        )
        for i, v in enumerate(out)
    )
    note = (
        f"Subgroup p-values are Holm-adjusted across the {len(flat)} subgroup results, and the tests of "
        f"whether the effect differs across the {len(tested)} subgroup variables are Holm-adjusted among "
        "themselves; a subgroup finding counts as significant only on its adjusted p-value."
    )
    return SubgroupAnalysis(measure=measure, variables=final, holm_note=note)


def exact_column(name: str) -> str:
    """The matching-frame column that holds subgroup variable ``name``'s level, for exact matching."""
    return f"subgroup_{name}"


def add_subgroup_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``frame`` with a column per national subgroup variable, for exact matching within subgroups."""
    extra = {exact_column(n): subgroup_column(frame, n).to_numpy() for n in names if VARIABLES[n].national}
    return frame.assign(**extra) if extra else frame


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def subgroups_results(analysis: SubgroupAnalysis, cell_threshold: int) -> dict:
    """The subgroup analysis as results.json holds it: aggregates only, small counts suppressed.

    A withheld level keeps its reason and, when it holds at least ``cell_threshold`` people, its size;
    smaller sizes are ``None`` (shown as suppressed).
    """
    variables = []
    for v in analysis.variables:
        levels = []
        for lv in v.levels:
            shown = lv.reported
            levels.append(
                {
                    "level": str(lv.level),
                    "reported": shown,
                    "reason": lv.reason,
                    "n_treated": lv.n_treated if (shown or lv.n_treated >= cell_threshold) else None,
                    "n_control": lv.n_control if shown else None,
                    "treated_value": _num(lv.treated_value) if shown else None,
                    "control_value": _num(lv.control_value) if shown else None,
                    "difference": _num(lv.difference) if shown else None,
                    "ci_low": _num(lv.ci_low) if shown else None,
                    "ci_high": _num(lv.ci_high) if shown else None,
                    "p_value": _num(lv.p_value) if shown else None,
                    "p_holm": _num(lv.p_holm) if shown else None,
                }
            )
        variables.append(
            {
                "variable": v.variable,
                "label": v.label,
                "descriptive": v.descriptive,
                "matched_within": v.matched_within,
                "n_fallback": v.n_fallback,
                "levels": levels,
                "q_statistic": _num(v.q_statistic),
                "q_df": v.q_df,
                "p_difference": _num(v.p_difference),
                "p_difference_holm": _num(v.p_difference_holm),
            }
        )
    return {"measure": analysis.measure, "variables": variables, "multiplicity": analysis.holm_note}
