"""Random-effects meta-analysis and meta-regression of effects from independent reports.

The estimation is PyMARE's (``VarianceBasedLikelihoodEstimator`` for REML, ``DerSimonianLaird``, with its
Knapp–Hartung small-sample correction), a maintained library that reproduces R metafor on the BCG trials
(``tests/test_synthesis_meta.py``). statsmodels' ``combine_effects`` was not used because it has no REML
estimator (only DerSimonian–Laird and Paule–Mandel) and no meta-regression. Three quantities PyMARE does not
report are computed here from its fit, each a one-line textbook formula:

* the prediction interval for the effect in a new setting (Higgins, Thompson & Spiegelhalter 2009):
  ``mu ± t_{k-2} * sqrt(tau² + SE(mu)²)``;
* I² in its τ²-based form (Higgins & Thompson 2002, as metafor prints it): ``tau² / (tau² + s²)`` with the
  "typical" within-report variance ``s² = (k-1) Σw / ((Σw)² - Σw²)``, ``w = 1/v``; the Q-based form
  ``(Q - df) / Q`` is kept beside it as ``i2_q``. The two agree for DerSimonian–Laird and differ slightly for
  REML;
* the fixed-effect (inverse-variance) estimate, for reference.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from pymare import Dataset
from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator, WeightedLeastSquares
from pymare.results import MetaRegressionResults
from scipy import stats

from jdl_lib.errors import SynthesisError

#: Ways to estimate the between-report variance tau²: restricted maximum likelihood (the default, as in
#: metafor and the Cochrane Handbook's current advice) or DerSimonian–Laird's method of moments.
TAU2_METHODS = ("REML", "DL")
#: Fewest reports pooled: with two, tau² and the prediction interval (t with k-2 df) are undefined.
MIN_REPORTS = 3


@dataclass(frozen=True)
class MetaAnalysis:
    """A random-effects pooled effect with its heterogeneity, on the scale of the inputs.

    ``i2`` is the τ²-based I² (see the module notes), ``i2_q`` the Q-based one, both as proportions 0-1.
    """

    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    pi_low: float
    pi_high: float
    tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    q: float
    q_df: int
    q_p_value: float
    i2: float
    i2_q: float
    fixed_estimate: float
    fixed_se: float
    tau2_method: str
    hartung_knapp: bool
    alpha: float

    @property
    def method(self) -> str:
        """The model in words, for tables and the report's method notes."""
        how = "REML" if self.tau2_method == "REML" else "DerSimonian–Laird"
        ci = "Hartung–Knapp" if self.hartung_knapp else "Wald (normal)"
        return f"random effects, τ² by {how}, {ci} confidence interval"


@dataclass(frozen=True)
class MetaRegression:
    """A random-effects meta-regression of the effect on one report-level moderator (plus an intercept)."""

    k: int
    moderator: str
    intercept: float
    slope: float
    slope_se: float
    slope_ci_low: float
    slope_ci_high: float
    slope_p_value: float
    tau2: float
    tau2_method: str
    hartung_knapp: bool


def _check(y: np.ndarray, v: np.ndarray, tau2_method: str, alpha: float, least: int) -> None:
    if tau2_method not in TAU2_METHODS:
        raise SynthesisError(f"tau2_method '{tau2_method}' is unknown; use one of {', '.join(TAU2_METHODS)}")
    if not 0 < alpha < 1:
        raise SynthesisError(f"alpha must be strictly between 0 and 1, got {alpha}")
    if y.ndim != 1 or y.shape != v.shape:
        raise SynthesisError("effects and variances must be one-dimensional arrays of the same length")
    if len(y) < least:
        raise SynthesisError(f"{len(y)} report(s) cannot be pooled; at least {least} are needed")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise SynthesisError("every effect must be finite and every variance finite and positive")


def _estimator(tau2_method: str, hartung_knapp: bool) -> DerSimonianLaird | VarianceBasedLikelihoodEstimator:
    correction = "knapp-hartung" if hartung_knapp else "wald"
    if tau2_method == "DL":
        return DerSimonianLaird(small_sample_correction=correction)
    return VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction=correction)


def _fit(dataset: Dataset, tau2_method: str, hartung_knapp: bool) -> MetaRegressionResults:
    with warnings.catch_warnings():
        # PyMARE warns about its own defaults changing between releases; ours are explicit.
        warnings.simplefilter("ignore", FutureWarning)
        return _estimator(tau2_method, hartung_knapp).fit_dataset(dataset).summary()


def meta_analyse(
    effects: np.ndarray,
    variances: np.ndarray,
    tau2_method: str = "REML",
    hartung_knapp: bool = True,
    alpha: float = 0.05,
) -> MetaAnalysis:
    """Pool independent effects with a random-effects model.

    Why: each report answers "did this service work here?"; pooling reports of one kind of service answers
    "does this kind of service work, and how much does that vary between services?" — the second question the
    JDL's published reports were meant to answer and, one at a time, mostly could not.

    Parameters
    ----------
    effects, variances : array of float
        One effect per report (e.g. a risk difference or log risk ratio) and its sampling variance.
    tau2_method : {"REML", "DL"}
        Estimator of the between-report variance tau².
    hartung_knapp : bool
        Use the Hartung–Knapp(–Sidik–Jonkman) standard error and a t distribution with k-1 degrees of freedom
        for the pooled effect's interval and test (default: with few reports the Wald interval is too narrow,
        IntHout et al. 2014); ``False`` gives the normal (Wald) interval metafor prints by default.
    alpha : float
        Two-sided level of the confidence and prediction intervals.

    Returns
    -------
    MetaAnalysis

    Raises
    ------
    SynthesisError
        Fewer than :data:`MIN_REPORTS` effects, a non-finite effect or non-positive variance, or an unknown
        method.
    """
    y, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    _check(y, v, tau2_method, alpha, MIN_REPORTS)
    k = len(y)
    dataset = Dataset(y=y, v=v)
    fit = _fit(dataset, tau2_method, hartung_knapp)
    fe = {key: float(np.ravel(val)[0]) for key, val in fit.get_fe_stats(alpha=alpha).items()}
    tau2 = float(np.ravel(fit.tau2)[0])
    het = {key: float(np.ravel(val)[0]) for key, val in fit.get_heterogeneity_stats().items()}
    re = fit.get_re_stats(alpha=alpha)
    fixed = WeightedLeastSquares(tau2=0).fit_dataset(dataset).summary().get_fe_stats(alpha=alpha)

    w = 1 / v
    typical = float((k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()))
    t_pi = stats.t.ppf(1 - alpha / 2, k - 2)
    half = float(t_pi * np.sqrt(tau2 + fe["se"] ** 2))
    return MetaAnalysis(
        k=k,
        estimate=fe["est"],
        se=fe["se"],
        ci_low=fe["ci_l"],
        ci_high=fe["ci_u"],
        p_value=fe["p"],
        pi_low=fe["est"] - half,
        pi_high=fe["est"] + half,
        tau2=tau2,
        tau2_ci_low=float(np.ravel(re["ci_l"])[0]),
        tau2_ci_high=float(np.ravel(re["ci_u"])[0]),
        q=het["Q"],
        q_df=k - 1,
        q_p_value=het["p(Q)"],
        i2=tau2 / (tau2 + typical),
        i2_q=het["I^2"] / 100,
        fixed_estimate=float(np.ravel(fixed["est"])[0]),
        fixed_se=float(np.ravel(fixed["se"])[0]),
        tau2_method=tau2_method,
        hartung_knapp=hartung_knapp,
        alpha=alpha,
    )


def meta_regression(
    effects: np.ndarray,
    variances: np.ndarray,
    moderator: np.ndarray,
    moderator_name: str,
    tau2_method: str = "REML",
    hartung_knapp: bool = True,
    alpha: float = 0.05,
) -> MetaRegression:
    """Regress the effect on one report-level moderator in a random-effects model (mixed-effects model).

    Why: "does the effect depend on group size?" — small services that report large effects and large
    ones that report small effects would show a slope, a warning of small-study effects or of a service
    that dilutes as it grows. Needs at least five reports (two parameters, three residual degrees of freedom).

    Parameters
    ----------
    effects, variances : array of float
        One effect per report and its sampling variance.
    moderator : array of float
        The report-level variable (e.g. people analysed, in hundreds).
    moderator_name : str
        How the moderator is named in tables.
    tau2_method, hartung_knapp, alpha
        As for :func:`meta_analyse`; tau² here is the residual between-report variance.
    """
    y, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    x = np.asarray(moderator, dtype=float)
    _check(y, v, tau2_method, alpha, 5)
    if x.shape != y.shape or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
        raise SynthesisError(f"moderator '{moderator_name}' must be finite, one per report, and vary")
    fit = _fit(Dataset(y=y, v=v, X=x[:, None], add_intercept=True), tau2_method, hartung_knapp)
    fe = {key: np.ravel(val) for key, val in fit.get_fe_stats(alpha=alpha).items()}
    return MetaRegression(
        k=len(y),
        moderator=moderator_name,
        intercept=float(fe["est"][0]),
        slope=float(fe["est"][1]),
        slope_se=float(fe["se"][1]),
        slope_ci_low=float(fe["ci_l"][1]),
        slope_ci_high=float(fe["ci_u"][1]),
        slope_p_value=float(fe["p"][1]),
        tau2=float(np.ravel(fit.tau2)[0]),
        tau2_method=tau2_method,
        hartung_knapp=hartung_knapp,
    )
