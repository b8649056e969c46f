"""Standard errors of a matched or weighted treatment effect, as MatchIt's effect guidance gives them.

The estimate is the treatment coefficient of a weighted least-squares fit of the outcome on treatment (and,
for the doubly robust check, covariates) on the matched sample. How its standard error is computed depends on
the design (MatchIt vignette "Estimating Effects After Matching", Greifer; Austin & Cafri 2020):

* ``"cluster_set"``: cluster-robust by matched set (``subclass``) on MatchIt's ``match.data`` layout, one row
  per unit. The recommendation for pair matching without replacement, where each control is in one pair.
* ``"two_way"``: two-way cluster-robust by matched set and by unit on MatchIt's ``get_matches`` layout, one
  row per unit per set (a control reused in three sets appears three times, weight 1/k in each). The
  recommendation for matching with replacement (and radius matching), where sets share controls: clustering
  only by merged sets collapses a scarce pool into a few giant clusters and the SE is far too small
  (issue 15: 78% coverage of a nominal 95% interval).
* ``"hc3"``: heteroskedasticity-robust HC3 on ``match.data``, ignoring set membership; the recommendation for
  subclassification and weighting designs, and an option for matching with replacement.
* ``"bootstrap"``: cluster bootstrap over ``subclass`` (Austin & Small 2014): matched pairs without
  replacement; with shared controls the merged sets, the independent clusters of the design (valid when
  they are many: the coverage study shows where they are not); units for weighting designs. The weights
  are held fixed (matching is not redone).
* ``"auto"`` (default): ``cluster_set`` for pairs that share no control, ``two_way`` when controls are shared,
  ``hc3`` for designs without matched sets. Chosen by the coverage study in ``bench/bench_coverage.py``.

Cluster-robust matrices are statsmodels' (the CR1 adjustment G/(G-1) x (n-1)/(n-k) in each dimension, the
same as R ``sandwich::vcovCL(type = "HC1")``; the two-way matrix is Cameron, Gelbach & Miller's V_set + V_unit
- V_intersection, as ``vcovCL(cluster = ~ subclass + id)``). The interval and p-value use a t distribution on
the residual degrees of freedom, as ``lmtest::coeftest`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from jdl_lib.errors import MatchingError
from jdl_lib.matching.result import MatchResult

#: Standard-error methods by name, with the words the report's method annex uses.
SE_METHODS: dict[str, str] = {
    "auto": "chosen by design (cluster_set for pairs, two_way when controls are reused, hc3 for weighting)",
    "cluster_set": "cluster-robust standard errors by matched set",
    "two_way": "two-way cluster-robust standard errors by matched set and by person (controls reused)",
    "hc3": "heteroskedasticity-robust (HC3) standard errors",
    "bootstrap": "cluster bootstrap standard errors (matched sets resampled, weights fixed)",
}
#: Bootstrap replicates (Efron & Tibshirani: a few hundred suffice for a standard error; 999 for tails).
BOOTSTRAP_REPLICATES = 999


@dataclass(frozen=True)
class Fit:
    """The treatment coefficient, its standard error, interval and p-value, and how the SE was made."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    se_method: str
    n_clusters: int


def resolve_se_method(matched: MatchResult | pd.DataFrame, requested: str) -> str:
    """The standard-error method ``requested`` stands for on this matched sample (``"auto"`` resolved).

    A bare DataFrame carries no matched sets beyond ``subclass``, so ``auto`` clusters by it.
    """
    if requested not in SE_METHODS:
        raise MatchingError(f"Unknown standard_errors '{requested}'; choose one of {list(SE_METHODS)}.")
    if requested != "auto":
        return requested
    if not isinstance(matched, MatchResult):
        return "cluster_set"
    if matched.pairs.empty:
        return "hc3"
    return "two_way" if matched.pairs["control"].duplicated().any() else "cluster_set"


def matched_sets(result: MatchResult) -> pd.DataFrame:
    """MatchIt's ``get_matches`` layout: one row per unit per matched set.

    Each treated unit forms a set with its own controls (sets are not merged when they share a control);
    treated rows weigh 1 and each control row 1/k for a treated unit with k controls. Columns: those of
    ``result.matched`` with ``weights`` replaced, plus ``set`` and ``unit`` (integer codes).
    """
    if result.pairs.empty:
        raise MatchingError(
            f"The '{result.method}' design has no matched sets; use standard_errors 'hc3' or 'bootstrap'."
        )
    m = result.matched
    treated = m[m["treat"] == 1]
    set_of = pd.Series(np.arange(len(treated)), index=treated.index)
    controls = m.loc[result.pairs["control"].to_numpy()]
    long = pd.concat(
        [
            treated.assign(set=set_of.to_numpy(), weights=1.0),
            controls.assign(
                set=set_of.loc[result.pairs["treated"].to_numpy()].to_numpy(),
                weights=result.pairs["pair_weight"].to_numpy(),
            ),
        ]
    )
    long["unit"] = m.index.get_indexer(long.index)
    return long.reset_index(drop=True)


def fit_effect(
    y: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    se_method: str,
    alpha: float,
    *,
    sets: np.ndarray | None = None,
    units: np.ndarray | None = None,
    x: np.ndarray | None = None,
    random_state: int | None = None,
) -> Fit:
    """WLS of ``y`` on treatment ``t`` (and covariates ``x``) with the named standard error.

    Parameters
    ----------
    y, t, w : arrays
        Outcome, treatment (0/1) and weights, one value per row of the chosen layout (``match.data`` for
        ``cluster_set``, ``hc3`` and ``bootstrap``, ``get_matches`` for ``two_way``).
    se_method : str
        A resolved name from :data:`SE_METHODS` (not ``"auto"``).
    sets, units : arrays, optional
        Matched-set and unit codes of each row: ``cluster_set`` needs ``sets``; ``two_way`` needs both; the
        bootstrap resamples ``sets`` when given, else rows.
    x : array, optional
        Covariates for regression adjustment.
    random_state : int, optional
        Seed of the bootstrap.
    """
    design = np.column_stack([np.ones_like(y), t] + ([] if x is None else [x]))
    model = sm.WLS(y, design, weights=w)
    df = len(y) - design.shape[1]
    if se_method == "cluster_set":
        clusters = _at_least_two(sets, "matched sets")
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": clusters})
        b, se, g = float(fit.params[1]), float(fit.bse[1]), len(np.unique(clusters))
    elif se_method == "two_way":
        groups = np.column_stack([_at_least_two(sets, "matched sets"), _at_least_two(units, "people")])
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
        cov = fit.cov_params()
        b, se, g = float(fit.params[1]), float(_sqrt_psd(cov)[1]), len(np.unique(sets))
    elif se_method == "hc3":
        fit = model.fit(cov_type="HC3")
        b, se, g = float(fit.params[1]), float(fit.bse[1]), len(y)
    elif se_method == "bootstrap":
        fit = model.fit()
        clusters = np.arange(len(y)) if sets is None else _at_least_two(sets, "matched sets")
        b, g = float(fit.params[1]), len(np.unique(clusters))
        se = _bootstrap_se(design, y, w, clusters, np.random.default_rng(random_state))
    else:
        raise MatchingError(f"Unknown standard_errors '{se_method}'; choose one of {list(SE_METHODS)[1:]}.")
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    p = float(2 * stats.t.sf(abs(b / se), df)) if se > 0 else float("nan")
    return Fit(b, se, b - tcrit * se, b + tcrit * se, p, se_method, g)


def _at_least_two(codes: np.ndarray | None, what: str) -> np.ndarray:
    """Cluster codes, refusing fewer than two clusters (a cluster-robust variance needs G >= 2)."""
    if codes is None:
        raise MatchingError(f"Clustering by {what} needs their codes; pass a MatchResult.")
    if len(np.unique(codes)) < 2:
        raise MatchingError(
            f"All rows fall in one cluster of {what}, so a cluster-robust standard error is undefined; "
            "use standard_errors 'two_way' or 'hc3'."
        )
    return np.asarray(codes)


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Standard errors from a two-way matrix, clipping negative eigenvalues to zero.

    V_set + V_unit - V_intersection need not be positive semi-definite in small samples; R's
    ``sandwich::vcovCL(fix = TRUE)`` applies this repair (Cameron, Gelbach & Miller 2011, section 2.3).
    """
    values, vectors = np.linalg.eigh(np.asarray(cov))
    if values.min() >= 0:
        return np.sqrt(np.diag(cov))
    fixed = (vectors * np.clip(values, 0, None)) @ vectors.T
    return np.sqrt(np.diag(fixed))


def _bootstrap_se(
    design: np.ndarray, y: np.ndarray, w: np.ndarray, clusters: np.ndarray, rng: np.random.Generator
) -> float:
    """SD of the treatment coefficient over cluster-bootstrap replicates.

    A replicate draws clusters with replacement; a cluster drawn c times enters with its weights times c, so
    every replicate is one weighted least-squares solve on per-cluster cross-products (no data copied).
    """
    codes, inverse = np.unique(clusters, return_inverse=True)
    xw = design * w[:, None]
    k = design.shape[1]
    xtx = np.zeros((len(codes), k, k))
    xty = np.zeros((len(codes), k))
    np.add.at(xtx, inverse, xw[:, :, None] * design[:, None, :])
    np.add.at(xty, inverse, xw * y[:, None])
    counts = rng.multinomial(len(codes), np.full(len(codes), 1 / len(codes)), size=BOOTSTRAP_REPLICATES)
    a = np.einsum("bg,gij->bij", counts, xtx)
    rhs = np.einsum("bg,gi->bi", counts, xty)
    both_groups = (a[:, 1, 1] > 0) & (a[:, 0, 0] - a[:, 1, 1] > 0)  # a replicate with treated and controls
    beta = (np.linalg.pinv(a[both_groups]) @ rhs[both_groups][:, :, None])[:, 1, 0]
    return float(np.std(beta, ddof=1))
