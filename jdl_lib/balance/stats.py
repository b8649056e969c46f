"""Covariate balance before and after matching, as cobalt's ``bal.tab`` and MatchIt's ``summary`` report it.

One engine for every table: means, standardised mean differences (SMD), variance ratios, eCDF statistics
(mean and maximum, the latter the Kolmogorov-Smirnov statistic), the effective sample size of each group,
and the same statistics for the propensity score itself. Each table names its SMD convention:

* ``"treated"``: (weighted mean treated - weighted mean control) / SD of the treated group in the
  unmatched sample. MatchIt's and cobalt's default for the ATT; the same denominator before and
  after matching, so a change in the SMD is a change in means only.
* ``"pooled"``: the denominator is sqrt((s_t^2 + s_c^2) / 2) from the unmatched sample (Austin 2009,
  2011), the convention of most applied PSM papers.

For a binary variable the variance is p(1 - p), as cobalt (``col_w_sd`` with ``bin.vars``) and MatchIt
(``wvar``) compute it, not the sample variance: the two differ by n / (n - 1). Continuous variances are
the unbiased weighted ("reliability weights") form. Variance ratios are for continuous variables only.
The eCDF statistics are MatchIt's ``qqsum(standardize = TRUE)``: absolute differences of the weighted
empirical CDFs at each distinct value, their mean and maximum; for a binary variable both equal the
difference in proportions.

Categorical covariates are shown as one proportion per level. Verdict per variable on |SMD|:
< 0.05 good, 0.05-0.10 reasonable, > 0.10 poor (the 10% rule of Austin 2009; the 5% band is the
brief's stricter tier); overall = the worst variable's verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

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
    """A balance table with its convention, the overall verdict after matching, the effective sample
    sizes and the balance of the propensity score itself (a one-row table, as cobalt's ``distance``)."""

    table: pd.DataFrame
    sd_convention: str
    sd_description: str
    overall_before: str
    overall_after: str
    max_abs_smd_after: float
    effective_sample_size: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    propensity: pd.DataFrame | None = None


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


def _wmean_var(x: np.ndarray, w: np.ndarray, binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means and variances of each column: p(1 - p) for binary columns, else the unbiased
    (reliability-weights) form, MatchIt's ``wvar``."""
    sw = w.sum()
    m = (w[:, None] * x).sum(0) / sw
    v = (w[:, None] * (x - m) ** 2).sum(0) / (sw - (w**2).sum() / sw)
    return m, np.where(binary, m * (1 - m), v)


def ecdf_stats(
    x: np.ndarray, treat: np.ndarray, weights: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Mean and maximum absolute difference of the weighted eCDFs of each column (MatchIt's ``qqsum``).

    Each group's weights are normalised to sum to 1; the signed cumulative sum over the sorted values,
    taken at the last row of each distinct value, is the eCDF difference there. One (mean, max) pair of
    arrays per weight vector in ``weights``; every weighting shares one sort per column, and columns are
    sorted one at a time, so a national pool needs one sort's memory, not one per covariate.
    """
    signed = [np.where(treat, w / w[treat].sum(), -w / w[~treat].sum()) for w in weights]
    out = [(np.zeros(x.shape[1]), np.zeros(x.shape[1])) for _ in weights]
    for j in range(x.shape[1]):
        order = np.argsort(x[:, j], kind="stable")
        xs = x[order, j]
        last = np.r_[xs[1:] != xs[:-1], True]
        for (means, maxes), wn in zip(out, signed, strict=True):
            diff = np.abs(np.cumsum(wn[order]))[last]
            means[j], maxes[j] = diff.mean(), diff.max()
    return out


def _statistics(x: np.ndarray, treat: np.ndarray, w_after: np.ndarray, sd: str) -> dict[str, np.ndarray]:
    """Every balance statistic of the columns of ``x`` (all units offered) before and after matching.

    ``w_after`` is each unit's matching weight (0 when unmatched). As in MatchIt's ``summary``, the eCDF
    differences after matching are evaluated at the distinct values of all units, matched or not.
    """
    binary = np.isin(x, (0.0, 1.0)).all(0)
    kept = w_after > 0
    t_m, w_m, x_m = treat[kept], w_after[kept], x[kept]
    mt0, vt0 = _wmean_var(x[treat], np.ones(treat.sum()), binary)
    mc0, vc0 = _wmean_var(x[~treat], np.ones((~treat).sum()), binary)
    mt1, vt1 = _wmean_var(x_m[t_m], w_m[t_m], binary)
    mc1, vc1 = _wmean_var(x_m[~t_m], w_m[~t_m], binary)
    denom = np.sqrt(vt0) if sd == "treated" else np.sqrt((vt0 + vc0) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd0 = np.where(denom > 0, (mt0 - mc0) / denom, 0.0)
        smd1 = np.where(denom > 0, (mt1 - mc1) / denom, 0.0)
        vr0, vr1 = vt0 / vc0, vt1 / vc1
    d0, d1 = np.abs(mt0 - mc0), np.abs(mt1 - mc1)  # a binary variable's eCDF statistics
    e0 = (d0.copy(), d0.copy())
    e1 = (d1.copy(), d1.copy())
    cont = np.flatnonzero(~binary)
    if len(cont):
        b0, b1 = ecdf_stats(x[:, cont], treat, [np.ones(len(treat)), w_after])
        for full, part in ((e0, b0), (e1, b1)):
            full[0][cont], full[1][cont] = part
    return {
        "kind": np.where(binary, "binary", "continuous"),
        "mean_treated_before": mt0,
        "mean_control_before": mc0,
        "smd_before": smd0,
        "var_ratio_before": np.where(binary, np.nan, vr0),
        "ecdf_mean_before": e0[0],
        "ecdf_max_before": e0[1],
        "mean_treated_after": mt1,
        "mean_control_after": mc1,
        "smd_after": smd1,
        "var_ratio_after": np.where(binary, np.nan, vr1),
        "ecdf_mean_after": e1[0],
        "ecdf_max_after": e1[1],
    }


def _weights(result: MatchResult) -> np.ndarray:
    """Matching weight of every unit offered to the matcher (0 when unmatched), in ``scores`` order."""
    return result.matched["weights"].reindex(result.scores.index).fillna(0.0).to_numpy(dtype=float)


def balance_table(
    frame: pd.DataFrame, result: MatchResult, covariates: Sequence[str], sd: str = "treated"
) -> pd.DataFrame:
    """Means, SMDs, variance ratios and eCDF statistics of each covariate (level) before and after matching.

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
    stats = _statistics(
        x_all.to_numpy(dtype=float), result.scores["treat"].to_numpy() == 1, _weights(result), sd
    )
    table = pd.DataFrame({"variable": x_all.columns, **stats})
    table["verdict_before"] = table["smd_before"].map(verdict)
    table["verdict_after"] = table["smd_after"].map(verdict)
    table["smd_convention"] = sd
    table.attrs["smd_convention"] = SD_CONVENTIONS[sd]
    return table


def propensity_balance(result: MatchResult, sd: str = "treated") -> pd.DataFrame:
    """Balance of the matched distance (e.g. the logit propensity score) itself, as cobalt's ``distance`` row.

    Why: the score summarises every covariate; a large remaining SMD on it (Rubin 2001: above 0.25, or a
    variance ratio outside 0.5-2) says the groups still differ in their chance of treatment.
    """
    s = result.scores
    stats = _statistics(
        s[["distance"]].to_numpy(dtype=float), s["treat"].to_numpy() == 1, _weights(result), sd
    )
    name = f"{result.settings.get('distance', 'distance')} propensity score"
    return pd.DataFrame({"variable": [name], **stats}).assign(smd_convention=sd)


def effective_sample_sizes(result: MatchResult) -> dict[str, float]:
    """Treated and control group sizes before matching, and Kish's effective sizes after (cobalt, MatchIt).

    Why: weights that reuse a few controls many times leave fewer effective controls than people used; the
    matched estimate's precision rests on the effective number, (sum w)^2 / sum w^2.
    """
    s, m = result.scores, result.matched
    out = {"treated_before": float((s["treat"] == 1).sum()), "control_before": float((s["treat"] == 0).sum())}
    for group, value in (("treated", 1), ("control", 0)):
        w = m.loc[m["treat"] == value, "weights"].to_numpy(dtype=float)
        out[f"{group}_after"] = float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0
    return out


def assess_balance(
    frame: pd.DataFrame, result: MatchResult, covariates: Sequence[str], sd: str = "treated"
) -> BalanceResult:
    """Balance table, the overall verdict (worst variable) before and after matching, the effective sample
    sizes and the propensity score's own balance."""
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
        effective_sample_size=MappingProxyType(effective_sample_sizes(result)),
        propensity=propensity_balance(result, sd),
    )
