"""Radius (caliper) matching: every control within the caliper of a treated unit, with weights.

Each treated unit's controls share its weight equally (1 / number of controls), so a unit with many
close controls counts no more than one with few; controls may serve several treated units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdl_lib.errors import MatchingError
from jdl_lib.matching.base import BaseMatcher
from jdl_lib.matching.design import DEFAULT_COVARIATES, DEFAULT_EXACT


class RadiusMatcher(BaseMatcher):
    """All controls within ``caliper`` of each treated unit (with replacement, weighted).

    Parameters are those of :class:`~jdl_lib.matching.nearest.NearestNeighborMatcher` without
    ``ratio``/``replace``/``m_order``; ``caliper`` is required.
    """

    method = "radius"

    def __init__(
        self,
        caliper: float = 0.2,
        std_caliper: bool = True,
        exact: Sequence[str] = DEFAULT_EXACT,
        distance: str = "logit",
        *,
        caliper_sd: str = "pooled",
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        propensity_model: str = "logistic",
        estimand: str = "ATT",
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            caliper=caliper,
            std_caliper=std_caliper,
            caliper_sd=caliper_sd,
            exact=exact,
            distance=distance,
            covariates=covariates,
            propensity_model=propensity_model,
            estimand=estimand,
            random_state=random_state,
        )

    def _match_stratum(
        self,
        dist: np.ndarray,
        t_rows: np.ndarray,
        c_sorted: np.ndarray,
        width: float | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        if width is None:
            raise MatchingError("Radius matching needs a caliper; set `caliper` to a positive number.")
        dt = dist[t_rows]
        dc = dist[c_sorted]
        lo = np.searchsorted(dc, dt - width, side="left")
        hi = np.searchsorted(dc, dt + width, side="right")
        counts = hi - lo
        t_idx = np.repeat(np.arange(len(dt)), counts)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        c_idx = starts + np.arange(counts.sum())
        inside = np.abs(dc[c_idx] - dt[t_idx]) <= width
        return t_idx[inside], c_idx[inside]
