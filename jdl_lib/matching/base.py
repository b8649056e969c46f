"""What every matcher shares: the propensity score, the matched distance, exact strata, the caliper,
and the exclusion of treated people from the candidate pool.

Matchers follow scikit-learn's estimator contract (``__init__`` only stores its arguments,
``fit`` returns ``self``, learned attributes end in ``_``) and MatchIt's argument names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.errors import MatchingError
from jdl_lib.matching.design import (
    DEFAULT_COVARIATES,
    DEFAULT_EXACT,
    add_index_year_band,
    design_matrix,
    exact_strata,
)
from jdl_lib.matching.propensity import get_propensity_model, to_distance
from jdl_lib.matching.result import MatchResult, build_result

logger = logging.getLogger(__name__)

#: Name of the person identifier used to keep treated people out of the control pool.
PERSON_ID = "person_id"


def caliper_sd(distance: np.ndarray, treat: np.ndarray, rule: str) -> float:
    """Standard deviation that a standardised caliper multiplies.

    ``"pooled"`` (default): sqrt of the mean of the treated and control variances of the distance,
    Austin (2011)'s recommendation for 0.2 SD of the logit. ``"all"``: the SD over all units, as
    MatchIt's ``std.caliper`` does; with a pool far larger than the cohort the two differ.
    """
    if rule == "pooled":
        return float(np.sqrt((np.var(distance[treat], ddof=1) + np.var(distance[~treat], ddof=1)) / 2))
    if rule == "all":
        return float(np.std(distance, ddof=1))
    raise MatchingError(f"Unknown caliper_sd rule '{rule}'; choose one of ['all', 'pooled'].")


def prepare_scores(
    X: pd.DataFrame,
    treat: Sequence[int] | np.ndarray,
    propensity: np.ndarray | None,
    covariates: Sequence[str],
    propensity_model: str,
    distance: str,
    estimand: str,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, int]:
    """What every design does first: check the input, drop treated people from the pool, score everyone.

    Returns the frame (``index_year_band`` added, pool rows of treated people removed), the treatment
    flags (bool), the propensity score, the distance matched on, and the number of pool rows removed.
    """
    if estimand != "ATT":
        raise MatchingError(f"estimand '{estimand}' is not supported; the lab estimates the ATT.")
    treat_arr = np.asarray(treat).astype(bool)
    if len(treat_arr) != len(X):
        raise MatchingError(f"treat has {len(treat_arr)} values but X has {len(X)} rows; align them.")
    if not treat_arr.any() or treat_arr.all():
        raise MatchingError("Matching needs at least one treated row and one candidate control.")
    frame = add_index_year_band(X)
    keep = np.ones(len(frame), dtype=bool)
    if PERSON_ID in frame.columns:
        treated_people = pd.unique(frame.loc[treat_arr, PERSON_ID])
        keep = treat_arr | ~frame[PERSON_ID].isin(treated_people).to_numpy()
    n_excluded = int((~keep).sum())
    if n_excluded:
        logger.info("Removed %d pool rows belonging to treated people.", n_excluded)
        frame = frame.iloc[np.flatnonzero(keep)]
        treat_arr = treat_arr[keep]
    if propensity is None:
        x = design_matrix(frame, covariates)
        score = get_propensity_model(propensity_model)(x, treat_arr.astype(int))
    else:
        score = np.asarray(propensity, dtype=float)[keep]
    return frame, treat_arr, score, to_distance(score, distance), n_excluded


def constructor_params(estimator: object) -> dict[str, Any]:
    """An estimator's constructor arguments and their current values (scikit-learn's ``get_params``).

    Shared by every matcher and weighting design, whose constructors store each argument under its name.
    """
    init = type(estimator).__init__
    names = list(init.__code__.co_varnames[1 : init.__code__.co_argcount]) + list(init.__kwdefaults__ or {})
    return {n: getattr(estimator, n) for n in dict.fromkeys(names)}


class BaseMatcher:
    """Shared fitting plumbing; subclasses implement :meth:`_match_stratum` and set ``method``."""

    method: str = ""

    def __init__(
        self,
        *,
        caliper: float | None = 0.2,
        std_caliper: bool = True,
        caliper_sd: str = "pooled",
        exact: Sequence[str] = DEFAULT_EXACT,
        distance: str = "logit",
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        propensity_model: str = "logistic",
        estimand: str = "ATT",
        random_state: int | None = None,
    ) -> None:
        self.caliper = caliper
        self.std_caliper = std_caliper
        self.caliper_sd = caliper_sd
        self.exact = exact
        self.distance = distance
        self.covariates = covariates
        self.propensity_model = propensity_model
        self.estimand = estimand
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as scikit-learn's ``get_params`` returns them."""
        return constructor_params(self)

    def fit(
        self, X: pd.DataFrame, treat: Sequence[int] | np.ndarray, propensity: np.ndarray | None = None
    ) -> BaseMatcher:
        """Estimate the propensity score (unless given) and match treated rows to controls.

        Parameters
        ----------
        X : DataFrame
            Treated rows and candidate controls (e.g. the derived index-event frame), with the
            covariates and the exact-matching columns. ``index_year_band`` is added from
            ``index_year`` when absent. If a ``person_id`` column is present, pool rows of any
            treated person are removed before matching (and counted).
        treat : array of 0/1
            1 for the cohort's rows, 0 for candidate controls.
        propensity : array, optional
            Precomputed propensity scores aligned with ``X``; skips the model fit.

        Returns
        -------
        self, with ``result_`` (a :class:`MatchResult`), ``propensity_``, ``distance_`` and ``caliper_``.
        """
        frame, treat_arr, score, dist, n_excluded = prepare_scores(
            X, treat, propensity, self.covariates, self.propensity_model, self.distance, self.estimand
        )
        width = self._caliper_width(dist, treat_arr)
        strata = exact_strata(frame, self.exact)
        pairs = self._match(dist, treat_arr, strata, width)
        if PERSON_ID in frame.columns and len(pairs):
            c_people = frame[PERSON_ID].to_numpy()[pairs["c"].to_numpy()]
            assert not np.isin(c_people, frame.loc[treat_arr, PERSON_ID].to_numpy()).any()
        self.propensity_ = score
        self.distance_ = dist
        self.caliper_ = width
        self.result_: MatchResult = build_result(
            method=self.method,
            frame=frame,
            treat=treat_arr,
            propensity=score,
            distance=dist,
            strata=strata,
            pairs_pos=pairs,
            settings={**self.get_params(), "method": self.method},
            caliper_width=width,
            n_excluded=n_excluded,
        )
        logger.info(
            "%s matching: %d of %d treated matched, %d controls used.",
            self.method,
            self.result_.n_treated_matched,
            self.result_.n_treated,
            self.result_.n_controls_used,
        )
        return self

    def _caliper_width(self, dist: np.ndarray, treat: np.ndarray) -> float | None:
        if self.caliper is None:
            return None
        if self.caliper <= 0:
            raise MatchingError(f"caliper must be positive or None, got {self.caliper}.")
        if not self.std_caliper:
            return float(self.caliper)
        return float(self.caliper) * caliper_sd(dist, treat, self.caliper_sd)

    def _match(
        self, dist: np.ndarray, treat: np.ndarray, strata: np.ndarray, width: float | None
    ) -> pd.DataFrame:
        """Match within each exact stratum; return pairs as row positions (columns ``t``, ``c``)."""
        rng = np.random.default_rng(self.random_state)
        rows = np.arange(len(dist))
        out: list[pd.DataFrame] = []
        for s in np.unique(strata[treat]):
            in_s = strata == s
            t_rows = rows[in_s & treat]
            c_rows = rows[in_s & ~treat]
            if len(c_rows) == 0:
                continue
            # controls sorted by (distance, data order): MatchIt's order() over the distance
            c_sorted = c_rows[np.lexsort((c_rows, dist[c_rows]))]
            t_local, c_local = self._match_stratum(dist, t_rows, c_sorted, width, rng)
            out.append(pd.DataFrame({"t": t_rows[t_local], "c": c_sorted[c_local]}))
        if not out:
            return pd.DataFrame({"t": np.empty(0, np.int64), "c": np.empty(0, np.int64)})
        return pd.concat(out, ignore_index=True)

    def _match_stratum(
        self,
        dist: np.ndarray,
        t_rows: np.ndarray,
        c_sorted: np.ndarray,
        width: float | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def insertion_points(dist: np.ndarray, t_rows: np.ndarray, c_sorted: np.ndarray) -> np.ndarray:
    """Position of each treated row among the sorted controls, ties ordered by data order.

    This is where MatchIt's single sorted list of all units puts the treated unit: controls with a
    smaller distance, or an equal distance and an earlier row, lie to its left.
    """
    dc = dist[c_sorted]
    dt = dist[t_rows]
    lo = np.searchsorted(dc, dt, side="left")
    hi = np.searchsorted(dc, dt, side="right")
    pos = lo.copy()
    tied = np.flatnonzero(hi > lo)
    for i in tied:  # only treated rows whose score equals some control's: few
        pos[i] = lo[i] + np.searchsorted(c_sorted[lo[i] : hi[i]], t_rows[i])
    return pos
