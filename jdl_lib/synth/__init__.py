"""Synthetic national database and charity cohorts with known true effects (issue 3)."""

from jdl_lib.synth.cohort import Cohort, make_cohort, write_cohort
from jdl_lib.synth.national import SyntheticNational, SyntheticStore, build_synthetic_store, generate_national
from jdl_lib.synth.noise import NoiseConfig

__all__ = [
    "Cohort",
    "NoiseConfig",
    "SyntheticNational",
    "SyntheticStore",
    "build_synthetic_store",
    "generate_national",
    "make_cohort",
    "write_cohort",
]
