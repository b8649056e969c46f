"""For whom and over time: subgroup effects, their disclosure rules, and the offending trajectory.

Truth tests on the 25k-person test store: the cohort generator plants an effect that differs by gender,
and the lab must find it (and find no difference when none is planted at about the stated rate).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from synth_helpers import small_store

from jdl_lib.matching import NearestNeighborMatcher
from jdl_lib.store import NationalStore
from jdl_lib.subgroups import NOT_RECORDED, sample_from_pairs, subgroup_column, withheld_levels
from jdl_lib.synth.recovery import recover_subgroups, truth_pool
from jdl_lib.trajectories import YEARS

WINDOW = (date(2003, 1, 1), date(2010, 12, 31))


@pytest.fixture(scope="module")
def custody_pool():
    with NationalStore.open(small_store()) as store:
        yield store, truth_pool(store, "custody", *WINDOW)


def _levels(analysis, variable):
    v = next(v for v in analysis.variables if v.variable == variable)
    return v, {lv.level: lv for lv in v.levels}


# --- disclosure rules (pure) ------------------------------------------------------------------------


def test_small_levels_are_withheld_and_cannot_be_recovered_by_differencing():
    sizes = pd.Series({"under 25": 300, "25 to 34": 200, "35 to 44": 90, "45 and over": 25})
    why = withheld_levels(sizes, 60)
    # 45+ is under 60; alone it could be worked out as overall minus the rest, so the smallest shown
    # level (35 to 44) is withheld as well, making the hidden people 115 >= 60.
    assert set(why) == {"45 and over", "35 to 44"}
    assert "fewer than 60" in why["45 and over"] and "worked out" in why["35 to 44"]
    hidden = sizes[list(why)].sum()
    assert hidden == 0 or hidden >= 60


def test_levels_all_large_are_all_shown_and_not_recorded_is_never_an_effect():
    assert withheld_levels(pd.Series({"Men": 500, "Women": 80}), 60) == {}
    why = withheld_levels(pd.Series({"completed": 200, "did not complete": 150, NOT_RECORDED: 70}), 60)
    assert set(why) == {NOT_RECORDED}


def test_sessions_and_age_are_banded_with_blanks_not_recorded():
    frame = pd.DataFrame(
        {"sessions_attended": [0, 1, 4, 5, 12, None], "age_at_index": [17, 24.9, 25, 40, 60, 30]}
    )
    assert list(subgroup_column(frame, "sessions_band")) == [
        "none",
        "1 to 4",
        "1 to 4",
        "5 to 9",
        "10 or more",
        NOT_RECORDED,
    ]
    assert list(subgroup_column(frame, "age_band"))[:3] == ["under 25", "under 25", "25 to 34"]


def test_a_subgroup_sample_weighs_as_if_matched_alone():
    # With replacement, each treated person's controls do not depend on the others, so the links of one
    # subgroup re-weighted must equal matching that subgroup on its own.
    rng = np.random.default_rng(5)
    n_t, n_c = 200, 3000
    frame = pd.DataFrame(
        {
            "x": np.r_[rng.normal(0.5, 1, n_t), rng.normal(0, 1, n_c)],
            "site": np.r_[rng.choice(["A", "B"], n_t), [None] * n_c],
        }
    )
    treat = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    kw = dict(ratio=3, replace=True, caliper=0.2, exact=(), covariates=["x"])
    full = NearestNeighborMatcher(**kw).fit(frame, treat).result_
    in_a = frame.index[(frame["site"] == "A").to_numpy()]
    sub = sample_from_pairs(frame, full, full.pairs[full.pairs["treated"].isin(in_a)])
    alone_rows = frame.index[(frame["site"] != "B").to_numpy()]
    alone = (
        NearestNeighborMatcher(**kw)
        .fit(frame.loc[alone_rows], treat[alone_rows], propensity=full.scores["propensity"].loc[alone_rows])
        .result_
    )
    got = sub.matched["weights"].sort_index()
    want = alone.matched["weights"].sort_index()
    pd.testing.assert_series_equal(got, want, check_names=False)


# --- truth --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_planted_difference_by_gender_is_found(custody_pool):
    store, pool = custody_pool
    out = recover_subgroups(
        store,
        pool,
        700,
        0.0,
        {"gender": {"F": -0.30}},
        seed=4,
        subgroups=("gender", "age_band"),
        window=WINDOW,
    )
    truth = out["truth"]["subgroup_truth"]["gender"]
    v, lv = _levels(out["subgroups"], "gender")
    women, men = lv["Women"], lv["Men"]
    assert women.reported and men.reported
    assert women.ci_low <= truth["F"] <= women.ci_high
    assert women.ci_high < 0 and women.p_holm <= 0.05
    assert men.ci_low <= truth["M"] <= men.ci_high
    assert v.p_difference_holm <= 0.05
    # every analysed person is in exactly one gender level: subgroups split the overall result
    assert women.n_treated + men.n_treated == out["overall"]["rate"].n_treated


@pytest.mark.slow
def test_no_planted_difference_is_rarely_called_one(custody_pool):
    # 30 cohorts with the same effect for everyone: the test for a difference by gender should fire at
    # about 5%; more than 5 of 30 has probability 0.003 if the test holds its size.
    store, pool = custody_pool
    p = [
        _levels(
            recover_subgroups(
                store, pool, 500, -0.05, {}, seed=100 + s, subgroups=("gender",), window=WINDOW
            )["subgroups"],
            "gender",
        )[0].p_difference
        for s in range(30)
    ]
    p = np.array([x for x in p if np.isfinite(x)])
    assert len(p) >= 25
    assert (p <= 0.05).sum() <= 5


@pytest.mark.slow
def test_trajectory_years_before_coincide_and_year_one_is_the_frequency_effect(custody_pool):
    store, pool = custody_pool
    out = recover_subgroups(store, pool, 500, -0.15, {}, seed=9, subgroups=("gender",), window=WINDOW)
    traj = {t.year: t for t in out["trajectory"]}
    assert tuple(traj) == YEARS
    before = [traj[y] for y in YEARS if y < 0]
    covered = sum(t.ci_low_per_100 <= 0 <= t.ci_high_per_100 for t in before)
    assert covered >= len(before) - 1  # matching makes the years before coincide
    freq = out["overall"]["frequency"]
    assert traj[1].difference_per_100 == pytest.approx(100 * freq.difference, abs=1e-6)
    assert traj[1].ci_high_per_100 < 0  # the planted fall shows in the first year after


# --- the upload's programme columns ---------------------------------------------------------------------


def test_shipped_template_is_what_the_code_writes(tmp_path):
    from pathlib import Path

    import openpyxl

    from jdl_lib.template import write_template

    csv, xlsx = write_template(tmp_path)
    shipped = Path(__file__).resolve().parents[1] / "templates"
    assert (shipped / csv.name).read_text() == csv.read_text()
    for sheet in ("Upload", "Guidance"):
        got = list(openpyxl.load_workbook(shipped / xlsx.name)[sheet].values)
        assert got == list(openpyxl.load_workbook(xlsx)[sheet].values)


def test_programme_columns_are_read_and_bad_values_cleared_not_dropped(tmp_path):
    from intake_helpers import as_template, clean_cohort

    from jdl_lib.intake import check_upload

    frame = as_template(clean_cohort(4))
    frame["Completed the programme"] = ["Yes", "no", "maybe", ""]
    frame["Sessions attended"] = ["12", "3.5", "-1", ""]
    frame["Site"] = ["HMP Leeds", "=HYPERLINK(1)", "x" * 80, ""]
    path = tmp_path / "u.csv"
    frame.to_csv(path, index=False)
    result = check_upload(path)
    people = result.people.set_index("upload_row")
    assert len(people) == 4  # optional columns never drop a person
    assert people["completed"].tolist()[:2] == [True, False] and pd.isna(people["completed"].iloc[2])
    assert people["sessions_attended"].iloc[0] == 12 and people["sessions_attended"].iloc[1:].isna().all()
    assert people["site"].iloc[0] == "HMP Leeds" and people["site"].iloc[1:].isna().all()
    flagged = {(p.row, p.column) for p in result.problems if p.severity == "warning"}
    assert {
        (4, "completed"),
        (3, "sessions_attended"),
        (4, "sessions_attended"),
        (3, "site"),
        (4, "site"),
    } <= flagged


# --- the report section ---------------------------------------------------------------------------------


def _results_with(subgroups, trajectory):
    return {
        "outcomes": [{"measure": "reoffended_1y", "difference": -0.05}],
        "subgroups": subgroups,
        "trajectory": trajectory,
    }


def _level(level, n, reported=True, diff=-0.05, p_holm=0.5, reason=""):
    return {
        "level": level,
        "reported": reported,
        "reason": reason,
        "n_treated": n,
        "n_control": 5 * n if reported else None,
        "treated_value": 0.4 if reported else None,
        "control_value": 0.45 if reported else None,
        "difference": diff if reported else None,
        "ci_low": diff - 0.05 if reported else None,
        "ci_high": diff + 0.05 if reported else None,
        "p_value": p_holm / 2 if reported else None,
        "p_holm": p_holm if reported else None,
    }


def test_report_section_words_subgroups_on_adjusted_p_and_lists_withheld_groups():
    from jdl_lib.report.for_whom import for_whom_section

    sub = {
        "measure": "rate",
        "multiplicity": "Subgroup p-values are Holm-adjusted across the 2 subgroup results.",
        "variables": [
            {
                "variable": "completed",
                "label": "Completed the programme",
                "descriptive": False,
                "matched_within": False,
                "n_fallback": 0,
                "q_statistic": 1.0,
                "q_df": 1,
                "p_difference": 0.03,
                "p_difference_holm": 0.06,  # nominally significant, not after adjustment
                "levels": [
                    _level("completed", 300, diff=-0.1, p_holm=0.01),
                    _level("did not complete", 120, diff=0.0, p_holm=0.9),
                    _level("not recorded", None, reported=False, reason="not recorded"),
                ],
            }
        ],
    }
    years = [
        {
            "year": y,
            "n_treated": 420,
            "n_control": 2000,
            "treated_per_100": 150.0,
            "control_per_100": 150.0,
            "difference_per_100": 0.0,
            "ci_low_per_100": -10.0,
            "ci_high_per_100": 10.0,
            "p_value": 0.9,
        }
        for y in (-5, -4, -3, -2, -1, 1, 2)
    ]
    html = for_whom_section(_results_with(sub, {"unit": "per 100", "years": years}))
    assert "no clear evidence that the effect differs by completed the programme" in html
    assert "p = 0.060 after Holm adjustment" in html
    assert "completed: -15 to -5 points (significant after adjustment)" in html
    assert "not recorded (<5 people): not recorded" in html
    assert "none statistically significant" in html and "<svg" in html
    # A raised cell threshold: a suppressed size is "fewer than 10", never the false "<5".
    raised = {**_results_with(sub, {"unit": "per 100", "years": years})}
    raised["settings"] = {"disclosure": {"cell_threshold": 10}}
    assert "not recorded (<10 people)" in for_whom_section(raised)


def _programme_match(custody_pool, columns):
    """400 treated people from the pool with organisation-only columns, matched to the rest on age.

    ``columns`` maps a column to (values drawn at random, values written over the first rows).
    """
    from jdl_lib.matching.registry import get_matcher
    from jdl_lib.synth.national import TRUTH_COLUMN

    _, pool = custody_pool
    pool = pool.drop(columns=TRUTH_COLUMN).reset_index(drop=True)
    rng = np.random.default_rng(5)
    treated = pool.sample(400, random_state=5).copy()
    for column, (values, first) in columns.items():
        treated[column] = rng.choice(values, size=len(treated)).astype(object)
        treated.iloc[: len(first), treated.columns.get_loc(column)] = first
    controls = pool.drop(treated.index)
    frame = pd.concat([treated, controls], ignore_index=True)
    treat = np.r_[np.ones(len(treated), dtype=int), np.zeros(len(controls), dtype=int)]
    match = get_matcher("nearest", covariates=["age_at_index"], random_state=1).fit(frame, treat).result_
    return frame, match


def test_levels_of_two_variables_holding_nearly_the_same_people_are_not_both_shown(custody_pool):
    """Hostile upload: everyone at one site is seen online, bar 3 people, so the two results differ by 3."""
    from jdl_lib.subgroups import analyse_subgroups

    frame, match = _programme_match(custody_pool, {"site": (["Leeds", "York"], [])})
    treated = frame.index[:400]
    leeds = frame.loc[treated, "site"] == "Leeds"
    delivery = np.where(leeds, "online", "in person").astype(object)
    delivery[np.flatnonzero(~leeds.to_numpy())[:3]] = "online"  # 3 York people online too
    frame.loc[treated, "delivery_method"] = delivery
    analysis = analyse_subgroups(("site", "delivery_method"), frame, match, rematch=None, min_group=60)
    site, sites = _levels(analysis, "site")
    method, methods = _levels(analysis, "delivery_method")
    assert sites["Leeds"].reported and sites["York"].reported
    assert not methods["online"].reported and "fewer than 10 differ" in methods["online"].reason
    # "in person" is York minus the same 3 people: withheld too; no test of a difference is left.
    assert not methods["in person"].reported and not np.isfinite(method.p_difference)
    shown = [lv.p_holm for v in analysis.variables for lv in v.levels if lv.reported]
    assert len(shown) == 2 and all(np.isfinite(shown))


def test_a_typed_value_held_by_few_people_is_never_published(custody_pool):
    """Hostile upload: a site typed so that it describes one person must not reach the report.

    A withheld level's value was listed by name ("Site: Flat 3 Acacia Road (<5 people)"), which tells
    every reader that someone so described is in the cohort. Typed values under the minimum group are
    pooled, unnamed; the shown levels and the overall result still split the same people.
    """
    from jdl_lib.subgroups import OTHER_VALUES, analyse_subgroups, subgroups_results

    rare = ["Flat 3 Acacia Road", "PC Jones referral JB", "Cell 12"]
    frame, match = _programme_match(custody_pool, {"site": (["Leeds", "York"], rare)})
    analysis = analyse_subgroups(("site",), frame, match, rematch=None, min_group=60)
    published = subgroups_results(analysis, cell_threshold=5)
    text = repr(published)
    assert not any(value in text for value in rare)
    levels = {lv["level"]: lv for lv in published["variables"][0]["levels"]}
    assert set(levels) == {"Leeds", "York", OTHER_VALUES}
    assert levels[OTHER_VALUES]["reported"] is False and levels[OTHER_VALUES]["n_treated"] is None
    assert "3 values, each held by fewer than 60 people" in levels[OTHER_VALUES]["reason"]
    # The shown levels were secondary-suppressed as the rules say: 3 hidden people < 60, so one of the
    # two big levels is withheld too (by its name: a value 60 or more people share names no one).
    assert sum(lv["reported"] for lv in levels.values()) == 1
