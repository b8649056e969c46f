"""Matching methods chosen by name."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.errors import MatchingError
from jdl_lib.matching.base import BaseMatcher
from jdl_lib.matching.ipw import IPWDesign
from jdl_lib.matching.nearest import NearestNeighborMatcher
from jdl_lib.matching.radius import RadiusMatcher
from jdl_lib.matching.result import MatchResult
from jdl_lib.matching.subclass import SubclassDesign
from jdl_lib.matching.weighting import WeightingDesign

#: Matching and weighting designs by name (MatchIt's names where they exist).
MATCHERS: dict[str, type[BaseMatcher] | type[WeightingDesign]] = {
    "nearest": NearestNeighborMatcher,
    "radius": RadiusMatcher,
    "subclass": SubclassDesign,
    "ipw": IPWDesign,
}


def get_matcher(method: str, **params: Any) -> BaseMatcher | WeightingDesign:
    """Build a matcher by name; an unknown name lists the valid ones."""
    try:
        cls = MATCHERS[method]
    except KeyError:
        raise MatchingError(
            f"Unknown matching method '{method}'; choose one of {sorted(MATCHERS)}."
        ) from None
    return cls(**params)


def matcher_parameters(method: str) -> frozenset[str]:
    """Names of the constructor arguments of the matching method ``method`` (e.g. ``ratio``, ``caliper``).

    Callers pass a method only the settings it takes, so a new method needs no special case elsewhere.
    """
    cls = MATCHERS.get(method)
    if cls is None:
        raise MatchingError(f"Unknown matching method '{method}'; choose one of {sorted(MATCHERS)}.")
    return frozenset(inspect.signature(cls.__init__).parameters) - {"self"}


def match(
    frame: pd.DataFrame,
    treat: np.ndarray | pd.Series,
    method: str = "nearest",
    propensity: np.ndarray | None = None,
    **params: Any,
) -> MatchResult:
    """Match treated rows of ``frame`` to candidate controls and return the :class:`MatchResult`.

    A one-call form of ``get_matcher(method, **params).fit(frame, treat).result_``.
    """
    return get_matcher(method, **params).fit(frame, np.asarray(treat), propensity=propensity).result_
