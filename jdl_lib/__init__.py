"""jdl: the Justice Data Lab workbench.

Link an organisation's cohort to national offender records, build a matched control group with
propensity score matching, estimate the effect on one-year proven reoffending, and publish a
disclosure-safe report.
"""

from jdl_lib.errors import (
    DisclosureError,
    IntakeError,
    JdlError,
    JdlWarning,
    LinkageError,
    MatchingError,
    SpecError,
    StoreError,
    SynthesisError,
)

__version__ = "0.1.0"

__all__ = [
    "DisclosureError",
    "IntakeError",
    "JdlError",
    "JdlWarning",
    "LinkageError",
    "MatchingError",
    "SpecError",
    "StoreError",
    "SynthesisError",
    "__version__",
]
