"""Propensity-score models, chosen by name.

The default is an unpenalised logistic regression fitted by iteratively reweighted least squares
(statsmodels GLM), the same estimator as R's ``glm(family = binomial)`` that MatchIt calls for
``distance = "glm"``; scikit-learn's LogisticRegression is not used because its default is
penalised and its solvers stop at a looser tolerance, which moves scores enough to change ties.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm

from jdl_lib.errors import MatchingError


def logistic_propensity(x: pd.DataFrame, treat: np.ndarray) -> np.ndarray:
    """Fit ``P(treat = 1 | x)`` by unpenalised logistic regression and return fitted probabilities.

    Why: the JDL and MatchIt both model selection with a logistic regression; matching is then
    done on the fitted score (or its logit).
    """
    design = sm.add_constant(x.to_numpy(dtype=float), has_constant="add")
    try:
        fit = sm.GLM(np.asarray(treat, dtype=float), design, family=sm.families.Binomial()).fit(
            tol=1e-12, maxiter=100
        )
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise MatchingError(
            "The propensity model could not be fitted (singular design or perfect separation); "
            "drop collinear covariates or merge rare categories."
        ) from exc
    return np.asarray(fit.fittedvalues, dtype=float)


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
