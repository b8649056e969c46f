"""Record linkage of a charity's upload to the national offender index (``docs/linkage.md``)."""

from jdl_lib.linkage.link import link_cohort
from jdl_lib.linkage.result import METHODS, REVIEW_REASONS, LinkageResult, LinkageSettings

__all__ = ["METHODS", "REVIEW_REASONS", "LinkageResult", "LinkageSettings", "link_cohort"]
