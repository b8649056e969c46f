"""Propensity-score matching: a treated cohort against the national pool of candidate controls."""

from jdl_lib.matching.design import (
    DEFAULT_COVARIATES,
    DEFAULT_EXACT,
    add_index_year_band,
    design_matrix,
    index_year_band,
)
from jdl_lib.matching.ipw import IPWDesign
from jdl_lib.matching.nearest import NearestNeighborMatcher
from jdl_lib.matching.propensity import PROPENSITY_MODELS, logistic_propensity
from jdl_lib.matching.radius import RadiusMatcher
from jdl_lib.matching.registry import MATCHERS, get_matcher, match
from jdl_lib.matching.result import MatchResult
from jdl_lib.matching.subclass import SubclassDesign

__all__ = [
    "DEFAULT_COVARIATES",
    "DEFAULT_EXACT",
    "IPWDesign",
    "MATCHERS",
    "PROPENSITY_MODELS",
    "MatchResult",
    "NearestNeighborMatcher",
    "RadiusMatcher",
    "SubclassDesign",
    "add_index_year_band",
    "design_matrix",
    "get_matcher",
    "index_year_band",
    "logistic_propensity",
    "match",
]
