"""The multiplicity policy: the rate is the primary measure, the secondary ones are Holm-adjusted."""

from __future__ import annotations

import math

import pytest

from jdl_lib.multiplicity import adjusted_p_values, secondary_family
from jdl_lib.report.assemble import apply_reporting_policy
from jdl_lib.report.example import example_results


def test_holm_by_hand():
    """Holm on (0.01, 0.04, 0.03): sorted 0.01*3, max(0.03*2, 0.03), max(0.04*1, 0.06) = 0.03, 0.06, 0.06."""
    p = {
        "reoffended_1y": 0.04,
        "reoffences_1y": 0.01,
        "days_to_first_reoffence": 0.04,
        "first_reoffence_custody": 0.03,
    }
    adj = adjusted_p_values(p)
    assert adj["reoffended_1y"] == 0.04  # the primary is never adjusted
    assert adj["reoffences_1y"] == pytest.approx(0.03)
    assert adj["first_reoffence_custody"] == pytest.approx(0.06)
    assert adj["days_to_first_reoffence"] == pytest.approx(0.06)
    assert list(adj) == list(p)


def test_measures_without_a_p_value_leave_the_family():
    p = {
        "reoffended_1y": 0.2,
        "reoffences_1y": 0.02,
        "days_to_first_reoffence": None,
        "first_reoffence_custody": math.nan,
    }
    assert secondary_family(p) == ["reoffences_1y"]
    assert adjusted_p_values(p) == {
        "reoffended_1y": 0.2,
        "reoffences_1y": 0.02,
        "days_to_first_reoffence": None,
        "first_reoffence_custody": None,
    }


def test_policy_sets_roles_and_significance_on_adjusted_p():
    rows = [dict(r) for r in example_results("reduction")["outcomes"]]
    for r, p in zip(rows, (0.04, 0.02, 0.5, 0.9), strict=True):
        r["p_value"] = p
    out = {r["measure"]: r for r in apply_reporting_policy(rows, 0.05)}
    assert out["reoffended_1y"]["role"] == "primary" and out["reoffended_1y"]["significant"]
    assert out["reoffences_1y"]["role"] == "secondary"
    assert out["reoffences_1y"]["p_value_adjusted"] == pytest.approx(0.06)
    assert not out["reoffences_1y"]["significant"]  # 0.02 alone would have been significant


def test_results_name_the_policy():
    rep = example_results("reduction")["reporting"]
    assert rep["primary"] == "reoffended_1y" and rep["secondary_adjustment"] == "holm"
    assert rep["secondary_family"] == ["reoffences_1y", "days_to_first_reoffence", "first_reoffence_custody"]
