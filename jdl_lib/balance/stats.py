"""Covariate balance before and after matching: standardised mean differences, variance ratios.

One engine for every table. Each table names its SMD convention:

* ``"treated"``: (weighted mean treated - weighted mean control) / SD of the treated group in the
  unmatched sample. MatchIt's and cobalt's default for the ATT; the same denominator before and
  after matching, so a change in the SMD is a change in means only.
* ``"pooled"``: the denominator is sqrt((s_t^2 + s_c^2) / 2) from the unmatched sample (Austin 2009,
  2011), the convention of most applied PSM papers.

Categorical covariates are shown as one proportion per level. Verdict per variable on |SMD|:
< 0.05 good, 0.05-0.10 reasonable, > 0.10 poor (the 10% rule of Austin 2009; the 5% band is the
brief's stricter tier); overall = the worst variable's verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jdl_lib.errors import MatchingError
from jdl_lib.matching.design import unknown_as_level
from jdl_lib.matching.result import MatchResult

SD_CONVENTIONS = {
    "treated": "SMD = difference in means / SD of the treated group before matching (MatchIt/cobalt, ATT)",
    "pooled": "SMD = difference in means / pooled SD sqrt((s_t^2 + s_c^2)/2) before matching (Austin)",
}
GOOD, REASONABLE = 0.05, 0.10
_RANK = {"good": 0, "reasonable": 1, "poor": 2}


@dataclass(frozen=True)
class BalanceResult:
    """A balance table with its convention, and the overall verdict after matching."""

    table: pd.DataFrame
    sd_convention: str
    sd_description: str
    overall_before: str
    overall_after: str
    max_abs_smd_after: float


def verdict(smd: float) -> str:
    """Verdict for one absolute standardised difference (< 5% good, 5-10% reasonable, > 10% poor)."""
    a = abs(smd)
    if not np.isfinite(a):
        return "poor"
    return "good" if a < GOOD else ("reasonable" if a <= REASONABLE else "poor")


def expand_covariates(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric matrix for balance: numbers and booleans as they are, every level of a category as 0/1."""
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise MatchingError(f"Balance covariates {missing} are not columns of the frame; check the names.")
    parts = []
    for name in covariates:
        col = frame[name]
        unknown = unknown_as_level(col)
        if unknown is not None:
            parts.append(unknown)
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            parts.append(col.astype(float).rename(name))
        else:
            parts.append(pd.get_dummies(col.astype(str), prefix=name, prefix_sep="_", dtype=float))
    return pd.concat(parts, axis=1)


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means and unbiased (reliability-weights) variances of each column."""
    sw = w.sum()
    m = (w[:, None] * x).sum(0) / sw
    v = (w[:, None] * (x - m) ** 2).sum(0) / (sw - (w**2).sum() / sw)
    return m, v


def balance_table(
    frame: pd.DataFrame, result: MatchResult, covariates: Sequence[str], sd: str = "treated"
) -> pd.DataFrame:
    """Means, SMDs and variance ratios of each covariate (level) before and after matching.

    Parameters
    ----------
    frame : DataFrame
        The frame given to the matcher (its index labels the units of ``result``).
    result : MatchResult
    covariates : sequence of str
    sd : {"treated", "pooled"}
        SMD denominator convention; recorded in the ``smd_convention`` column.
    """
    if sd not in SD_CONVENTIONS:
        raise MatchingError(f"Unknown SMD convention '{sd}'; choose one of {sorted(SD_CONVENTIONS)}.")
    units = result.scores.index
    x_all = expand_covariates(frame.loc[units], covariates)
    t_all = result.scores["treat"].to_numpy() == 1
    m = result.matched
    x_m = x_all.loc[m.index].to_numpy()
    t_m = m["treat"].to_numpy() == 1
    w_m = m["weights"].to_numpy(dtype=float)
    xa = x_all.to_numpy()
    mt0, vt0 = _wmean_var(xa[t_all], np.ones(t_all.sum()))
    mc0, vc0 = _wmean_var(xa[~t_all], np.ones((~t_all).sum()))
    mt1, vt1 = _wmean_var(x_m[t_m], w_m[t_m])
    mc1, vc1 = _wmean_var(x_m[~t_m], w_m[~t_m])
    denom = np.sqrt(vt0) if sd == "treated" else np.sqrt((vt0 + vc0) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd0 = np.where(denom > 0, (mt0 - mc0) / denom, 0.0)
        smd1 = np.where(denom > 0, (mt1 - mc1) / denom, 0.0)
        vr0, vr1 = vt0 / vc0, vt1 / vc1
    binary = x_all.isin([0.0, 1.0]).all().to_numpy()
    table = pd.DataFrame(
        {
            "variable": x_all.columns,
            "kind": np.where(binary, "binary", "continuous"),
            "mean_treated_before": mt0,
            "mean_control_before": mc0,
            "smd_before": smd0,
            "var_ratio_before": np.where(binary, np.nan, vr0),
            "mean_treated_after": mt1,
            "mean_control_after": mc1,
            "smd_after": smd1,
            "var_ratio_after": np.where(binary, np.nan, vr1),
        }
    )
    table["verdict_before"] = table["smd_before"].map(verdict)
    table["verdict_after"] = table["smd_after"].map(verdict)
    table["smd_convention"] = sd
    table.attrs["smd_convention"] = SD_CONVENTIONS[sd]
    return table


def assess_balance(
    frame: pd.DataFrame, result: MatchResult, covariates: Sequence[str], sd: str = "treated"
) -> BalanceResult:
    """Balance table plus the overall verdict (worst variable) before and after matching."""
    table = balance_table(frame, result, covariates, sd)

    def worst(col: str) -> str:
        return max(table[col], key=_RANK.__getitem__) if len(table) else "good"

    return BalanceResult(
        table=table,
        sd_convention=sd,
        sd_description=SD_CONVENTIONS[sd],
        overall_before=worst("verdict_before"),
        overall_after=worst("verdict_after"),
        max_abs_smd_after=float(table["smd_after"].abs().max()) if len(table) else 0.0,
    )
