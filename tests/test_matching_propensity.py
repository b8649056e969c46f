"""The propensity model: the same fit as statsmodels' GLM (R's glm), and a clear error on separation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from jdl_lib.errors import MatchingError
from jdl_lib.matching.propensity import fit_logistic, logistic_propensity


def _design(n: int = 20_000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "age": rng.uniform(18, 70, n),
            "sentence_days": rng.exponential(400, n),  # a scale three orders above the flags
            "female": (rng.random(n) < 0.15).astype(float),
            "prior": rng.poisson(4, n).astype(float),
        }
    )
    eta = -5 + 0.02 * x["age"] + 0.0008 * x["sentence_days"] + 0.5 * x["female"] + 0.1 * x["prior"]
    treat = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return x, treat


def test_scores_equal_statsmodels_glm():
    x, treat = _design()
    ours = logistic_propensity(x, treat)
    glm = sm.GLM(treat.astype(float), sm.add_constant(x.to_numpy(float)), family=sm.families.Binomial()).fit(
        tol=1e-14, maxiter=200
    )
    np.testing.assert_allclose(ours, glm.fittedvalues, rtol=0, atol=1e-11)


def test_coefficients_and_warm_start_agree():
    x, treat = _design()
    design = np.column_stack([np.ones(len(x)), x.to_numpy(float)])
    cold = fit_logistic(design, treat)
    glm = sm.GLM(treat.astype(float), design, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    np.testing.assert_allclose(cold.coef, glm.params, rtol=1e-8, atol=1e-10)
    warm = fit_logistic(design, treat, start=cold.coef * 1.01)
    assert warm.iterations < cold.iterations
    np.testing.assert_allclose(warm.fitted, cold.fitted, atol=1e-11)


def test_perfect_separation_is_a_clear_error():
    x = pd.DataFrame({"flag": np.r_[np.ones(50), np.zeros(500)]})
    treat = np.r_[np.ones(50, int), np.zeros(500, int)]
    with pytest.raises(MatchingError, match="separation"):
        logistic_propensity(x, treat)


def test_singular_design_is_a_clear_error():
    x = pd.DataFrame({"a": np.arange(100.0), "b": 2 * np.arange(100.0)})
    treat = np.r_[np.ones(30, int), np.zeros(70, int)]
    with pytest.raises(MatchingError, match="collinear"):
        logistic_propensity(x, treat)
