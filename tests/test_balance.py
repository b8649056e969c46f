"""Balance engine: both SMD conventions, categorical levels, verdicts, plots."""

from __future__ import annotations

import numpy as np
import pytest
from matching_sim import COVARIATES, EXACT, cohort, population

from jdl_lib.balance import assess_balance, balance_table, verdict
from jdl_lib.balance.plots import love_plot, overlap_plot
from jdl_lib.matching import match


@pytest.fixture(scope="module")
def data():
    d = cohort(population(20_000, 3), 300, -0.05, np.random.default_rng(4))
    return d, match(d, d["treat"], covariates=COVARIATES, exact=EXACT)


def test_conventions_and_levels(data):
    d, r = data
    treated = balance_table(d, r, COVARIATES, sd="treated").set_index("variable")
    pooled = balance_table(d, r, COVARIATES, sd="pooled").set_index("variable")
    assert {"gender_F", "gender_M", "setting_custody"} <= set(treated.index)
    x = d["age_at_index"]
    t = d["treat"] == 1
    diff = x[t].mean() - x[~t].mean()
    assert treated.loc["age_at_index", "smd_before"] == pytest.approx(diff / x[t].std())
    assert pooled.loc["age_at_index", "smd_before"] == pytest.approx(
        diff / np.sqrt((x[t].var() + x[~t].var()) / 2)
    )
    assert (treated["smd_convention"] == "treated").all()
    # exact matching on gender balances it perfectly
    assert treated.loc["gender_M", "smd_after"] == pytest.approx(0, abs=1e-12)


def test_matching_improves_balance(data):
    d, r = data
    b = assess_balance(d, r, COVARIATES)
    assert b.overall_before == "poor"
    assert b.max_abs_smd_after < b.table["smd_before"].abs().max()
    assert b.overall_after in {"good", "reasonable", "poor"}


def test_verdict_bands():
    assert [verdict(v) for v in (0.01, -0.07, 0.1, 0.2)] == ["good", "reasonable", "reasonable", "poor"]


def test_plots(data):
    d, r = data
    b = assess_balance(d, r, COVARIATES)
    assert len(love_plot(b).axes) == 1
    assert len(overlap_plot(r).axes) == 2


def test_binary_smd_uses_p_one_minus_p_and_ks_is_scipy_before_matching(data):
    from scipy import stats

    d, r = data
    table = balance_table(d, r, COVARIATES).set_index("variable")
    t = d["treat"] == 1
    p_t = d.loc[t, "employed_year_before"].mean()
    diff = p_t - d.loc[~t, "employed_year_before"].mean()
    assert table.loc["employed_year_before", "smd_before"] == pytest.approx(diff / np.sqrt(p_t * (1 - p_t)))
    assert table.loc["employed_year_before", "ecdf_max_before"] == pytest.approx(abs(diff))
    x = d["age_at_index"]
    ks = stats.ks_2samp(x[t], x[~t]).statistic
    assert table.loc["age_at_index", "ecdf_max_before"] == pytest.approx(ks)


def test_effective_sample_size_of_reused_controls():
    pop = population(2_000, 8)
    d = cohort(pop, 400, 0.0, np.random.default_rng(9))
    r = match(d, d["treat"], covariates=COVARIATES, exact=(), ratio=5, replace=True)
    b = assess_balance(d, r, COVARIATES)
    w = r.matched.loc[r.matched["treat"] == 0, "weights"]
    ess = b.effective_sample_size
    assert ess["control_after"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert ess["control_after"] < r.n_controls_used  # reuse costs information
    assert ess["treated_after"] == pytest.approx(r.n_treated_matched)
    assert b.propensity["variable"].iloc[0] == "logit propensity score"
