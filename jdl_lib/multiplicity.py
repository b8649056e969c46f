"""The report's multiplicity policy: one pre-specified primary measure, Holm-adjusted secondary measures.

A JDL report tests up to four reoffending measures; read one at a time, the chance that at least one shows a
"significant" difference when the service has no effect at all is well above 5%. The statistics regulator's
2025 review of the JDL turned on exactly this (``shared/reference/jdl_methodology.md`` section 5). The
policy here, stated in every report:

* the **one-year proven reoffending rate** is the pre-specified primary measure and is tested at ``alpha``
  on its own p-value (it carries the verdict);
* every other requested measure is **secondary**: its p-value is adjusted with Holm's step-down method over
  the family of secondary measures that could be estimated (whether or not a small-number rule later hides
  one, so the family is fixed by the request, not by the data), and it is called significant only when the
  adjusted p-value is at most ``alpha``.

Holm's method controls the family-wise error rate under any dependence between the measures (they share
people, so they are correlated) and is uniformly more powerful than Bonferroni. The computation is
statsmodels' :func:`~statsmodels.stats.multitest.multipletests`, a well-kept implementation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from statsmodels.stats.multitest import multipletests

#: The pre-specified primary measure (results.json key).
PRIMARY_MEASURE = "reoffended_1y"
#: The adjustment applied to the secondary measures (statsmodels' method name).
SECONDARY_METHOD = "holm"


def adjusted_p_values(
    p_values: Mapping[str, float | None], primary: str = PRIMARY_MEASURE
) -> dict[str, float | None]:
    """Each measure's p-value under the policy: the primary's unchanged, the secondaries' Holm-adjusted.

    Parameters
    ----------
    p_values : mapping of str to float or None
        Measure key -> unadjusted p-value; None (or NaN) for a measure that could not be estimated, which
        then stays None and is left out of the family.
    primary : str
        The pre-specified primary measure.

    Returns
    -------
    dict of str to float or None
        Same keys, in the same order.
    """
    out: dict[str, float | None] = {}
    family = secondary_family(p_values, primary)
    if family:
        adjusted = multipletests([p_values[k] for k in family], method=SECONDARY_METHOD)[1]
        holm = dict(zip(family, (float(p) for p in adjusted), strict=True))
    else:
        holm = {}
    for key, p in p_values.items():
        if key == primary:
            out[key] = None if p is None or not math.isfinite(p) else float(p)
        else:
            out[key] = holm.get(key)
    return out


def secondary_family(p_values: Mapping[str, float | None], primary: str = PRIMARY_MEASURE) -> list[str]:
    """The secondary measures whose p-values were adjusted together (those that could be estimated)."""
    return [k for k, p in p_values.items() if k != primary and p is not None and math.isfinite(p)]
