"""The frozen result of a matching run, and how weights and matched sets are built from pairs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class MatchResult:
    """What a matcher produced, with the settings that made it and its attrition.

    Attributes
    ----------
    matched : DataFrame
        The matched sample in MatchIt's ``match_data`` layout: one row per matched unit (treated
        and controls used), the input columns plus ``treat`` (0/1), ``weights`` (treated 1;
        control weights summed over the sets a control belongs to, then scaled to sum to the number
        of controls used, as MatchIt does), ``subclass`` (matched set; see below), ``propensity``
        and ``distance``. Index: the input frame's index.
    pairs : DataFrame
        One row per treated–control link: ``treated``, ``control`` (input index labels),
        ``subclass``, ``pair_weight`` (1 / number of controls of that treated unit) and
        ``pair_distance`` (absolute difference in the matched distance).
    scores : DataFrame
        Every unit offered to the matcher (after exclusions): ``treat``, ``propensity``,
        ``distance``, ``stratum``; used for before-matching balance and overlap plots.
    settings : Mapping
        The matcher's parameters and the absolute caliper width used.
    subclass_rule : str
        How ``subclass`` was formed. Sets that share a control (matching with replacement or
        radius matching) are merged into one subclass (connected components of the match graph),
        so clustering by ``subclass`` never splits correlated observations; without replacement
        a subclass is exactly one matched set, as in MatchIt.
    """

    method: str
    matched: pd.DataFrame
    pairs: pd.DataFrame
    scores: pd.DataFrame
    settings: Mapping[str, Any]
    n_treated: int
    n_treated_matched: int
    n_dropped_no_stratum_control: int
    n_dropped_caliper: int
    n_controls_pool: int
    n_controls_excluded_treated_person: int
    n_controls_used: int
    caliper_width: float | None
    subclass_rule: str = "connected components of the treated-control match graph"

    @property
    def n_dropped(self) -> int:
        """Treated units without any control (no control in their stratum, or none in the caliper)."""
        return self.n_dropped_no_stratum_control + self.n_dropped_caliper

    def attrition(self) -> pd.DataFrame:
        """Attrition of the treated group and use of the pool, as a small table for the report."""
        rows = [
            ("treated offered", self.n_treated),
            ("dropped: no candidate control in exact stratum", self.n_dropped_no_stratum_control),
            ("dropped: no control within the caliper (common support)", self.n_dropped_caliper),
            ("treated matched", self.n_treated_matched),
            ("candidate controls", self.n_controls_pool),
            ("pool rows excluded: person is in the treated group", self.n_controls_excluded_treated_person),
            ("controls used", self.n_controls_used),
        ]
        return pd.DataFrame(rows, columns=["stage", "count"])


def build_result(
    *,
    method: str,
    frame: pd.DataFrame,
    treat: np.ndarray,
    propensity: np.ndarray,
    distance: np.ndarray,
    strata: np.ndarray,
    pairs_pos: pd.DataFrame,
    settings: Mapping[str, Any],
    caliper_width: float | None,
    n_excluded: int,
) -> MatchResult:
    """Assemble a :class:`MatchResult` from matched pairs given as row positions of ``frame``.

    ``pairs_pos`` has columns ``t`` and ``c`` (row positions). Weights follow MatchIt's
    ``get_weights_from_mm``: each treated unit's controls share a weight of 1, a control's weight
    is the sum over its sets, and control weights are scaled to sum to the number of controls used.
    """
    n = len(frame)
    t_pos = pairs_pos["t"].to_numpy(dtype=np.int64)
    c_pos = pairs_pos["c"].to_numpy(dtype=np.int64)
    k_per_t = np.bincount(t_pos, minlength=n)
    pair_w = 1.0 / k_per_t[t_pos] if len(t_pos) else np.empty(0)

    weights = np.bincount(c_pos, weights=pair_w, minlength=n).astype(float)
    used_c = weights > 0
    if used_c.any():
        weights[used_c] *= used_c.sum() / weights[used_c].sum()
    matched_t = k_per_t > 0
    weights[matched_t] = 1.0

    # matched sets: connected components over the treated-control graph
    graph = coo_matrix((np.ones(len(t_pos)), (t_pos, c_pos)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    in_sample = matched_t | used_c
    first_treated = pd.Series(np.arange(n)[matched_t]).groupby(comp[matched_t]).min()
    rank = first_treated.rank(method="first").astype(np.int64)
    subclass = np.zeros(n, dtype=np.int64)
    subclass[in_sample] = rank.reindex(comp[in_sample]).to_numpy()

    idx = frame.index
    matched = frame.iloc[np.flatnonzero(in_sample)].copy()
    matched["treat"] = treat[in_sample].astype(np.int64)
    matched["weights"] = weights[in_sample]
    matched["subclass"] = subclass[in_sample]
    matched["propensity"] = propensity[in_sample]
    matched["distance"] = distance[in_sample]

    pairs = pd.DataFrame(
        {
            "treated": idx[t_pos],
            "control": idx[c_pos],
            "subclass": subclass[t_pos],
            "pair_weight": pair_w,
            "pair_distance": np.abs(distance[t_pos] - distance[c_pos]),
        }
    )
    scores = pd.DataFrame(
        {"treat": treat.astype(np.int64), "propensity": propensity, "distance": distance, "stratum": strata},
        index=idx,
    )
    t_strata = set(np.unique(strata[treat]))
    c_strata = set(np.unique(strata[~treat]))
    no_stratum = np.isin(strata, list(t_strata - c_strata)) & treat
    n_no_stratum = int(no_stratum.sum())
    n_treated = int(treat.sum())
    n_matched = int(matched_t.sum())
    return MatchResult(
        method=method,
        matched=matched,
        pairs=pairs,
        scores=scores,
        settings=MappingProxyType(dict(settings)),
        n_treated=n_treated,
        n_treated_matched=n_matched,
        n_dropped_no_stratum_control=n_no_stratum,
        n_dropped_caliper=n_treated - n_matched - n_no_stratum,
        n_controls_pool=int((~treat).sum()),
        n_controls_excluded_treated_person=n_excluded,
        n_controls_used=int(used_c.sum()),
        caliper_width=caliper_width,
    )


def build_weighted_result(
    *,
    method: str,
    frame: pd.DataFrame,
    treat: np.ndarray,
    propensity: np.ndarray,
    distance: np.ndarray,
    weights: np.ndarray,
    subclass: np.ndarray,
    settings: Mapping[str, Any],
    n_excluded: int,
) -> MatchResult:
    """Assemble a :class:`MatchResult` for a design that weights rather than pairs (no ``pairs`` rows).

    ``weights`` are MatchIt's: treated 1 (0 when dropped for lack of overlap), controls scaled to sum to
    the number of controls kept; units of weight 0 leave the matched sample. ``subclass`` is the
    design's stratum of each unit (subclassification) or its own row (weighting: no sets). Treated
    units given weight 0 are counted as dropped for lack of common support.
    """
    w = np.asarray(weights, dtype=float).copy()
    kept = w > 0
    kept_c = kept & ~treat
    if kept_c.any():
        w[kept_c] *= kept_c.sum() / w[kept_c].sum()
    idx = frame.index
    matched = frame.iloc[np.flatnonzero(kept)].copy()
    matched["treat"] = treat[kept].astype(np.int64)
    matched["weights"] = w[kept]
    matched["subclass"] = np.asarray(subclass)[kept]
    matched["propensity"] = propensity[kept]
    matched["distance"] = distance[kept]
    pairs = pd.DataFrame(
        {
            "treated": idx[:0],
            "control": idx[:0],
            "subclass": np.empty(0, np.int64),
            "pair_weight": np.empty(0),
            "pair_distance": np.empty(0),
        }
    )
    scores = pd.DataFrame(
        {
            "treat": treat.astype(np.int64),
            "propensity": propensity,
            "distance": distance,
            "stratum": np.asarray(subclass),
        },
        index=idx,
    )
    n_treated = int(treat.sum())
    n_kept_t = int((kept & treat).sum())
    return MatchResult(
        method=method,
        matched=matched,
        pairs=pairs,
        scores=scores,
        settings=MappingProxyType(dict(settings)),
        n_treated=n_treated,
        n_treated_matched=n_kept_t,
        n_dropped_no_stratum_control=0,
        n_dropped_caliper=n_treated - n_kept_t,
        n_controls_pool=int((~treat).sum()),
        n_controls_excluded_treated_person=n_excluded,
        n_controls_used=int(kept_c.sum()),
        caliper_width=None,
        subclass_rule="propensity-score subclasses" if method == "subclass" else "none: weighting design",
    )
