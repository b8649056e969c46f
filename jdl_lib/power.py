"""What a cohort of a given size can show: minimum detectable difference and people needed.

Two-sided test of a difference in one-year reoffending rates (normal approximation with unpooled
variances under the alternative; Fleiss, Levin & Paik 2003, ch. 4). Written out rather than taken
from ``statsmodels.stats.power`` because those classes work in Cohen's h (arcsine) units and need a
finite control/treated ratio, while the JDL compares a cohort with a comparison group so large it
adds almost no variance: ``n_control=None`` models that case (variance from the cohort only,
the same approximation the published JDL CIs fit, methodology section 5).
"""

from __future__ import annotations

import math

from scipy import optimize, stats

from jdl_lib.errors import SpecError


def _check(baseline_rate: float, alpha: float, power: float) -> None:
    if not 0 < baseline_rate < 1:
        raise SpecError(f"baseline_rate must be strictly between 0 and 1, got {baseline_rate}.")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise SpecError(f"alpha and power must be strictly between 0 and 1, got {alpha} and {power}.")


def _gap(d: float, n_t: float, p0: float, inv_nc: float, za: float, zb: float) -> float:
    p1 = p0 - d
    se0 = math.sqrt(p0 * (1 - p0) * (1 / n_t + inv_nc))
    se1 = math.sqrt(p1 * (1 - p1) / n_t + p0 * (1 - p0) * inv_nc)
    return d - (za * se0 + zb * se1)


def minimum_detectable_difference(
    n_treated: int,
    baseline_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    n_control: int | None = None,
) -> float:
    """Smallest reduction in the reoffending rate (0-1 scale) the cohort would detect.

    Why: a charity can learn before sending data whether its group is big enough to show anything
    (e.g. 100 people at a 40% baseline can only detect a fall of about 13 points).

    Parameters
    ----------
    n_treated : int
        People expected to be matched.
    baseline_rate : float
        Expected reoffending rate of similar people without the service (0-1).
    alpha, power : float
        Two-sided significance level and power.
    n_control : int, optional
        Size of the comparison group; ``None`` for a comparison group much larger than the cohort.
    """
    _check(baseline_rate, alpha, power)
    if n_treated < 1:
        raise SpecError(f"n_treated must be at least 1, got {n_treated}.")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    inv_nc = 0.0 if n_control is None else 1 / n_control
    hi = baseline_rate - 1e-12
    if _gap(hi, n_treated, baseline_rate, inv_nc, za, zb) < 0:
        return float("nan")  # not even a fall to zero would be detected
    return float(optimize.brentq(_gap, 1e-12, hi, args=(n_treated, baseline_rate, inv_nc, za, zb)))


def people_needed(
    observed_diff: float,
    baseline_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    control_per_treated: float | None = None,
) -> int:
    """People needed in the treatment group to detect ``observed_diff`` (the MoJ's ``number_needed``).

    Why: for an inconclusive result the JDL report states how many people would have been needed
    (methodology section 5). ``observed_diff`` is treated minus control on the 0-1 scale;
    ``control_per_treated=None`` means a very large comparison group.
    """
    _check(baseline_rate, alpha, power)
    p1 = baseline_rate + observed_diff
    if observed_diff == 0 or not 0 < p1 < 1:
        raise SpecError(f"observed_diff must be non-zero and keep the rate in (0, 1), got {observed_diff}.")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    inv_r = 0.0 if control_per_treated is None else 1 / control_per_treated
    q0 = baseline_rate * (1 - baseline_rate)
    n = (
        za * math.sqrt(q0 * (1 + inv_r)) + zb * math.sqrt(p1 * (1 - p1) + q0 * inv_r)
    ) ** 2 / observed_diff**2
    return int(math.ceil(n))
