"""The JDL's reoffending measures for the treated group against its weighted matched controls.

Two inference methods, named on every estimate:

* ``"cluster_robust"`` (default): weighted least squares of the outcome on treatment in the matched
  sample, the recipe MatchIt's documentation gives for the ATT after matching, with the standard error its
  effect guidance recommends for the design (``standard_errors``, see :mod:`jdl_lib.standard_errors`:
  by matched set for pairs, two-way by matched set and person when controls are reused, HC3 for
  weighting designs; HC3 and a cluster bootstrap as options).
* ``"moj_ttest"``: the MoJ's published convention, a two-sample (Welch) t-test of the treated mean
  against the weighted comparison mean (JDL RAP code's "t-test" tabs; see
  ``shared/reference/jdl_methodology.md`` section 5), so results can be set beside published reports.
  Unequally weighted controls count by their effective sample size (Kish), not their number.

Small-number rules (RAP code, methodology section 6; :mod:`jdl_lib.small_numbers`): a measure is
published only when its np in the treatment group is greater than 10; time to first reoffence only with
at least 30 treated reoffenders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from jdl_lib import small_numbers
from jdl_lib.errors import MatchingError
from jdl_lib.matching.design import design_matrix
from jdl_lib.matching.registry import get_matcher
from jdl_lib.matching.result import MatchResult
from jdl_lib.standard_errors import Fit, fit_effect, matched_sets, resolve_se_method

#: Outcome column of each measure in the derived index-event frame.
MEASURE_COLUMNS: dict[str, str] = {
    "rate": "reoffended_1y",
    "frequency": "reoffences_1y",
    "time_to_reoffence": "days_to_first_reoffence",
    "custody_on_reoffence": "first_reoffence_custody",
}
#: Measures computed among reoffenders only (both groups), weights renormalised within them.
AMONG_REOFFENDERS = frozenset({"time_to_reoffence", "custody_on_reoffence"})
#: Measures that are proportions (0-1 scale; the report multiplies by 100).
BINARY_MEASURES = frozenset({"rate", "custody_on_reoffence"})
METHODS = ("cluster_robust", "moj_ttest")


@dataclass(frozen=True)
class Estimate:
    """One measure: group values, their difference (treated - control), CI, p-value, verdicts."""

    measure: str
    method: str
    n_treated: int
    n_control: int
    n_control_effective: float
    treated_value: float
    control_value: float
    difference: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    reported: bool
    note: str = ""
    standard_errors: str = ""


@dataclass(frozen=True)
class EffectsResult:
    """All measures for one matched sample, with the settings that made them."""

    estimates: tuple[Estimate, ...]
    method: str
    alpha: float
    settings: Any = field(default_factory=lambda: MappingProxyType({}))

    def table(self) -> pd.DataFrame:
        """The estimates as a DataFrame, one row per measure."""
        return pd.DataFrame([e.__dict__ for e in self.estimates]).set_index("measure")

    def __getitem__(self, measure: str) -> Estimate:
        for e in self.estimates:
            if e.measure == measure:
                return e
        raise KeyError(measure)


def _frame(matched: MatchResult | pd.DataFrame) -> pd.DataFrame:
    frame = matched.matched if isinstance(matched, MatchResult) else matched
    missing = [c for c in ("treat", "weights", "subclass") if c not in frame.columns]
    if missing:
        raise MatchingError(f"The matched frame lacks {missing}; pass a MatchResult or its `matched` frame.")
    return frame


def _moj_ttest(y_t: np.ndarray, y_c: np.ndarray, w_c: np.ndarray, alpha: float):
    """Welch two-sample t-test of the treated mean against the weighted control mean.

    The controls' weights are scaled to sum to their effective sample size (Kish: (sum w)^2 / sum w^2), so
    the variance of the weighted mean and Welch's degrees of freedom count a control used for many treated
    people as the information it carries, not as many people (defect 5 of issue 15). With equal weights this
    is the ordinary Welch test.
    """
    dt = DescrStatsW(y_t)
    dc = DescrStatsW(y_c, weights=w_c * effective_sample_size(w_c) / w_c.sum())
    cm = CompareMeans(dt, dc)
    _, p, _ = cm.ttest_ind(usevar="unequal")
    low, high = cm.tconfint_diff(alpha=alpha, usevar="unequal")
    se = float(cm.std_meandiff_separatevar)
    return Fit(float(dt.mean - dc.mean), se, float(low), float(high), float(p), "welch_effective_n", 0)


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size of weighted units, (sum w)^2 / sum w^2 (cobalt's and MatchIt's ESS)."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum())


def _np_treated(measure: str, y_t: np.ndarray, n_reoffenders_t: int) -> float:
    """The np of one measure in the treatment group, as :mod:`jdl_lib.small_numbers` defines it."""
    if measure in BINARY_MEASURES:
        return float(y_t.sum())
    return float(n_reoffenders_t)


def _measure_data(frame: pd.DataFrame, measure: str, columns: dict[str, str]) -> pd.DataFrame:
    if measure not in columns:
        raise MatchingError(f"Unknown measure '{measure}'; choose from {list(columns)}.")
    col = columns[measure]
    if col not in frame.columns:
        raise MatchingError(f"Measure '{measure}' needs column '{col}' in the matched frame.")
    if measure in AMONG_REOFFENDERS:
        frame = frame[frame[MEASURE_COLUMNS["rate"]].astype(bool)]
    return frame.dropna(subset=[col])


def estimate_effects(
    matched: MatchResult | pd.DataFrame,
    measures: Sequence[str] = ("rate", "frequency", "time_to_reoffence", "custody_on_reoffence"),
    method: str = "cluster_robust",
    alpha: float = 0.05,
    columns: dict[str, str] | None = None,
    standard_errors: str = "auto",
    random_state: int | None = None,
) -> EffectsResult:
    """Estimate the treatment-minus-control difference for each JDL measure (the ATT).

    Why: these are the four headline measures of a JDL report (methodology section 2): one-year
    proven reoffending rate (0-1), frequency (reoffences per person), days to first reoffence and
    custody for the first reoffence (both among reoffenders). Significance is p <= alpha.

    Parameters
    ----------
    matched : MatchResult or DataFrame
        The matched sample with ``treat``, ``weights``, ``subclass`` and outcome columns. A DataFrame
        carries no matched sets beyond ``subclass``; pass the MatchResult for two-way clustering.
    measures : sequence of str
        Names from ``MEASURE_COLUMNS``.
    method : {"cluster_robust", "moj_ttest"}
        Weighted regression with the design's robust standard error, or the MoJ's weighted t-test.
    alpha : float
        1 - confidence level.
    columns : dict, optional
        Extra or replacement ``measure -> column`` names (e.g. another outcome for a check).
    standard_errors : str
        A name from :data:`jdl_lib.standard_errors.SE_METHODS` (``"auto"``: by design); regression only.
    random_state : int, optional
        Seed of the bootstrap standard error.
    """
    cols = {**MEASURE_COLUMNS, **(columns or {})}
    if method not in METHODS:
        raise MatchingError(f"Unknown inference method '{method}'; choose one of {list(METHODS)}.")
    se_method = resolve_se_method(matched, standard_errors) if method == "cluster_robust" else "welch"
    frame = _frame(matched)
    long = matched_sets(matched) if _uses_sets(matched, se_method) else None
    n_reoff_t = (
        int(frame.loc[frame["treat"] == 1, MEASURE_COLUMNS["rate"]].astype(bool).sum())
        if MEASURE_COLUMNS["rate"] in frame.columns
        else 0
    )
    out: list[Estimate] = []
    for measure in measures:
        data = _measure_data(frame, measure, cols)
        t = data["treat"].to_numpy(dtype=float)
        y = data[cols[measure]].to_numpy(dtype=float)
        w = data["weights"].to_numpy(dtype=float)
        is_t = t == 1
        if is_t.sum() < 2 or (~is_t).sum() < 2:
            out.append(_empty(measure, method, int(is_t.sum()), int((~is_t).sum())))
            continue
        w_c = w[~is_t]
        treated_value = float(np.average(y[is_t], weights=w[is_t]))
        control_value = float(np.average(y[~is_t], weights=w_c))
        if method == "cluster_robust":
            fit = _regression(
                data, measure, cols, se_method, alpha, long, random_state, has_sets=_has_sets(matched)
            )
        else:
            fit = _moj_ttest(y[is_t], y[~is_t], w_c, alpha)
        reported, note = small_numbers.reporting(measure, _np_treated(measure, y[is_t], n_reoff_t), n_reoff_t)
        out.append(
            Estimate(
                measure=measure,
                method=method,
                n_treated=int(is_t.sum()),
                n_control=int((~is_t).sum()),
                n_control_effective=effective_sample_size(w_c),
                treated_value=treated_value,
                control_value=control_value,
                difference=fit.estimate,
                std_error=fit.std_error,
                ci_low=fit.ci_low,
                ci_high=fit.ci_high,
                p_value=fit.p_value,
                significant=bool(fit.p_value <= alpha),
                reported=reported,
                note=note,
                standard_errors=fit.se_method,
            )
        )
    return EffectsResult(
        estimates=tuple(out),
        method=method,
        alpha=alpha,
        settings=MappingProxyType(
            {
                "measures": tuple(measures),
                "method": method,
                "alpha": alpha,
                "standard_errors_requested": standard_errors,
                "standard_errors": se_method,
            }
        ),
    )


def _uses_sets(matched: MatchResult | pd.DataFrame, se_method: str) -> bool:
    """Whether the SE needs MatchIt's ``get_matches`` layout (one row per unit per matched set)."""
    return se_method == "two_way"


def _has_sets(matched: MatchResult | pd.DataFrame) -> bool:
    """Whether ``subclass`` holds matched sets (pair designs), not the strata of a weighting design."""
    return not isinstance(matched, MatchResult) or not matched.pairs.empty


def _regression(
    unit_rows: pd.DataFrame,
    measure: str,
    cols: dict[str, str],
    se_method: str,
    alpha: float,
    long: pd.DataFrame | None,
    random_state: int | None,
    covariates: Sequence[str] | None = None,
    has_sets: bool = True,
) -> Fit:
    """WLS on the layout the SE method needs: ``match.data`` rows, or ``get_matches`` rows (``long``)."""
    data = unit_rows if long is None else _measure_data(long, measure, cols)
    x = None if covariates is None else design_matrix(data, covariates).to_numpy(dtype=float)
    return fit_effect(
        data[cols[measure]].to_numpy(dtype=float),
        data["treat"].to_numpy(dtype=float),
        data["weights"].to_numpy(dtype=float),
        se_method,
        alpha,
        sets=None if not has_sets else (data["subclass"] if long is None else data["set"]).to_numpy(),
        units=None if long is None else data["unit"].to_numpy(),
        x=x,
        random_state=random_state,
    )


def _empty(measure: str, method: str, n_t: int, n_c: int) -> Estimate:
    nan = float("nan")
    return Estimate(
        measure,
        method,
        n_t,
        n_c,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        nan,
        False,
        False,
        "too few people to estimate",
    )


def regression_adjusted_effect(
    matched: MatchResult | pd.DataFrame,
    covariates: Sequence[str],
    measure: str = "rate",
    alpha: float = 0.05,
    standard_errors: str = "auto",
    random_state: int | None = None,
) -> Estimate:
    """Doubly robust estimate: regression adjustment for the covariates within the matched sample.

    Why: matching followed by outcome regression on the matched sample is consistent if either the
    propensity model or the outcome model is right (Ho, Imai, King & Stuart 2007), so a matched
    estimate that moves little under adjustment is not resting on residual imbalance. WLS of the
    outcome on treatment plus covariates (a linear probability model for binary measures), with the
    same standard error as the matched estimate; the treatment coefficient is the estimate.
    """
    frame = _frame(matched)
    se_method = resolve_se_method(matched, standard_errors)
    long = matched_sets(matched) if _uses_sets(matched, se_method) else None
    data = _measure_data(frame, measure, MEASURE_COLUMNS)
    fit = _regression(
        data, measure, MEASURE_COLUMNS, se_method, alpha, long, random_state, covariates, _has_sets(matched)
    )
    is_t = data["treat"].to_numpy() == 1
    w_c = data["weights"].to_numpy(dtype=float)[~is_t]
    treated_value = float(data.loc[is_t, MEASURE_COLUMNS[measure]].astype(float).mean())
    return Estimate(
        measure=measure,
        method="regression_adjusted",
        n_treated=int(is_t.sum()),
        n_control=int((~is_t).sum()),
        n_control_effective=effective_sample_size(w_c),
        treated_value=treated_value,
        control_value=treated_value - fit.estimate,
        difference=fit.estimate,
        std_error=fit.std_error,
        ci_low=fit.ci_low,
        ci_high=fit.ci_high,
        p_value=fit.p_value,
        significant=bool(fit.p_value <= alpha),
        reported=True,
        note="matched estimate adjusted for covariates (doubly robust)",
        standard_errors=fit.se_method,
    )


#: Designs re-estimating the rate beside the matched estimate, on the same propensity score.
ALTERNATIVE_DESIGNS = ("subclass", "ipw")


def alternative_design_effects(
    frame: pd.DataFrame,
    result: MatchResult,
    covariates: Sequence[str],
    measure: str = "rate",
    alpha: float = 0.05,
    random_state: int | None = None,
) -> list[Estimate]:
    """The measure under subclassification and ATT inverse-probability weighting, for the robustness checks.

    Why: an effect that survives a change of design (MatchIt's subclassification with ATT weights; IPW
    with overlap trimming) does not rest on the choices of nearest-neighbour matching. Both reuse the
    matched design's propensity scores (``result.scores``), so only the design changes, and use their own
    default standard errors (HC3). The estimate's ``method`` names the design.
    """
    scores = result.scores["propensity"].reindex(frame.index).to_numpy()
    treat = result.scores["treat"].reindex(frame.index).fillna(0).to_numpy(dtype=int)
    # the scores are given, so a design needs only the outcome (and the person, to keep the pool clean):
    # a national pool is not copied with all its columns
    slim = frame[[c for c in ("person_id", *MEASURE_COLUMNS.values()) if c in frame.columns]]
    out = []
    for method in ALTERNATIVE_DESIGNS:
        design = get_matcher(method, covariates=covariates, random_state=random_state)
        other = design.fit(slim, treat, propensity=scores).result_
        est = estimate_effects(other, [measure], alpha=alpha, random_state=random_state)[measure]
        out.append(replace(est, method=method, note=f"{method} design on the same propensity score"))
    return out
