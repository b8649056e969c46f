"""Intake: read and check a charity's Data Upload Template before linkage.

``read_upload`` is what the pipeline calls; ``check_upload`` reports without refusing small
cohorts (used by ``jdl validate``); ``format_report`` renders the validation report.
"""

from jdl_lib.intake.report import format_report, problems_frame
from jdl_lib.intake.validate import (
    MAX_DROPPED_SHARE,
    MAX_ROWS,
    MIN_PEOPLE,
    IntakeResult,
    IntakeSettings,
    Problem,
    check_upload,
    read_upload,
)

__all__ = [
    "MAX_DROPPED_SHARE",
    "MAX_ROWS",
    "MIN_PEOPLE",
    "IntakeResult",
    "IntakeSettings",
    "Problem",
    "check_upload",
    "format_report",
    "problems_frame",
    "read_upload",
]
