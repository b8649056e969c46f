"""What the weighting designs (subclassification, inverse-probability weighting) share.

They follow the matchers' contract (scikit-learn's estimator API, MatchIt's argument names) and return
a :class:`~jdl_lib.matching.result.MatchResult` whose ``weights`` carry the design and whose ``pairs`` is
empty; :mod:`jdl_lib.standard_errors` then uses HC3, as MatchIt's guidance gives for these designs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.matching.base import constructor_params, prepare_scores
from jdl_lib.matching.design import DEFAULT_COVARIATES
from jdl_lib.matching.result import MatchResult, build_weighted_result

logger = logging.getLogger(__name__)


class WeightingDesign:
    """Shared plumbing; subclasses set ``method`` and implement :meth:`_weights`."""

    method: str = ""

    def __init__(
        self,
        *,
        distance: str = "logit",
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        propensity_model: str = "logistic",
        estimand: str = "ATT",
        random_state: int | None = None,
    ) -> None:
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
    ) -> WeightingDesign:
        """Score everyone (unless ``propensity`` is given) and weight the controls to the treated.

        Same inputs as :meth:`jdl_lib.matching.base.BaseMatcher.fit`; sets ``result_``, ``propensity_``
        and ``distance_``.
        """
        frame, treat_arr, score, dist, n_excluded = prepare_scores(
            X, treat, propensity, self.covariates, self.propensity_model, self.distance, self.estimand
        )
        weights, subclass = self._weights(score, dist, treat_arr)
        self.propensity_ = score
        self.distance_ = dist
        self.result_: MatchResult = build_weighted_result(
            method=self.method,
            frame=frame,
            treat=treat_arr,
            propensity=score,
            distance=dist,
            weights=weights,
            subclass=subclass,
            settings={**self.get_params(), "method": self.method},
            n_excluded=n_excluded,
        )
        logger.info(
            "%s: %d of %d treated kept, %d controls weighted.",
            self.method,
            self.result_.n_treated_matched,
            self.result_.n_treated,
            self.result_.n_controls_used,
        )
        return self

    def _weights(
        self, score: np.ndarray, dist: np.ndarray, treat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
