"""Synthesis by service type: pool the published reports of each kind of service.

For each service type with at least :data:`~jdl_lib.synthesis.meta.MIN_REPORTS` reports that state the
one-year reoffending effect, a random-effects meta-analysis on the risk-difference and log-risk-ratio scales,
and (from five reports whose sizes differ, the largest at least 1.5 times the smallest) a meta-regression of
the risk difference on cohort size (people analysed, in hundreds): does the effect depend on group size?
Types with fewer reports are listed, not pooled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jdl_lib.synthesis.meta import MIN_REPORTS, MetaAnalysis, MetaRegression, meta_analyse, meta_regression

#: Fewest reports for the meta-regression on cohort size (two parameters, three residual degrees of freedom).
MIN_REPORTS_REGRESSION = 5
#: Cohort size enters the meta-regression in hundreds of people analysed, so the slope reads "per 100 people".
SIZE_UNIT = 100
#: The meta-regression needs cohorts of different sizes: the largest at least this many times the smallest
#: (reports of near-equal size give a slope extrapolated far beyond the data).
SIZE_SPREAD = 1.5


@dataclass(frozen=True)
class TypeSynthesis:
    """The pooled evidence for one service type: the reports and, where there are enough, the models."""

    service_type: str
    reports: pd.DataFrame
    risk_difference: MetaAnalysis | None
    log_risk_ratio: MetaAnalysis | None
    size_regression: MetaRegression | None

    @property
    def k(self) -> int:
        """Reports of this type that state the one-year reoffending effect."""
        return len(self.reports)

    @property
    def pooled(self) -> bool:
        """Whether there were enough reports to pool."""
        return self.risk_difference is not None


def synthesise_type(
    reports: pd.DataFrame, service_type: str, tau2_method: str = "REML", hartung_knapp: bool = True
) -> TypeSynthesis:
    """Pool the reports (rows of :func:`~jdl_lib.synthesis.effects.effects_table`) of one service type.

    The risk difference is pooled from every report; the log risk ratio from those where it is defined
    (both rates strictly between 0 and 1). Fewer than :data:`MIN_REPORTS` reports: nothing is pooled.
    """
    rows = reports[reports["service_type"] == service_type].reset_index(drop=True)
    rd = rr = reg = None
    if len(rows) >= MIN_REPORTS:
        rd = meta_analyse(rows["rd"], rows["rd_var"], tau2_method, hartung_knapp)
        defined = rows[np.isfinite(rows["log_rr"]) & np.isfinite(rows["log_rr_var"])]
        if len(defined) >= MIN_REPORTS:
            rr = meta_analyse(defined["log_rr"], defined["log_rr_var"], tau2_method, hartung_knapp)
        if len(rows) >= MIN_REPORTS_REGRESSION and rows["people"].max() >= SIZE_SPREAD * rows["people"].min():
            reg = meta_regression(
                rows["rd"],
                rows["rd_var"],
                rows["people"] / SIZE_UNIT,
                f"people analysed (per {SIZE_UNIT})",
                tau2_method,
                hartung_knapp,
            )
    return TypeSynthesis(service_type, rows, rd, rr, reg)


def synthesise_by_type(
    reports: pd.DataFrame, tau2_method: str = "REML", hartung_knapp: bool = True
) -> list[TypeSynthesis]:
    """One :class:`TypeSynthesis` per service type present, most reports first (then by name)."""
    counts = reports["service_type"].value_counts()
    order = sorted(counts.index, key=lambda t: (-counts[t], t))
    return [synthesise_type(reports, t, tau2_method, hartung_knapp) for t in order]


def risk_ratio(m: MetaAnalysis) -> dict[str, float]:
    """A log-risk-ratio meta-analysis back on the ratio scale: estimate and confidence/prediction limits."""
    return {key: math.exp(getattr(m, key)) for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
