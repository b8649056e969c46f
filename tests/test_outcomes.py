"""Outcome estimates: hand-computed values, the MoJ t-test, small-number rules, causalinference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from causalinference import CausalModel
from matching_sim import COVARIATES, EXACT, cohort, population

from jdl_lib.matching import match
from jdl_lib.outcomes import estimate_effects, regression_adjusted_effect
from jdl_lib.sensitivity import e_value, rosenbaum_gamma, sensitivity_table


@pytest.fixture(scope="module")
def matched():
    pop = population(20_000, 5)
    d = cohort(pop, 400, -0.08, np.random.default_rng(6))
    return match(d, d["treat"], covariates=COVARIATES, exact=EXACT)


def test_group_values_and_difference(matched):
    res = estimate_effects(matched)
    m = matched.matched
    t, c = m[m.treat == 1], m[m.treat == 0]
    rate = res["rate"]
    assert rate.treated_value == pytest.approx(t.reoffended_1y.mean())
    assert rate.control_value == pytest.approx(np.average(c.reoffended_1y, weights=c.weights))
    assert rate.difference == pytest.approx(rate.treated_value - rate.control_value)
    assert rate.ci_low < rate.difference < rate.ci_high and rate.method == "cluster_robust"
    tt = res["time_to_reoffence"]  # among reoffenders only
    assert tt.n_treated == int(t.reoffended_1y.sum())
    assert tt.treated_value == pytest.approx(t.loc[t.reoffended_1y, "days_to_first_reoffence"].mean())
    assert set(res.table().index) == {"rate", "frequency", "time_to_reoffence", "custody_on_reoffence"}


def test_moj_ttest_matches_welch_for_equal_weights(matched):
    from scipy import stats

    e = estimate_effects(matched, measures=("frequency",), method="moj_ttest")["frequency"]
    m = matched.matched  # 1:1 without replacement: all weights 1, so the weighted test is Welch's
    ref = stats.ttest_ind(
        m.loc[m.treat == 1, "reoffences_1y"], m.loc[m.treat == 0, "reoffences_1y"], equal_var=False
    )
    assert e.p_value == pytest.approx(ref.pvalue) and e.method == "moj_ttest"


def test_att_agrees_with_causalinference(matched):
    m = matched.matched
    cm = CausalModel(m["reoffended_1y"].to_numpy(float), m["treat"].to_numpy(), m[["propensity"]].to_numpy())
    cm.est_via_ols(adj=0)  # difference in means on the same (1:1, unit-weight) matched data
    ours = estimate_effects(matched, measures=("rate",))["rate"].difference
    assert ours == pytest.approx(cm.estimates["ols"]["ate"], abs=1e-10)


def test_small_number_rules():
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame(
        {
            "treat": np.r_[np.ones(n), np.zeros(n)].astype(int),
            "weights": 1.0,
            "subclass": np.r_[np.arange(n), np.arange(n)],
            "reoffended_1y": rng.random(2 * n) < 0.5,
        }
    )
    frame["reoffences_1y"] = frame["reoffended_1y"].astype(int)
    frame["days_to_first_reoffence"] = np.where(frame.reoffended_1y, 100.0, np.nan)
    frame["first_reoffence_custody"] = np.where(frame.reoffended_1y, 0.0, np.nan)
    frame.loc[frame.reoffended_1y & (frame.index % 5 == 0), "first_reoffence_custody"] = 1.0
    res = estimate_effects(frame)
    assert res["rate"].reported
    assert not res["time_to_reoffence"].reported  # < 30 treated reoffenders
    assert "30" in res["time_to_reoffence"].note
    assert not res["custody_on_reoffence"].reported  # expected custody count < 10


def test_doubly_robust_close_to_matched(matched):
    m = estimate_effects(matched, measures=("rate",))["rate"]
    dr = regression_adjusted_effect(matched, COVARIATES, "rate")
    assert abs(dr.difference - m.difference) < 0.03 and dr.method == "regression_adjusted"


def test_sensitivity(matched):
    rate = estimate_effects(matched, measures=("rate",))["rate"]
    ev = e_value(rate)
    rr = rate.treated_value / rate.control_value
    assert ev.risk_ratio == pytest.approx(rr)
    assert ev.e_value == pytest.approx(1 / rr + np.sqrt(1 / rr * (1 / rr - 1)))
    assert 1.0 <= ev.e_value_ci <= ev.e_value
    gamma = rosenbaum_gamma(matched)
    assert (gamma > 1.0) == rate.significant or gamma == 1.0
    assert list(sensitivity_table(rate, matched)["figure"])[-1] == "Rosenbaum Gamma"
