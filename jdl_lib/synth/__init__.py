"""Synthetic national database and charity cohorts with known true effects (issue 3)."""

from jdl_lib.synth.national import SyntheticNational, SyntheticStore, build_synthetic_store, generate_national

__all__ = ["SyntheticNational", "SyntheticStore", "build_synthetic_store", "generate_national"]
