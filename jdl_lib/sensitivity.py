"""How strong an unobserved confounder would have to be to explain a result away.

* E-value (VanderWeele & Ding 2017): the minimum risk ratio that a confounder would need with both
  treatment and outcome to move the observed risk ratio (or its CI bound nearest 1) to 1.
* Rosenbaum bounds for 1:1 matched pairs with a binary outcome (Rosenbaum 2002, ch. 4): the hidden
  bias Gamma at which the worst-case one-sided McNemar p-value first exceeds alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from jdl_lib.errors import MatchingError
from jdl_lib.matching.result import MatchResult
from jdl_lib.outcomes import Estimate


@dataclass(frozen=True)
class EValue:
    """E-values of a rate estimate: for the point estimate and for the CI bound nearest the null."""

    risk_ratio: float
    e_value: float
    e_value_ci: float


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def e_value(estimate: Estimate) -> EValue:
    """E-value of a binary measure's estimate (risk ratio = treated rate / control rate).

    The CI's risk ratios take the control rate as fixed (control + CI bound) / control, which is
    close when the comparison group is much larger than the cohort. When the CI includes no
    difference the CI E-value is 1: no confounding is needed to explain it.
    """
    pc = estimate.control_value
    if not 0 < pc < 1:
        raise MatchingError("E-value needs a control rate strictly between 0 and 1.")
    rr = estimate.treated_value / pc
    low, high = (pc + estimate.ci_low) / pc, (pc + estimate.ci_high) / pc
    if low <= 1 <= high:
        e_ci = 1.0
    else:
        e_ci = _e(high if rr < 1 else low)
    return EValue(risk_ratio=float(rr), e_value=_e(rr) if rr > 0 else float("inf"), e_value_ci=float(e_ci))


def rosenbaum_gamma(result: MatchResult, outcome: str = "reoffended_1y", alpha: float = 0.05) -> float:
    """Largest hidden bias Gamma at which a 1:1 pair-matched binary result stays significant.

    Returns 1.0 when the result is not significant even without hidden bias, and the Gamma at which
    the upper bound of the one-sided p-value reaches ``alpha`` otherwise.
    """
    pairs = result.pairs
    if pairs.groupby("treated").size().max() != 1 or pairs["control"].duplicated().any():
        raise MatchingError("Rosenbaum bounds here need 1:1 matching without replacement.")
    frame = result.matched
    yt = frame.loc[pairs["treated"], outcome].to_numpy(dtype=bool)
    yc = frame.loc[pairs["control"], outcome].to_numpy(dtype=bool)
    n_d = int((yt != yc).sum())
    favour = int((yc & ~yt).sum()) if yt.mean() <= yc.mean() else int((yt & ~yc).sum())

    def p_upper(gamma: float) -> float:
        return float(stats.binom.sf(favour - 1, n_d, gamma / (1 + gamma)))

    if n_d == 0 or p_upper(1.0) > alpha:
        return 1.0
    if p_upper(100.0) <= alpha:
        return float("inf")
    return float(optimize.brentq(lambda g: p_upper(g) - alpha, 1.0, 100.0))


def sensitivity_table(estimate: Estimate, result: MatchResult | None = None) -> pd.DataFrame:
    """E-value (and Rosenbaum Gamma for 1:1 pairs) as a small table for the report."""
    ev = e_value(estimate)
    rows = [("risk ratio", ev.risk_ratio), ("E-value", ev.e_value), ("E-value (CI bound)", ev.e_value_ci)]
    if result is not None:
        try:
            rows.append(("Rosenbaum Gamma", rosenbaum_gamma(result)))
        except MatchingError:
            rows.append(("Rosenbaum Gamma", np.nan))
    return pd.DataFrame(rows, columns=["figure", "value"])
