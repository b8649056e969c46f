"""Propensity-score models, chosen by name.

The default is an unpenalised logistic regression, the same estimator as R's ``glm(family = binomial)``
that MatchIt calls for ``distance = "glm"``. It is fitted by Newton's method on ``X'WX`` with a Cholesky
solve (:func:`fit_logistic`), not by statsmodels' GLM: statsmodels solves each IRLS step by a
pseudo-inverse of the whole weighted design (an SVD of an n × p matrix), which at a national pool of a
million rows took 47 s against 3 s here for the same coefficients (``bench/bench_matching.py``).
scikit-learn's LogisticRegression is not used because its default is penalised and its solvers stop
at a looser tolerance, which moves scores enough to change ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.special import expit

from jdl_lib.errors import MatchingError

#: Convergence: stop when the relative change in deviance falls below this (R's glm uses 1e-8; one or
#: two more Newton steps reach this, where the fitted scores agree with glm's to about 1e-12).
DEVIANCE_TOLERANCE = 1e-12
#: Newton steps before the fit is declared failed (R's glm stops at 25; Newton converges in under 15
#: on every non-separated design we have seen).
MAX_ITERATIONS = 50


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic regression: coefficients on the (scaled) design and the fitted probabilities."""

    coef: np.ndarray
    fitted: np.ndarray
    iterations: int
    deviance: float


def _binomial_deviance(y: np.ndarray, eta: np.ndarray) -> float:
    """-2 log-likelihood of 0/1 outcomes at linear predictor ``eta``, computed without overflow."""
    # log(1 + exp(eta)) - y * eta, summed; logaddexp keeps large |eta| exact.
    return float(2.0 * np.sum(np.logaddexp(0.0, eta) - y * eta))


def fit_logistic(design: np.ndarray, y: np.ndarray, *, start: np.ndarray | None = None) -> LogisticFit:
    """Maximum-likelihood logistic regression by Newton's method with a Cholesky solve.

    Why written here rather than called from statsmodels: the solve is the cost at national scale
    (see the module note); the estimator is the textbook one and is checked against statsmodels'
    GLM to 1e-9 in the tests. ``design`` must carry its own intercept column. ``start`` warm-starts
    the coefficients (the workbench re-fits similar designs many times).

    Raises :class:`MatchingError` when the design is singular or the fit does not converge
    (perfect separation), with a message saying what to change.
    """
    X = np.ascontiguousarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    # Column scaling leaves fitted values unchanged and keeps X'WX well conditioned when covariates
    # live on very different scales (days of sentence beside 0/1 flags).
    scale = np.sqrt(np.mean(X * X, axis=0))
    scale[scale == 0] = 1.0
    Xs = X / scale
    if start is None:
        # Start from the intercept-only fit (every score at the treated share), as glm's first step
        # does; without an intercept column, from zero.
        beta = np.zeros(X.shape[1])
        constant = np.flatnonzero(np.all(Xs == Xs[0], axis=0) & (Xs[0] != 0))
        if constant.size:
            ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            beta[constant[0]] = np.log(ybar / (1 - ybar)) / Xs[0, constant[0]]
    else:
        beta = np.asarray(start, dtype=float) * scale
    eta = Xs @ beta
    dev = _binomial_deviance(y, eta)
    for iteration in range(1, MAX_ITERATIONS + 1):
        p = expit(eta)
        w = p * (1.0 - p)
        root = Xs * np.sqrt(w)[:, None]
        hessian = root.T @ root
        gradient = Xs.T @ (y - p)
        try:
            step = cho_solve(cho_factor(hessian, check_finite=False), gradient, check_finite=False)
        except (LinAlgError, ValueError) as exc:
            raise MatchingError(
                "The propensity model could not be fitted (singular design or perfect separation); "
                "drop collinear covariates or merge rare categories."
            ) from exc
        # Step halving, as glm does, guards the rare step that overshoots.
        for _ in range(30):
            new_beta = beta + step
            new_eta = Xs @ new_beta
            new_dev = _binomial_deviance(y, new_eta)
            if np.isfinite(new_dev) and new_dev <= dev * (1 + 1e-12) + 1e-12:
                break
            step = step / 2.0
        converged = abs(dev - new_dev) / (abs(new_dev) + 0.1) < DEVIANCE_TOLERANCE
        beta, eta, dev = new_beta, new_eta, new_dev
        if converged:
            return LogisticFit(coef=beta / scale, fitted=expit(eta), iterations=iteration, deviance=dev)
    raise MatchingError(
        f"The propensity model did not converge in {MAX_ITERATIONS} Newton steps (perfect separation: "
        "some covariate value occurs only among treated or only among controls); merge rare categories "
        "or drop that covariate."
    )


def logistic_propensity(x: pd.DataFrame, treat: np.ndarray) -> np.ndarray:
    """Fit ``P(treat = 1 | x)`` by unpenalised logistic regression and return fitted probabilities.

    Why: the JDL and MatchIt both model selection with a logistic regression; matching is then
    done on the fitted score (or its logit).
    """
    values = x.to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(values)), values])
    return fit_logistic(design, np.asarray(treat, dtype=float)).fitted


#: Propensity models by name.
PROPENSITY_MODELS: dict[str, Callable[[pd.DataFrame, np.ndarray], np.ndarray]] = {
    "logistic": logistic_propensity,
}


def get_propensity_model(name: str) -> Callable[[pd.DataFrame, np.ndarray], np.ndarray]:
    """Look up a propensity model by name; an unknown name lists the valid ones."""
    try:
        return PROPENSITY_MODELS[name]
    except KeyError:
        raise MatchingError(
            f"Unknown propensity model '{name}'; choose one of {sorted(PROPENSITY_MODELS)}."
        ) from None


def to_distance(propensity: np.ndarray, distance: str) -> np.ndarray:
    """Turn propensity scores into the scale matched on.

    ``"logit"``: log-odds of the score (the JDL default, Austin 2011); ``"glm"``: the score itself
    (MatchIt's default ``distance = "glm"``).
    """
    p = np.asarray(propensity, dtype=float)
    if distance == "glm":
        return p
    if distance == "logit":
        clipped = np.clip(p, 1e-15, 1 - 1e-15)
        return np.log(clipped) - np.log1p(-clipped)
    raise MatchingError(f"Unknown distance '{distance}'; choose one of ['glm', 'logit'].")
