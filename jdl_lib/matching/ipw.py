"""Inverse-probability weighting for the ATT, with overlap trimming (WeightIt / MatchIt conventions).

Treated units weigh 1 and controls e / (1 - e), the odds of their propensity score e, which reweights the
pool to the treated group's covariate distribution (Hirano, Imbens & Ridder 2003); control weights are
scaled to sum to the number of controls. Before weighting, overlap is enforced in two ways, each counted
as treated people dropped:

* common support (MatchIt ``discard = "both"``): units whose score lies outside the other group's range;
* trimming (Crump, Hotz, Imbens & Mitnik 2009): units with e above ``trim`` (default 0.9). For the ATT only
  the upper end matters: a control's weight e / (1 - e) grows without bound as e nears 1, while controls
  with small e simply weigh little.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdl_lib.errors import MatchingError
from jdl_lib.matching.design import DEFAULT_COVARIATES
from jdl_lib.matching.weighting import WeightingDesign


class IPWDesign(WeightingDesign):
    """ATT inverse-probability weights with common-support discard and trimming.

    Parameters
    ----------
    trim : float or None
        Largest propensity score kept (0.5 < trim < 1); ``None`` keeps every score.
    discard : {"both", "none"}
        Drop units outside the other group's score range (MatchIt's ``discard``).
    distance, covariates, propensity_model, estimand, random_state
        As for :class:`~jdl_lib.matching.nearest.NearestNeighborMatcher`.
    """

    method = "ipw"

    def __init__(
        self,
        *,
        trim: float | None = 0.9,
        discard: str = "both",
        distance: str = "logit",
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        propensity_model: str = "logistic",
        estimand: str = "ATT",
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            distance=distance,
            covariates=covariates,
            propensity_model=propensity_model,
            estimand=estimand,
            random_state=random_state,
        )
        self.trim = trim
        self.discard = discard

    def _weights(
        self, score: np.ndarray, dist: np.ndarray, treat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.trim is not None and not 0.5 < self.trim < 1:
            raise MatchingError(f"trim must lie between 0.5 and 1 (or be None), got {self.trim}.")
        if self.discard not in ("both", "none"):
            raise MatchingError(f"Unknown discard '{self.discard}'; choose one of ['both', 'none'].")
        keep = np.ones(len(score), dtype=bool)
        if self.discard == "both":
            t, c = score[treat], score[~treat]
            keep &= (score >= max(t.min(), c.min())) & (score <= min(t.max(), c.max()))
        if self.trim is not None:
            keep &= score <= self.trim
        if not (keep & treat).any() or not (keep & ~treat).any():
            raise MatchingError("No overlap between treated and controls after trimming; loosen `trim`.")
        weights = np.where(treat, 1.0, score / (1 - score)) * keep
        return weights, np.arange(1, len(score) + 1)
